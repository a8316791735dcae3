"""Programs at scale: 5 and 20 services out of the seed's shared account, each into its own
account, run by the real program state machine (`carveout program local`, release Lambda
binary; each service a child execution of the migration state machine) with the emulator's
EC2 throttling at AWS's published token buckets. Reports wall time, transitions, the most
migrations in flight at once overall and in the shared network account against the
program's caps, the throttling errors the run absorbed, the largest history, and checks
every service's end state with independent describes (carveout_emulator.verify).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "emulator"))
sys.path.insert(0, str(ROOT / "bench"))

from carveout_emulator import verify  # noqa: E402
from carveout_emulator.seed import NETWORK_ACCOUNT  # noqa: E402
from carveout_emulator.seed_program import seed_program  # noqa: E402
from carveout_emulator.testing import migrations_running_at_once  # noqa: E402
from scale import PHASES, post  # noqa: E402

# (services, maxConcurrency, the network account's cap): every service works in the
# network account (its ALB, its VPC) and the source account (the same here).
RUNS = [(5, 2, 2), (20, 4, 3)]


def run(endpoint: str, cli: str, bin_dir: str, services: int, concurrency: int, cap: int,
        work: pathlib.Path) -> dict:
    post(endpoint, "/moto-api/reset")
    post(endpoint, "/_carveout/config", PHASES)
    program = seed_program(endpoint, program_id=f"bench-{services}", services=services)
    program["maxConcurrency"] = concurrency
    program["accountConcurrency"] = {NETWORK_ACCOUNT: cap}
    path, events_file = work / f"program-{services}.json", work / f"program-events-{services}.jsonl"
    path.write_text(json.dumps(program))
    planned = subprocess.run([cli, "program", "plan", "--program", str(path), "--endpoint", endpoint, "--json"],
                             capture_output=True, text=True, timeout=600)
    plans = {s["name"]: s["plan"] for s in json.loads(planned.stdout)["services"]} if planned.returncode == 0 else {}
    # Throttling starts with the program (the seed is not part of it).
    post(endpoint, "/_carveout/config", {"throttling": {"scale": 1.0}})
    start = time.perf_counter()
    proc = subprocess.run([cli, "program", "local", "--program", str(path), "--endpoint", endpoint,
                           "--bin-dir", bin_dir, "--events", str(events_file)],
                          capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    control = post(endpoint, "/_carveout/config", {})
    post(endpoint, "/_carveout/config", {"throttling": None})
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    result = events[-1] if events else {}
    report = result.get("output") or {}
    children = [e.get("historyEvents", 0) for e in events if e.get("event") in ("ChildSucceeded", "ChildFailed")]
    checks = [c for plan in plans.values() for c in verify.check(endpoint, plan)]
    return {
        "services": services,
        "max_concurrency": concurrency,
        "network_account_cap": cap,
        "status": report.get("status", result.get("status", f"exit {proc.returncode}")),
        "summary": report.get("summary", ""),
        "wall_seconds": wall,
        "transitions": sum(1 for e in events if e.get("event") == "StateEntered"),
        "in_flight_most": migrations_running_at_once(events),
        "waves": sum(1 for e in events if e.get("event") == "StateEntered" and e.get("state") == "RunWave"
                     and not e.get("execution")),
        "history_events": {"program": result.get("historyEvents"), "child_most": max(children, default=0)},
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
    ap.add_argument("--work", default=str(ROOT / ".emulator"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for services, concurrency, cap in RUNS:
        row = run(args.endpoint, args.cli, args.bin_dir, services, concurrency, cap, work)
        rows.append(row)
        print(f"program: {services} services, {concurrency} at a time (network account {cap}): {row['status']} "
              f"in {row['wall_seconds']:.1f} s, {row['waves']} waves, at most {row['in_flight_most']} in flight, "
              f"{row['throttled_total']} throttled, end state {row['end_state_checks']}", file=sys.stderr)
    pathlib.Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["status"] == "SUCCEEDED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
