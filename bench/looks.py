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
WAITS = [1, 5, 20, 60, 240, 480]
# WaitImageAvailable's poll before predicted looks (statemachine/carveout.asl.json at 7603653).
RETRY_BEFORE = {"IntervalSeconds": 2, "BackoffRate": 1.05, "MaxDelaySeconds": 60, "MaxAttempts": 291,
                "JitterStrategy": "NONE"}


def model(samples: int) -> dict:
    """The Rust model's answer (a debug build of the example: it only runs the decision)."""
    env = {**os.environ, "CARGO_TARGET_DIR": os.environ.get("CARGO_TARGET_DIR",
                                                            str(pathlib.Path.home() / ".cache/carveout/target"))}
    proc = subprocess.run(["cargo", "run", "-q", "-j2", "-p", "carveout", "--example", "look_model", "--", str(samples)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


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
    return {"samples": samples, "pollSeconds": poll_seconds, "rows": rows}


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
