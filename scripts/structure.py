#!/usr/bin/env python3
"""The house's structure, measured from the Rust sources: the graph of the library's
modules (from `use crate::…` and `crate::…::` paths), its import circles, the step
modules' imports, and the largest files.

    scripts/structure.py            a summary (exit 1 on a circle or a file over 450 lines)
    scripts/structure.py --mermaid  the module graph as a Mermaid flowchart (docs/design.md)

A module is a top-level file or folder of functions/src (`steps`, `aws`, `inventory`…);
inside `steps/` every step module counts on its own, so a step importing another shows.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "functions/src"
MAX_LINES = 450
# Files that are not part of the module graph: the crate root and the binary's main.
NOT_MODULES = {"lib", "bin", "test_support"}


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = rel.parts
    if parts[0] == "steps" and len(parts) > 1 and parts[1] != "mod":
        return f"steps::{parts[1]}"
    # `x_tests.rs` is the `#[path]` test module of `x.rs`: part of x.
    return parts[0].removesuffix("_tests")


def without_tests(text: str) -> str:
    """The file up to its `#[cfg(test)]` module: test imports are not structure."""
    cut = text.find("#[cfg(test)]\nmod tests")
    return text if cut < 0 else text[:cut]


def targets(text: str, path: pathlib.Path) -> set[str]:
    found = set()
    # A step file reaches its siblings through `super::x` (steps/x.rs) or
    # `super::super::x` (steps/x/y.rs).
    rel = path.relative_to(SRC).parts
    if rel[0] == "steps" and len(rel) in (2, 3):
        prefix = r"super::" if len(rel) == 2 else r"super::super::"
        for m in re.finditer(r"(?<!::)" + prefix + r"(\w+)", text):
            if m.group(1) not in {"Context", "Step", "run", "preflight", "super"}:
                found.add(f"steps::{m.group(1)}")
    for m in re.finditer(r"crate::(\w+)(?:::(\w+))?", text):
        top, sub = m.group(1), m.group(2)
        found.add(f"steps::{sub}" if top == "steps" and sub and sub not in {"run", "Step", "Context", "preflight"} else top)
    for m in re.finditer(r"^\s*(?:pub(?:\(\w+\))?\s+)?use\s+crate::\{([^;]+)\};", text, re.M):
        for name in re.findall(r"(?:^|,)\s*(\w+)", m.group(1)):
            found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.rs")):
        mod = module_of(path)
        if mod in NOT_MODULES:
            continue
        deps = {t for t in targets(without_tests(path.read_text()), path) if t != mod and t not in NOT_MODULES}
        # `steps::preflight` is reached through `steps::preflight` re-exported as `steps::preflight`.
        edges.setdefault(mod, set()).update(deps)
    known = set(edges)
    return {m: {d for d in ds if d in known} for m, ds in edges.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary circle found by a depth-first walk (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def step_imports(edges: dict[str, set[str]], cli: set[str]) -> list[str]:
    bad = [f"{m} imports {d}" for m, ds in edges.items() if m.startswith("steps::")
           for d in ds if d.startswith("steps::")]
    bad += [f"the CLI imports {d}" for d in cli if d.startswith("steps::")]
    return bad


def cli_targets() -> set[str]:
    found = set()
    for path in (ROOT / "cli/src").rglob("*.rs"):
        for m in re.finditer(r"carveout::steps::(\w+)", path.read_text()):
            if m.group(1) not in {"run", "Step", "Context", "preflight"}:
                found.add(f"steps::{m.group(1)}")
    return found


def sizes() -> list[tuple[int, str]]:
    files = list(SRC.rglob("*.rs")) + list((ROOT / "cli/src").rglob("*.rs"))
    return sorted(((len(p.read_text().splitlines()), str(p.relative_to(ROOT))) for p in files), reverse=True)


def mermaid(edges: dict[str, set[str]]) -> str:
    ident = lambda m: m.replace("::", "_")  # noqa: E731
    lines = ["flowchart LR"]
    for m in sorted(edges):
        lines.append(f'  {ident(m)}["{m}"]')
    for m in sorted(edges):
        for d in sorted(edges[m]):
            lines.append(f"  {ident(m)} --> {ident(d)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mermaid", action="store_true")
    ap.add_argument("--root", type=pathlib.Path, help="another checkout (tests use broken copies)")
    args = ap.parse_args()
    if args.root:
        global ROOT, SRC
        ROOT, SRC = args.root.resolve(), args.root.resolve() / "functions/src"
    edges = graph()
    if args.mermaid:
        print(mermaid(edges), end="")
        return 0
    loops, bad, top = circles(edges), step_imports(edges, cli_targets()), sizes()
    over = [(n, f) for n, f in top if n > MAX_LINES]
    print(f"{len(top)} Rust files, {sum(n for n, _ in top)} lines; largest: {top[0][1]} ({top[0][0]} lines)")
    print(f"{len(edges)} modules, {sum(len(d) for d in edges.values())} imports between them")
    print(f"circles: {len(loops)}" + "".join(f"\n  {' -> '.join(c)}" for c in loops))
    print(f"step modules importing step modules: {len(bad)}" + "".join(f"\n  {b}" for b in bad))
    print(f"files over {MAX_LINES} lines: {len(over)}" + "".join(f"\n  {f}: {n}" for n, f in over))
    return 1 if loops or bad or over else 0


if __name__ == "__main__":
    sys.exit(main())
