"""The image wait, side by side: Retry polling (the design before issue 15) against
predicted looks (now), for images ready after 1 to 480 minutes.

- Retry polling: the image wait's Retry on CarveOut.NotReady as it was (2 s, x1.05, at most
  60 s, no jitter, 291 attempts: about 4 hours), simulated by polling.py: one transition
  and one Lambda invocation per poll.
- Predicted looks: `functions/examples/look_model.rs` runs the real decision
  (`carveout::looks::next`) against a model of snapshot progress (see that file): 3
  transitions per look (Task, Choice, Wait; the last look no Wait), one invocation per
  look, billed for its reads and its watch.

Both are priced at the list prices of polling.py. Writes bench/results/looks.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import polling  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The issue's waits (1, 5, 20, 60, 240, 480 minutes) and those between, where the looks'
# approach to the end costs most relative to the Retry poll (5x is the goal from 5 to 240).
WAITS = [1, 5, 10, 20, 30, 45, 60, 75, 90, 120, 240, 480]
# WaitImageAvailable's poll before predicted looks (statemachine/carveout.asl.json at 7603653).
RETRY_BEFORE = {"IntervalSeconds": 2, "BackoffRate": 1.05, "MaxDelaySeconds": 60, "MaxAttempts": 291,
                "JitterStrategy": "NONE"}


def example(name: str, *args: str) -> str:
    """A Rust example's output (a debug build: it only runs pure decisions)."""
    env = {**os.environ, "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR",
                                                            str(pathlib.Path.home() / ".cache/carveout/target"))}
    proc = subprocess.run(["cargo", "run", "-q", "-j2", "-p", "carveout", "--example", name, "--", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return proc.stdout


def model(samples: int) -> dict:
    """`functions/examples/look_model.rs`: the real decision on the progress model."""
    return json.loads(example("look_model", str(samples), *map(str, WAITS)))


def history() -> list[dict]:
    """`functions/examples/history_bound.rs`: the worst-case events per execution of the
    largest migration the plan allows, at 1, 5 and 20 instances (the bound Preflight
    enforces), and the same states in one history (as before child executions)."""
    return [json.loads(line) for line in example("history_bound").splitlines() if line.strip()]


def history_markdown(rows: list[dict]) -> str:
    lines = ["The largest migration the plan allows: 8-hour images (16-hour deadlines), re-encrypted copies, "
             "stop-source, the RAM share, the volume gate, 9 shift steps held an hour each; every Task using every "
             "attempt its retriers allow, every predicted poll every look, then Rollback "
             "(`carveout::workflow::history_events`, the bound Preflight enforces; "
             "`functions/examples/history_bound.rs`). Step Functions keeps at most 25,000 events per execution.", "",
             "| instances | before: one history (children's states inline) | now: the migration's execution | "
             "now: the largest child execution |", "|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['instances']} | {r['inline']:,} | {r['most']:,} | {r['childMost']:,} |")
    return "\n".join(lines) + "\n"


def cost(transitions: float, invocations: float, lambda_seconds: float) -> float:
    return (transitions * polling.PRICE_TRANSITION + invocations * polling.PRICE_REQUEST
            + lambda_seconds * polling.MEMORY_GB * polling.PRICE_GB_SECOND_ARM)


def compare(samples: int, poll_seconds: float) -> dict:
    looks = model(samples)
    rows = {}
    for m in WAITS:
        before = polling.evaluate(lambda ready, rng: polling.simulate_retry(RETRY_BEFORE, ready, poll_seconds, rng),
                                  m, poll_seconds, samples)
        now = looks[str(m)]
        row = {"now": {**now, "usd": cost(now["transitions"], now["invocations"], now["lambdaSeconds"])}}
        if before is not None and not before.get("gave_up"):
            polls = before["polls_mean"]
            row["before"] = {"transitions": polls, "invocations": polls, "lambdaSeconds": polls * poll_seconds,
                             "latencyMean": before["latency_mean"], "latencyWorst": before["latency_max"],
                             "usd": cost(polls, polls, polls * poll_seconds)}
        else:
            row["before"] = {"gaveUp": (before or {}).get("gave_up", 1.0)}
        rows[m] = row
    return {"samples": samples, "pollSeconds": poll_seconds, "rows": rows, "history": history()}


def markdown(res: dict) -> str:
    lines = [f"Per image wait; {res['samples']} samples, ready time within +-5 % of the wait. Before: the Retry poll "
             "of WaitImageAvailable before issue 15 (2 s, x1.05, 60 s, 291 attempts). Now: predicted looks "
             "(`looks.rs`) on the progress model of `functions/examples/look_model.rs`.", "",
             "| ready after | design | transitions | invocations | Lambda s | $ per wait | latency mean | "
             "latency worst | transitions before / now |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, row in res["rows"].items():
        now, before = row["now"], row["before"]
        if "gaveUp" in before:
            lines.append(f"| {m} min | Retry polling | gives up in {100 * before['gaveUp']:.0f} % of samples "
                         "(deadline about 4 hours) | | | | | | |")
            ratio = ""
        else:
            lines.append(f"| {m} min | Retry polling | {before['transitions']:.1f} | {before['invocations']:.1f} | "
                         f"{before['lambdaSeconds']:.1f} | {before['usd']:.6f} | {before['latencyMean']:.1f} s | "
                         f"{before['latencyWorst']:.1f} s | |")
            ratio = f"**{before['transitions'] / now['transitions']:.1f}x**"
        lines.append(f"| | predicted looks | {now['transitions']:.1f} | {now['invocations']:.1f} | "
                     f"{now['lambdaSeconds']:.1f} | {now['usd']:.6f} | {now['latencyMean']:.1f} s | "
                     f"{now['latencyWorst']:.1f} s | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--poll-seconds", type=float, default=0.05)
    ap.add_argument("--out")
    args = ap.parse_args()
    random.seed(7)
    res = compare(args.samples, args.poll_seconds)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(res, indent=1))
    sys.stdout.write(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
