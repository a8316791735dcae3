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

Since issue 15 every such wait is watched inside its invocation while young
(`idiom::watching`, `looks::watch_again`: reads every `looks::cadence(age)` seconds while
the wait is younger than WATCH_WHILE_YOUNGER_THAN, at most WATCH_BUDGET_SECONDS per
invocation), and the Retry polls only after that; `simulate_watched` models it with the
constants read from functions/src/looks.rs, and every wait is shown beside the Retry poll
it had before (BEFORE). Lambda seconds are counted too: a watch costs time, not
transitions.

`--sweep` searches the watch (how long, one invocation) and the Retry after it jointly for
the tuning rule of bench/README.md, checked at waits of 1 to 20 minutes closely spaced
around the hand-over (a Retry that starts too far apart breaks the rule for a wait just
past the watch).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import random
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
READY_MINUTES = [1, 3, 5, 15, 60, 240]
# The sweep's rule holds at each of these (dense where the watch hands over to the Retry);
# its cost is summed over SWEEP_COST_MINUTES (the typical waits of bench/report.py and 15).
SWEEP_RULE_MINUTES = [1, 1.5, 2, 2.5, 2.6, 3, 3.5, 4, 5, 7, 10, 15, 20]
SWEEP_COST_MINUTES = [1, 1.5, 5, 15]
# List prices (us-east-1, checked 2026-11): Step Functions Standard per state transition,
# Lambda arm64 per GB-second and per request.
PRICE_TRANSITION = 0.025 / 1000
PRICE_GB_SECOND_ARM = 0.0000133334
PRICE_REQUEST = 0.20 / 1_000_000
MEMORY_GB = 128 / 1024


CHILD_TASK = "arn:aws:states:::states:startExecution.sync:2"

# The Retry polls before issue 15 (2 s, x1.05, at most 60 s apart, no watch), per wait.
# AcceptPeering was two states then (the accept's poll, 29 attempts, and WaitPeeringActive's,
# 57); it accepts and waits in one now, compared with the longer of the two.
BEFORE = {name: {"IntervalSeconds": 2, "BackoffRate": 1.05, "MaxDelaySeconds": 60, "MaxAttempts": attempts,
                 "JitterStrategy": "NONE"}
          for name, attempts in {"AcceptPeering": 57, "WaitShareAssociated": 65,
                                 "WaitInstanceReady": 71, "WaitTargetsHealthy": 71, "WaitSourceStopped": 57}.items()}
# One read inside a watch (a Describe call from Lambda), seconds.
READ_SECONDS = 0.05


def rust_const(name: str) -> int:
    """A `pub const NAME: u64 = N;` of functions/src/looks.rs: the model uses the real values."""
    text = (ROOT / "functions/src/looks.rs").read_text()
    return int(re.search(rf"pub const {name}: u64 = (\d+);", text).group(1))


WATCH_YOUNGER = rust_const("WATCH_WHILE_YOUNGER_THAN")
WATCH_BUDGET = rust_const("WATCH_BUDGET_SECONDS")


def cadence(age: float) -> int:
    """looks::cadence: a twentieth of the age, 2 to 10 s."""
    return min(max(int(age) // 20, 2), 10)


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


def simulate_retry(retry: dict, ready: float, poll_seconds: float,
                   rng: random.Random) -> tuple[int, float, float] | None:
    """(polls, latency, Lambda seconds) of a Retry poll without a watch; None: gave up."""
    t, polls = 0.0, 0
    schedule = delays(retry)
    while True:
        t += poll_seconds
        polls += 1
        if t >= ready:
            return polls, t - ready, polls * poll_seconds
        try:
            d = next(schedule)
        except StopIteration:
            return None  # MaxAttempts exhausted: the stage fails
        t += rng.uniform(0, d) if retry["JitterStrategy"] == "FULL" else d


def simulate_watched(retry: dict, ready: float, poll_seconds: float, rng: random.Random,
                     younger: int = WATCH_YOUNGER, budget: int = WATCH_BUDGET) -> tuple[int, float, float] | None:
    """idiom::watching over the state's Retry: each invocation reads, and while the wait is
    younger than `younger` and its `budget` lasts, sleeps `cadence(age)` and reads again;
    then the Retry delay. (invocations, latency, Lambda seconds); None: gave up."""
    t, polls, lam = 0.0, 0, 0.0
    schedule = delays(retry)
    while True:
        polls += 1
        start, slept = t, 0
        t += poll_seconds
        while t < ready:
            every = cadence(t)
            watched = max(slept, int(t - start))
            if not (t < younger and watched + every <= budget):
                break
            t += every + READ_SECONDS
            slept += every
        lam += t - start
        if t >= ready:
            return polls, t - ready, lam
        try:
            d = next(schedule)
        except StopIteration:
            return None
        t += rng.uniform(0, d) if retry["JitterStrategy"] == "FULL" else d


def simulate_loop(period: float, ready: float, poll_seconds: float) -> tuple[int, float, float]:
    t, polls = 0.0, 0
    while True:
        t += poll_seconds
        polls += 1
        if t >= ready:
            return polls, t - ready, polls * poll_seconds
        t += period


def stats(samples):
    polls = [p for p, _, _ in samples]
    lat = [latency for _, latency, _ in samples]
    lam = [s for _, _, s in samples]
    return {"polls_mean": sum(polls) / len(polls), "polls_max": max(polls),
            "latency_mean": sum(lat) / len(lat), "latency_max": max(lat),
            "lambda_seconds_mean": sum(lam) / len(lam)}


def dollars(row: dict) -> float:
    """Transitions (one per invocation: the Task, then each Retry) and Lambda time."""
    return (row["polls_mean"] * PRICE_TRANSITION + row["lambda_seconds_mean"] * MEMORY_GB * PRICE_GB_SECOND_ARM
            + row["polls_mean"] * PRICE_REQUEST)


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
        before = BEFORE.get(name, retry)
        rows = {}
        for m in READY_MINUTES:
            rows[m] = {
                "before": evaluate(lambda ready, rng: simulate_retry(before, ready, poll_seconds, rng), m,
                                   poll_seconds, samples),
                "now": evaluate(lambda ready, rng: simulate_watched(retry, ready, poll_seconds, rng), m,
                                poll_seconds, samples),
            }
        result["states"][name] = {"retry": retry, "before": before, "budget_minutes": budget_seconds(retry) / 60,
                                  "rows": rows}
    for period in (15, 30):
        result["loops"][period] = {m: evaluate(lambda ready, rng: simulate_loop(period, ready, poll_seconds), m,
                                              poll_seconds, samples) for m in READY_MINUTES}
    return result


def meets_rule(row: dict | None, minutes: float) -> bool:
    return row is not None and not row.get("gave_up") and row["latency_max"] <= min(0.10 * minutes * 60, 60.0)


def sweep(poll_seconds: float, samples: int) -> list[dict]:
    """The watch (younger than, budget per invocation) and the Retry after it, searched
    jointly: the settings meeting the rule at every SWEEP_RULE_MINUTES, cheapest (in dollars
    summed over SWEEP_COST_MINUTES: transitions and Lambda time) first. Jitter is left out:
    the polls read independent resources, nothing to spread (and FULL never won)."""
    found = []
    for younger, budget in ((120, 120), (150, 60), (150, 150), (180, 180), (240, 240)):
        for interval in (5, 10, 12, 15, 20, 30):
            for backoff in (1.05, 1.07, 1.1, 1.15):
                for max_delay in (45, 60):
                    retry = {"IntervalSeconds": interval, "BackoffRate": backoff, "MaxDelaySeconds": max_delay,
                             "MaxAttempts": 100_000, "JitterStrategy": "NONE"}
                    rows = {}
                    for m in SWEEP_RULE_MINUTES:
                        rows[m] = evaluate(lambda ready, rng: simulate_watched(retry, ready, poll_seconds, rng,
                                                                               younger, budget),
                                           m, poll_seconds, samples)
                        if not meets_rule(rows[m], m):
                            break
                    else:
                        cost = sum(dollars(rows[m]) for m in SWEEP_COST_MINUTES)
                        found.append({"watch": (younger, budget), "retry": retry, "dollars": cost, "rows": rows})
    return sorted(found, key=lambda f: f["dollars"])


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
    lines = [f"Per wait, before issue 15 (a Retry poll from 2 s, x1.05, at most 60 s) and now (watched inside "
             f"the invocation while younger than {WATCH_YOUNGER} s, at most {WATCH_BUDGET} s per invocation, then "
             f"the state's Retry). Invocations = transitions (the Task, then one per Retry); Lambda seconds include "
             f"the watch (128 MB arm64). Each invocation takes {res['poll_seconds']:.2f} s, each read inside a "
             f"watch {READ_SECONDS} s. Ready time sampled within +-5 % of the wait; {res['samples']} samples. Waits "
             f"longer than a state's deadline are left out.", ""]
    lines.append("| state | Retry now (interval, backoff, max delay) | Retry gives up (after the watch) | ready after | design | "
                 "transitions | Lambda s | $ per wait | latency mean | latency worst | worst / wait | "
                 "transitions before / now |")
    lines.append("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in res["states"].items():
        r = s["retry"]
        desc = f"{r['IntervalSeconds']} s, x{r['BackoffRate']}, {r['MaxDelaySeconds']} s"
        budget = f"{s['budget_minutes']:.0f} min"
        for m, pair in s["rows"].items():
            if int(m) * 60 > s["budget_minutes"] * 60:
                continue  # past the state's deadline: it fails there, by design
            for design in ("before", "now"):
                row = pair[design]
                label = "Retry polling" if design == "before" else "watched, then Retry"
                if row is None or row.get("gave_up"):
                    share = 100 * (row or {"gave_up": 1})["gave_up"]
                    lines.append(f"| {name} | {desc} | {budget} | {m} min | {label} | gives up in {share:.0f} % "
                                 f"of samples | | | | | | |")
                else:
                    ratio = ""
                    b = pair["before"]
                    if design == "now" and b and not b.get("gave_up"):
                        ratio = f"**{b['polls_mean'] / row['polls_mean']:.1f}x**"
                    lines.append(f"| {name} | {desc} | {budget} | {m} min | {label} | {row['polls_mean']:.1f} | "
                                 f"{row['lambda_seconds_mean']:.1f} | {dollars(row):.6f} | "
                                 f"{row['latency_mean']:.1f} s | {row['latency_max']:.1f} s | "
                                 f"{100 * row['latency_max'] / (int(m) * 60):.1f} % | {ratio} |")
                name, desc, budget = "", "", ""
    for period, rows in res["loops"].items():
        desc = f"fixed {period} s Wait + Choice loop"
        for m, row in rows.items():
            lines.append(f"| {desc} | | | {m} min | 3 transitions per poll | {3 * row['polls_mean']:.1f} | | | "
                         f"{row['latency_mean']:.1f} s | {row['latency_max']:.1f} s | "
                         f"{100 * row['latency_max'] / (int(m) * 60):.1f} % | |")
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
            r, (younger, budget) = b["retry"], b["watch"]
            polls = {m: round(b["rows"][m]["polls_mean"], 1) for m in SWEEP_COST_MINUTES}
            worst = {m: round(b["rows"][m]["latency_max"], 1) for m in (2.6, 5, 15, 20)}
            print(f"watch <{younger} s, {budget} s/invocation; Retry {r['IntervalSeconds']} s x{r['BackoffRate']} "
                  f"max {r['MaxDelaySeconds']}: ${b['dollars']:.5f}  transitions {polls}  worst latency {worst}")
        return 0 if best else 1
    res = table(pathlib.Path(args.asl), args.poll_seconds, args.samples)
    text = markdown(res)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(res, indent=1))
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
