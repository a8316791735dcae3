"""Scale: a service with 1, 5 and 20 instances (the plan's maximum) migrated on the emulator
by the real state machine (`carveout local`, release Lambda binary; each instance's image
and launch work in child executions with their own history), with the
emulator's EC2 throttling at AWS's published token buckets (scale 1.0) and at a tenth of them (0.1: an account whose
other workloads already use 90 % of every bucket). Reports wall time, state transitions,
polls, and the throttling errors the run absorbed (and still succeeded), and checks the
end state with independent describes (carveout_emulator.verify).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "emulator"))

from carveout_emulator import seed as seeding  # noqa: E402
from carveout_emulator import verify  # noqa: E402

PHASES = {"imagePendingPolls": 4, "peeringAcceptNotFound": 1, "peeringProvisioningPolls": 2,
          "shareAssociatingPolls": 1, "instancePendingPolls": 2, "targetInitialPolls": 3}


def post(endpoint: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(endpoint + path, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
    return json.loads(raw) if raw.strip().startswith(b"{") else {}


def run(endpoint: str, cli: str, bin_dir: str, instances: int, scale: float, work: pathlib.Path) -> dict:
    post(endpoint, "/moto-api/reset")
    post(endpoint, "/_carveout/config", PHASES)
    # The target account's Standard vCPU quota raised for the new t3.small (2 vCPUs each).
    plan = seeding.seed(endpoint, instances_per_service=instances, migration_id=f"scale-{instances}",
                        vcpu_quota=2 * instances + 5)
    # Throttling starts with the migration (the seed is not part of it).
    post(endpoint, "/_carveout/config", {"throttling": {"scale": scale}})
    plan_file, events_file = work / f"plan-{instances}.json", work / f"events-{instances}-{scale}.jsonl"
    plan_file.write_text(json.dumps(plan))
    start = time.perf_counter()
    proc = subprocess.run([cli, "local", "--plan", str(plan_file), "--endpoint", endpoint, "--bin-dir", bin_dir,
                           "--events", str(events_file)], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    control = post(endpoint, "/_carveout/config", {})
    post(endpoint, "/_carveout/config", {"throttling": None})
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    result = events[-1] if events else {}
    transitions = sum(1 for e in events if e.get("event") == "StateEntered")
    tasks = sum(1 for e in events if e.get("event") == "StateEntered" and e.get("type") == "Task")
    entered = sorted({e["state"] for e in events if e.get("event") == "StateEntered" and e.get("state")})
    # History events per execution, as the service counts them: the migration's own and its
    # children's (each instance's image and launch work runs in its own execution).
    children = [e.get("historyEvents", 0) for e in events if e.get("event") in ("ChildSucceeded", "ChildFailed")]
    polls = sum(1 for e in events if e.get("event") == "TaskError" and e.get("error") == "CarveOut.NotReady")
    checks = verify.check(endpoint, plan) if proc.returncode == 0 else []
    return {
        "instances": instances,
        "throttling_scale": scale,
        "status": result.get("status", f"exit {proc.returncode}"),
        "wall_seconds": wall,
        "transitions": transitions,
        "tasks": tasks,
        "polls": polls,
        "entered": entered,
        "history_events": {"migration": result.get("historyEvents"), "child_most": max(children, default=0),
                           "children": len(children)},
        "throttled": control["throttling"]["throttled"],
        "throttled_total": sum(control["throttling"]["throttled"].values()),
        "end_state_checks": f"{sum(ok for _, ok, _ in checks)}/{len(checks)}",
        "stderr_tail": proc.stderr[-600:] if proc.returncode else "",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--instances", default="1,5,20")
    ap.add_argument("--scales", default="1.0,0.1")
    ap.add_argument("--work", default=str(ROOT / ".emulator"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        for n in (int(i) for i in args.instances.split(",")):
            row = run(args.endpoint, args.cli, args.bin_dir, n, scale, work)
            rows.append(row)
            print(f"scale: {n:>2} instances, buckets x{scale}: {row['status']} in {row['wall_seconds']:.1f} s, "
                  f"{row['transitions']} transitions, {row['polls']} polls, {row['throttled_total']} throttled "
                  f"{row['throttled']}, end state {row['end_state_checks']}", file=sys.stderr)
    pathlib.Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["status"] == "SUCCEEDED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
