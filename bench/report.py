"""Assembles bench/results/results.md (and results.json) from the parts written by
coldstart.py, polling.py, scale.py and scripts/package_sizes.py, and computes the cost of
a whole migration from them."""

from __future__ import annotations

import json
import pathlib
import platform
import sys
from datetime import datetime, timezone

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import downtime  # noqa: E402
import looks  # noqa: E402
import polling  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# A typical migration's waits (minutes until ready), per stage; stated in the table.
TYPICAL_READY = {"AcceptPeering": 1, "WaitShareAssociated": 1,
                 "WaitImageAvailable": 20, "WaitInstanceReady": 5, "WaitTargetsHealthy": 1.5}
PER_INSTANCE = {"WaitImageAvailable", "WaitInstanceReady"}


def load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def ms(v: float) -> str:
    return f"{v:.1f} ms"


def coldstart_md(cs: dict) -> tuple[str, dict]:
    res = cs["results"]
    rust = {k: v for k, v in res.items() if v["language"] == "rust"}
    py = res["python:wait-image-available"]
    same = rust["wait-image-available"]
    lines = [f"{cs['runs_per_binary']} runs per function; x86_64 release build of carveout-lambda (the arm64 "
             "package is the same code); every answer is to the Task's real input against the emulator.", "",
             "| function | init median (p10-p90) | first answer median (p10-p90) | peak RSS | answer |",
             "|---|---:|---:|---:|---|"]
    for name, r in rust.items():
        lines.append(f"| {name} | {ms(r['init_ms']['median'])} ({r['init_ms']['p10']:.1f}-{r['init_ms']['p90']:.1f}) | "
                     f"{ms(r['first_ms']['median'])} ({r['first_ms']['p10']:.1f}-{r['first_ms']['p90']:.1f}) | "
                     f"{r['rss_mib']['median']:.1f} MiB | {', '.join(r['answers'])} |")
    lines.append(f"| **Python 3.11 + boto3: wait-image-available** | {ms(py['init_ms']['median'])} "
                 f"({py['init_ms']['p10']:.1f}-{py['init_ms']['p90']:.1f}) | {ms(py['first_ms']['median'])} "
                 f"({py['first_ms']['p10']:.1f}-{py['first_ms']['p90']:.1f}) | {py['rss_mib']['median']:.1f} MiB | "
                 f"{', '.join(py['answers'])} |")
    ratio = {"init": py["init_ms"]["median"] / same["init_ms"]["median"],
             "first": py["first_ms"]["median"] / same["first_ms"]["median"],
             "rss": py["rss_mib"]["median"] / same["rss_mib"]["median"]}
    lines += ["", f"Same step, Python / Rust: init **{ratio['init']:.1f}x**, first answer **{ratio['first']:.1f}x**, "
              f"memory **{ratio['rss']:.1f}x**."]
    return "\n".join(lines) + "\n", ratio


def cost_md(cs: dict | None, scale: list | None, poll_seconds: float, looked: dict | None = None) -> tuple[str, dict]:
    asl = json.loads((ROOT / "statemachine/carveout.asl.json").read_text())
    waits = polling.wait_states(asl)
    first = {r["state"]: r["first_ms"]["median"] / 1000 for r in (cs or {"results": {}})["results"].values()
             if r["language"] == "rust"}
    per_call = sum(first.values()) / max(1, len(first))
    out = {}
    lines = ["| | instances | transitions | Lambda invocations | Lambda GB-s | Step Functions $ | Lambda $ | total $ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in (1, 5, 20):
        run = next((r for r in scale or [] if r["instances"] == n and r["throttling_scale"] == 1.0), None)
        if run is None:
            continue
        # States entered, without the polls (the emulator's polls are replaced by the model's);
        # the waits this migration enters (the seed's plan: no RAM share, no stop-source).
        base_tr, tasks = run["transitions"], run.get("tasks", run["transitions"])
        entered = set(run.get("entered") or TYPICAL_READY)
        image = (looked or {}).get("rows", {}).get(str(TYPICAL_READY["WaitImageAvailable"]), {}).get("now")
        schemes = [("before", "carveout before issue 15 (Retry polling)"), (15, "fixed 15 s loop"),
                   (30, "fixed 30 s loop")]
        if image:
            schemes.insert(0, ("now", "carveout now (image: predicted looks; other waits: watched, then Retry)"))
        for scheme, label in schemes:
            polls = extra_transitions = extra_invocations = extra_seconds = 0.0
            every = dict(waits)
            if scheme == "now":
                # The image wait's looks: counted apart, per instance (its Task and its Choice
                # are among the states entered once already).
                extra_transitions = (image["transitions"] - 2) * n
                extra_invocations = (image["invocations"] - 1) * n
                extra_seconds = image["lambdaSeconds"] * n
            else:
                every["WaitImageAvailable"] = looks.RETRY_BEFORE
            for state, retry in every.items():
                if state not in TYPICAL_READY or state not in entered:
                    continue  # not part of this migration (RAM share, stop-source, kmsKeyId copies)
                if scheme == "now" and state == "WaitImageAvailable":
                    continue
                m = TYPICAL_READY[state]
                times = n if state in PER_INSTANCE else 1
                if scheme == "now":
                    sim = lambda ready, rng, r=retry: polling.simulate_watched(r, ready, poll_seconds, rng)  # noqa: E731
                elif scheme == "before":
                    r = polling.BEFORE.get(state, retry)
                    sim = lambda ready, rng, r=r: polling.simulate_retry(r, ready, poll_seconds, rng)  # noqa: E731
                else:
                    sim = lambda ready, rng: polling.simulate_loop(scheme, ready, poll_seconds)  # noqa: E731
                row = polling.evaluate(sim, m, poll_seconds, 200)
                polls += (row["polls_mean"] - 1) * times  # extra polls beyond the first
                # Lambda time beyond one plain invocation: the watch.
                extra_seconds += max(0.0, row["lambda_seconds_mean"] - row["polls_mean"] * poll_seconds) * times
            transitions = base_tr + polls * (1 if scheme in ("before", "now") else 3) + extra_transitions
            invocations = tasks + polls + extra_invocations
            gb_s = polling.MEMORY_GB * (per_call * (invocations - extra_invocations) + extra_seconds)
            sfn = transitions * polling.PRICE_TRANSITION
            lam = gb_s * polling.PRICE_GB_SECOND_ARM + invocations * polling.PRICE_REQUEST
            out[f"{n}:{scheme}"] = {"transitions": transitions, "invocations": invocations, "gb_s": gb_s,
                                    "sfn_usd": sfn, "lambda_usd": lam}
            lines.append(f"| {label} | {n} | {transitions:.0f} | {invocations:.0f} | {gb_s:.2f} | {sfn:.4f} | "
                         f"{lam:.6f} | {sfn + lam:.4f} |")
    note = (f"Typical waits assumed (minutes): {TYPICAL_READY}; image and instance waits once per instance; only "
            f"the waits the scale run entered are counted (the seed's plan: no RAM share, no stop-source). "
            f"States entered (without polls) are counted from the scale run on the emulator (published buckets); "
            f"polls come from the model of section 2a at these waits, the image's looks from section 2c "
            f"(their Lambda time: reads and watch). Lambda "
            f"duration per invocation: the mean measured first answer of the steps (cold, so an upper bound; "
            f"against AWS each call adds network time). Prices: Step Functions Standard $0.025 per 1,000 "
            f"transitions; Lambda arm64 $0.0000133334 per GB-s and $0.20 per million requests, 128 MB "
            f"(us-east-1 list prices, November 2026). The fixed loops pay 3 transitions per poll (Task, Choice, Wait).")
    return "\n".join(lines) + "\n\n" + note + "\n", out


def scale_md(rows: list) -> str:
    lines = ["States entered plus retries (each poll is a retry) are the billed transitions. Polls here come "
             "from the emulator's phases (images pending for 4 reads, instances for 2, …), not real durations.", "",
             "| instances | EC2 buckets | result | wall time | states entered | polls | billed transitions | "
             "history events: migration / largest child (children) | throttling errors absorbed | end state checks |",
             "|---:|---|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        label = "published" if r["throttling_scale"] == 1.0 else f"x{r['throttling_scale']} (busy account)"
        detail = ", ".join(f"{k} {v}" for k, v in sorted(r["throttled"].items())) or "none"
        h = r.get("history_events") or {}
        history = f"{h.get('migration')} / {h.get('child_most')} ({h.get('children')})" if h else "not recorded"
        lines.append(f"| {r['instances']} | {label} | {r['status']} | {r['wall_seconds']:.1f} s | {r['transitions']} | "
                     f"{r['polls']} | {r['transitions'] + r['polls']} | {history} | {r['throttled_total']} ({detail}) | "
                     f"{r['end_state_checks']} |")
    return "\n".join(lines) + "\n"


def program_md(rows: list) -> str:
    lines = ["Each service is a child execution of the migration state machine; the program runs them in "
             "waves within its caps. Every service works in the shared network account, so its cap bounds "
             "the migrations in flight. EC2 throttling at AWS's published buckets.", "",
             "| services | maxConcurrency / network account cap | result | wall time | waves | most in flight | "
             "states entered | history events: program / largest child | throttling errors absorbed | "
             "end state checks |",
             "|---:|---|---|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(r["throttled"].items())) or "none"
        h = r["history_events"]
        lines.append(f"| {r['services']} | {r['max_concurrency']} / {r['network_account_cap']} | {r['status']} "
                     f"({r['summary']}) | {r['wall_seconds']:.1f} s | {r['waves']} | {r['in_flight_most']} | "
                     f"{r['transitions']} | {h['program']} / {h['child_most']} | {r['throttled_total']} ({detail}) | "
                     f"{r['end_state_checks']} |")
    return "\n".join(lines) + "\n"


def sizes_md(sizes: dict) -> str:
    rows = sizes["functions"]
    unique = {r["zip_bytes"] for r in rows}
    one = rows[0]
    mib = lambda n: f"{n / 1048576:.2f} MiB"  # noqa: E731
    return (f"| artifact | zip | unpacked bootstrap |\n|---|---:|---:|\n"
            f"| carveout-lambda (arm64, every function's code) | {mib(one['zip_bytes'])} | {mib(one['bootstrap_bytes'])} |\n"
            f"| {len(rows)} functions deployed | {mib(sum(r['zip_bytes'] for r in rows))} in total "
            f"({len(unique)} distinct zip) | |\n")


def main() -> int:
    cs, poll, scale, sizes = load("coldstart.json"), load("polling.json"), load("scale.json"), None
    sizes_path = ROOT / "dist" / "lambda" / "sizes.json"
    if sizes_path.exists():
        sizes = json.loads(sizes_path.read_text())
    # `make bench` writes every part, then this report; a part rerun alone (`polling.py`,
    # `looks.py`, ...) keeps the others' times, so each is stated.
    measured = ", ".join(f"{name} {datetime.fromtimestamp((RESULTS / name).stat().st_mtime, timezone.utc):%Y-%m-%d %H:%M}"
                         for name in ("coldstart.json", "polling.json", "looks.json", "downtime.json", "scale.json",
                                      "programs.json")
                         if (RESULTS / name).exists())
    parts = [f"# carveout benchmark results\n\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on "
             f"{platform.machine()}, {platform.system()} ({__import__('os').cpu_count()} cores). Reproduce: `make bench`.\n"
             f"Parts measured (UTC): {measured}.\n"]
    summary: dict = {}
    if cs:
        text, ratio = coldstart_md(cs)
        parts.append("## 1. Cold start\n\n" + text)
        summary["coldstart_ratio_python_over_rust"] = ratio
    looked = load("looks.json")
    if poll:
        parts.append("## 2a. The Retry-polled waits: before and now (watched while young, then the ASL's Retry)\n\n"
                     + polling.markdown(poll))
        text, cost = cost_md(cs, scale, poll["poll_seconds"], looked)
        parts.append("## 2b. Cost of a whole migration\n\n" + text)
        summary["cost"] = cost
    if looked:
        parts.append("## 2c. The image wait: Retry polling before, predicted looks now\n\n" + looks.markdown(looked))
        if looked.get("history"):
            parts.append("## 2d. History events per execution, worst case\n\n" + looks.history_markdown(looked["history"]))
    down = load("downtime.json")
    if down:
        parts.append("## 2e. Downtime of stop-source: one image after the stop, or a pre-image first\n\n"
                     + downtime.markdown(down))
    if sizes:
        parts.append("## 3. Package size\n\n" + sizes_md(sizes))
    if scale:
        parts.append("## 4. Scale on the emulator\n\n" + scale_md(scale))
    programs = load("programs.json")
    if programs:
        parts.append("## 4b. Programs on the emulator: 5 and 20 services\n\n" + program_md(programs))
    (RESULTS / "results.md").write_text("\n".join(parts))
    (RESULTS / "results.json").write_text(json.dumps({"summary": summary, "coldstart": cs, "polling": poll, "looks": looked,
                                                       "scale": scale, "sizes": sizes, "downtime": down,
                                                       "programs": programs}, indent=1))
    sys.stdout.write("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
