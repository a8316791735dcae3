"""Prints the tables of docs/safety.md from the test suites that enforce them, so the
docs list exactly what is tested (tests/test_static.py checks the copy is current)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "emulator")]

import test_faults  # noqa: E402
import test_preflight_catalogue  # noqa: E402


def tables() -> str:
    out = ["| # | bad plan or situation | error | the message names |", "|---|---|---|---|"]
    for i, (case, _, error, words) in enumerate(test_preflight_catalogue.CASES, 1):
        out.append(f"| {i} | {case} | `CarveOut.{error}` | {', '.join(f'`{w}`' for w in words)} |")
    out += ["", "| # | step | AWS call whose answer is lost | invariants checked afterwards |", "|---|---|---|---|"]
    invariants = ("listener forwards exactly as before; source instance unchanged; everything created tagged "
                  "and listed in the Rollback output; a re-run finishes with one of each resource")
    for i, (step, action, _, _) in enumerate(test_faults.FAULT_POINTS, 1):
        out.append(f"| {i} | {step} | `{action}` | {invariants} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(tables())
