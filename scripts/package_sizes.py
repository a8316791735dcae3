"""Sizes of the function zips (zip and unpacked bootstrap), as a Markdown table on stdout
and as sizes.json beside the zips (read by `make bench`)."""

import json
import pathlib
import sys
import zipfile


def main(folder: str) -> int:
    root = pathlib.Path(folder)
    rows = []
    for z in sorted(root.glob("*.zip")):
        with zipfile.ZipFile(z) as archive:
            names = archive.namelist()
            if names != ["bootstrap"]:
                print(f"{z.name}: expected exactly one file `bootstrap`, found {names}", file=sys.stderr)
                return 1
            unpacked = archive.getinfo("bootstrap").file_size
        rows.append({"function": z.stem, "zip_bytes": z.stat().st_size, "bootstrap_bytes": unpacked})
    if not rows:
        print(f"no zips in {root}", file=sys.stderr)
        return 1
    total = sum(r["zip_bytes"] for r in rows)
    (root / "sizes.json").write_text(json.dumps({"functions": rows, "total_zip_bytes": total}, indent=2) + "\n")
    mib = lambda n: f"{n / 1048576:.2f} MiB"  # noqa: E731
    print("| function | zip | bootstrap |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['function']} | {mib(r['zip_bytes'])} | {mib(r['bootstrap_bytes'])} |")
    print(f"| **total ({len(rows)} functions)** | **{mib(total)}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
