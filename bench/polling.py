"""Polling cost and detection latency, computed from the real ASL file's Retry settings.

Every wait state of carveout polls through a Task Retry on CarveOut.NotReady: each poll is
one Lambda invocation and one state transition (retries are billed as transitions). The
common alternative is a Task + Choice + Wait loop with a fixed wait: three transitions
per poll.

For a resource that becomes ready `R` after the wait starts, a poll at time t sees it when
t >= R. Delays follow Step Functions' rule: delay_n = min(IntervalSeconds * BackoffRate^(n-1),
MaxDelaySeconds), with JitterStrategy FULL a uniform random value in [0, delay_n]. Each
poll itself takes `poll_seconds` (the step's measured duration). Latency = detecting poll
time - R. The ready time is sampled around R (+-5 %) so fixed loops are not flattered by
an aligned phase; mean and worst case over --samples samples.

`--sweep` searches Retry settings for the tuning rule of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
READY_MINUTES = [1, 5, 15, 60, 240]
# List prices (us-east-1, checked 2026-11): Step Functions Standard per state transition,
# Lambda arm64 per GB-second and per request.
PRICE_TRANSITION = 0.025 / 1000
PRICE_GB_SECOND_ARM = 0.0000133334
PRICE_REQUEST = 0.20 / 1_000_000
MEMORY_GB = 128 / 1024


CHILD_TASK = "arn:aws:states:::states:startExecution.sync:2"


def child_definition(placeholder: str) -> dict:
    """A child execution's definition by its placeholder (`${ImageStateMachineArn}` ->
    statemachine/image.asl.json)."""
    name = placeholder.removeprefix("${").removesuffix("StateMachineArn}").lower()
    return json.loads((ROOT / "statemachine" / f"{name}.asl.json").read_text())


def wait_states(asl: dict) -> dict[str, dict]:
    """Every state polling through Retry, the child executions' included."""
    found = {}

    def walk(states):
        for name, state in states.items():
            # A polling state's first Retry is its poll loop; other Tasks retry throttling
            # (also CarveOut.NotReady) after their Lambda rule.
            for r in state.get("Retry", [])[:1]:
                # A poll loop has no jitter; a first retrier on NotReady with jitter is
                # throttling (Rollback's).
                if r.get("ErrorEquals") == ["CarveOut.NotReady"] and r.get("JitterStrategy") != "FULL":
                    found[name] = {
                        "IntervalSeconds": r.get("IntervalSeconds", 1),
                        "BackoffRate": r.get("BackoffRate", 2.0),
                        "MaxDelaySeconds": r.get("MaxDelaySeconds"),
                        "MaxAttempts": r.get("MaxAttempts", 3),
                        "JitterStrategy": r.get("JitterStrategy", "NONE"),
                    }
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])
            if state.get("Resource") == CHILD_TASK:
                walk(child_definition(state["Parameters"]["StateMachineArn"])["States"])

    walk(asl["States"])
    return found


def delays(retry: dict):
    n, d = 0, float(retry["IntervalSeconds"])
    cap = retry["MaxDelaySeconds"]
    while n < retry["MaxAttempts"]:
        yield d if cap is None else min(d, cap)
        if cap is None or d < cap:
            d *= retry["BackoffRate"]
        n += 1


def budget_seconds(retry: dict) -> float:
    """Longest the state keeps polling before it gives up (no jitter)."""
    return sum(delays(retry))


def simulate_retry(retry: dict, ready: float, poll_seconds: float, rng: random.Random) -> tuple[int, float] | None:
    t, polls = 0.0, 0
    schedule = delays(retry)
    while True:
        t += poll_seconds
        polls += 1
        if t >= ready:
            return polls, t - ready
        try:
            d = next(schedule)
        except StopIteration:
            return None  # MaxAttempts exhausted: the stage fails
        t += rng.uniform(0, d) if retry["JitterStrategy"] == "FULL" else d


def simulate_loop(period: float, ready: float, poll_seconds: float) -> tuple[int, float]:
    t, polls = 0.0, 0
    while True:
        t += poll_seconds
        polls += 1
        if t >= ready:
            return polls, t - ready
        t += period


def stats(samples):
    polls = [p for p, _ in samples]
    lat = [latency for _, latency in samples]
    return {"polls_mean": sum(polls) / len(polls), "polls_max": max(polls),
            "latency_mean": sum(lat) / len(lat), "latency_max": max(lat)}


def evaluate(scheme, minutes: float, poll_seconds: float, samples: int, seed: int = 7) -> dict | None:
    rng = random.Random(seed)
    out, gave_up = [], 0
    for _ in range(samples):
        ready = minutes * 60 * rng.uniform(0.95, 1.05)
        r = scheme(ready, rng)
        if r is None:
            gave_up += 1
        else:
            out.append(r)
    if gave_up:
        return None if not out else {**stats(out), "gave_up": gave_up / samples}
    return stats(out)


def table(asl_path: pathlib.Path, poll_seconds: float, samples: int) -> dict:
    asl = json.loads(asl_path.read_text())
    states = wait_states(asl)
    result = {"poll_seconds": poll_seconds, "samples": samples, "states": {}, "loops": {}}
    for name, retry in states.items():
        rows = {}
        for m in READY_MINUTES:
            rows[m] = evaluate(lambda ready, rng: simulate_retry(retry, ready, poll_seconds, rng), m, poll_seconds, samples)
        result["states"][name] = {"retry": retry, "budget_minutes": budget_seconds(retry) / 60, "rows": rows}
    for period in (15, 30):
        result["loops"][period] = {m: evaluate(lambda ready, rng: simulate_loop(period, ready, poll_seconds), m,
                                              poll_seconds, samples) for m in READY_MINUTES}
    return result


def meets_rule(row: dict | None, minutes: float) -> bool:
    return row is not None and not row.get("gave_up") and row["latency_max"] <= min(0.10 * minutes * 60, 60.0)


def sweep(poll_seconds: float, samples: int) -> list[dict]:
    """Settings meeting the rule at every ready time, fewest polls over all of them first."""
    found = []
    for interval in (1, 2, 3, 5):
        for backoff in (1.03, 1.05, 1.07, 1.1, 1.15, 1.2, 1.3, 1.5, 2.0):
            for max_delay in (30, 45, 55, 60):
                for jitter in ("NONE", "FULL"):
                    retry = {"IntervalSeconds": interval, "BackoffRate": backoff, "MaxDelaySeconds": max_delay,
                             "MaxAttempts": 100_000, "JitterStrategy": jitter}
                    rows = {m: evaluate(lambda ready, rng: simulate_retry(retry, ready, poll_seconds, rng), m,
                                        poll_seconds, samples) for m in READY_MINUTES}
                    if all(meets_rule(rows[m], m) for m in READY_MINUTES):
                        total = sum(rows[m]["polls_mean"] for m in READY_MINUTES)
                        found.append({"retry": retry, "total_polls": total, "rows": rows})
    return sorted(found, key=lambda f: f["total_polls"])


def attempts_for(retry: dict, minutes: float) -> int:
    """MaxAttempts that keeps polling for `minutes` without jitter (the stage deadline)."""
    t, n = 0.0, 0
    for d in delays({**retry, "MaxAttempts": 10_000_000}):
        if t >= minutes * 60:
            return n
        t += d
        n += 1
    return n


def markdown(res: dict) -> str:
    lines = [f"Polls are Lambda invocations; transitions: 1 per poll (Retry), 3 per poll (Task+Choice+Wait). "
             f"Each poll takes {res['poll_seconds']:.2f} s. Ready time sampled within +-5 % of the wait; "
             f"{res['samples']} samples.", ""]
    lines.append("| state | Retry (interval, backoff, max delay, jitter) | gives up after | ready after | polls (mean) | "
                 "transitions | latency mean | latency worst | worst / wait |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in res["states"].items():
        r = s["retry"]
        desc = f"{r['IntervalSeconds']} s, x{r['BackoffRate']}, {r['MaxDelaySeconds']} s, {r['JitterStrategy']}"
        for m, row in s["rows"].items():
            if row is None:
                lines.append(f"| {name} | {desc} | {s['budget_minutes']:.0f} min | {m} min | gives up | | | | |")
                continue
            if row.get("gave_up"):
                desc += f" (gives up in {100 * row['gave_up']:.0f} % of samples; the rest:)"
            lines.append(f"| {name} | {desc} | {s['budget_minutes']:.0f} min | {m} min | {row['polls_mean']:.1f} | "
                         f"{row['polls_mean']:.1f} | {row['latency_mean']:.1f} s | {row['latency_max']:.1f} s | "
                         f"{100 * row['latency_max'] / (int(m) * 60):.1f} % |")
            name, desc = "", ""
    for period, rows in res["loops"].items():
        desc = f"fixed {period} s Wait + Choice loop"
        for m, row in rows.items():
            lines.append(f"| {desc} | | | {m} min | {row['polls_mean']:.1f} | {3 * row['polls_mean']:.1f} | "
                         f"{row['latency_mean']:.1f} s | {row['latency_max']:.1f} s | "
                         f"{100 * row['latency_max'] / (int(m) * 60):.1f} % |")
            desc = ""
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asl", default=str(ROOT / "statemachine/carveout.asl.json"))
    ap.add_argument("--poll-seconds", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.sweep:
        best = sweep(args.poll_seconds, max(50, args.samples // 4))
        for b in best[:8]:
            r = b["retry"]
            worst = {m: round(b["rows"][m]["latency_max"], 1) for m in READY_MINUTES}
            print(f"{r['IntervalSeconds']} s x{r['BackoffRate']} max {r['MaxDelaySeconds']} {r['JitterStrategy']:<4} "
                  f"polls {b['total_polls']:.0f}  worst latency {worst}")
        return 0 if best else 1
    res = table(pathlib.Path(args.asl), args.poll_seconds, args.samples)
    text = markdown(res)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(res, indent=1))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
