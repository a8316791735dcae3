"""Downtime of consistency stop-source: a 500 GiB database volume with 2 % of its blocks
changed between a pre-image and the stop, migrated on the emulator by the real state
machine (`carveout local`), without a pre-image (before issue 15) and with one (now).

The emulator times each snapshot by the MiB it copies (control.py `snapshotMiBPerSecond`,
`snapshotChangedPercent`): a volume's first snapshot copies all of it, a later one only
what changed since the previous one, as EBS does ("subsequent snapshots are incremental",
https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html). The rate is set
high (--emulator-mib-per-second) so a run takes seconds; the downtime measured there is
the Report's `downtimeSeconds` (from the maintenance answer to the cutover). The table also
gives the downtime at EBS-like rates: the measured downtime with its snapshot seconds
replaced by the same MiB at that rate (AWS publishes no snapshot rate; 10 MiB/s is what the
image deadline assumes, looks.rs). Writes bench/results/downtime.json.
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

from carveout_emulator import seed as seeding  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from scale import post  # noqa: E402  (the emulator's control calls, as the scale runs make them)

VOLUME_GIB = 500
CHANGED_PERCENT = 2
AWS_RATES_MIB_PER_SECOND = (10, 100)


def run(endpoint: str, cli: str, bin_dir: str, pre_image: bool, rate: float, work: pathlib.Path) -> dict:
    post(endpoint, "/moto-api/reset")
    post(endpoint, "/_carveout/config", {"snapshotMiBPerSecond": rate, "snapshotChangedPercent": CHANGED_PERCENT})
    plan = seeding.seed(endpoint, migration_id=f"downtime-{'pre' if pre_image else 'full'}",
                        consistency="stop-source", root_gib=VOLUME_GIB)
    plan["options"] = {**plan.get("options", {}), "preImage": pre_image}
    plan_file, events_file = work / f"downtime-{pre_image}.json", work / f"downtime-events-{pre_image}.jsonl"
    plan_file.write_text(json.dumps(plan))
    start = time.perf_counter()
    proc = subprocess.run([cli, "local", "--plan", str(plan_file), "--endpoint", endpoint, "--bin-dir", bin_dir,
                           "--events", str(events_file)], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    control = post(endpoint, "/_carveout/config", {})
    post(endpoint, "/_carveout/config", {"snapshotMiBPerSecond": 0})
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    result = events[-1] if events else {}
    output = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip().startswith("{") else {}
    # The snapshots of the image taken during the downtime (after the stop), by its name;
    # with a pre-image, the `-pre` one is taken while the service serves.
    copied = control.get("snapshotMiB", {})
    ec2 = seeding.session(endpoint, plan["source"]["accountId"]).client("ec2", endpoint_url=endpoint)
    during = 0.0
    for page in ec2.get_paginator("describe_images").paginate(Owners=["self"]):
        for image in page["Images"]:
            if image["Name"].startswith(f"carveout-{plan['migrationId']}-") and not image["Name"].endswith("-pre"):
                during += sum(copied.get(m["Ebs"]["SnapshotId"], 0.0) for m in image["BlockDeviceMappings"] if "Ebs" in m)
    mib = list(copied.values())
    return {
        "pre_image": pre_image,
        "status": result.get("status", f"exit {proc.returncode}"),
        "wall_seconds": wall,
        "downtime_seconds": output.get("downtimeSeconds"),
        "snapshot_mib": mib,
        "snapshot_mib_during_downtime": during,
        "snapshot_seconds_during_downtime": during / rate,
        "stderr_tail": proc.stderr[-600:] if proc.returncode else "",
    }


def at_rate(row: dict, mib_per_second: float) -> float | None:
    """The measured downtime with its snapshot seconds at `mib_per_second` instead."""
    if row["downtime_seconds"] is None:
        return None
    return (row["downtime_seconds"] - row["snapshot_seconds_during_downtime"]
            + row["snapshot_mib_during_downtime"] / mib_per_second)


def markdown(res: dict) -> str:
    lines = [f"One instance, a {VOLUME_GIB} GiB volume, {CHANGED_PERCENT} % of it changed between the pre-image "
             f"and the stop; the emulator copies {res['rate']:.0f} MiB/s. Downtime: the Report's "
             f"`downtimeSeconds` (maintenance answer to cutover). At an EBS-like rate: the same run with its "
             f"snapshot seconds at that rate (AWS publishes none; 10 MiB/s is what the image deadline assumes).", "",
             "| design | result | snapshot MiB during the downtime | downtime on the emulator | "
             + " | ".join(f"downtime at {r} MiB/s" for r in AWS_RATES_MIB_PER_SECOND) + " |",
             "|---|---|---:|---:|" + "---:|" * len(AWS_RATES_MIB_PER_SECOND)]
    for row in res["rows"]:
        label = "pre-image, then the image after the stop (now)" if row["pre_image"] else \
            "one image after the stop (before issue 15)"
        scaled = [at_rate(row, r) for r in AWS_RATES_MIB_PER_SECOND]
        down = row["downtime_seconds"]
        lines.append(f"| {label} | {row['status']} | {row['snapshot_mib_during_downtime']:,.0f} | "
                     + (f"{down:.1f} s" if down is not None else "none") + " | "
                     + " | ".join(f"{s / 60:,.1f} min" if s is not None else "" for s in scaled) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--bin-dir", required=True)
    # 500 GiB in 25 s: a run of about a minute.
    ap.add_argument("--emulator-mib-per-second", type=float, default=VOLUME_GIB * 1024 / 25)
    ap.add_argument("--work", default=str(ROOT / ".emulator"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = [run(args.endpoint, args.cli, args.bin_dir, pre, args.emulator_mib_per_second, work)
            for pre in (False, True)]
    res = {"rate": args.emulator_mib_per_second, "volume_gib": VOLUME_GIB, "changed_percent": CHANGED_PERCENT,
           "rows": rows}
    pathlib.Path(args.out).write_text(json.dumps(res, indent=1))
    sys.stdout.write(markdown(res))
    return 0 if all(r["status"] == "SUCCEEDED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
