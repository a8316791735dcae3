"""The house's shape, measured from the sources (scripts/structure.py): no import circle
between the library's modules, no step module importing another (or the CLI importing
one), no Rust file over 450 lines, docs/design.md's module picture fresh, and no
reference to a document the repository does not have."""

import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts/structure.py"


def structure(*args, root=None):
    extra = ["--root", str(root)] if root else []
    return subprocess.run([sys.executable, str(SCRIPT), *args, *extra], capture_output=True, text=True, check=False)


def test_the_tree_has_no_circle_no_step_importing_a_step_and_no_oversized_file():
    proc = structure()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "circles: 0" in proc.stdout and "files over 450 lines: 0" in proc.stdout


def copy_of_tree(tmp_path):
    copy = tmp_path / "repo"
    for part in ("functions/src", "cli/src"):
        shutil.copytree(ROOT / part, copy / part)
    return copy


def test_a_circle_and_a_step_importing_a_step_are_found(tmp_path):
    copy = copy_of_tree(tmp_path)
    traffic = copy / "functions/src/traffic/rules.rs"
    traffic.write_text("use crate::state::State;\n" + traffic.read_text())
    launch = copy / "functions/src/steps/launch/mod.rs"
    launch.write_text("use crate::steps::image::create_image;\n" + launch.read_text())
    maintenance = copy / "functions/src/steps/maintenance.rs"
    maintenance.write_text("use super::routing::cutover;\n" + maintenance.read_text())
    proc = structure(root=copy)
    assert proc.returncode == 1
    assert "steps::maintenance imports steps::routing" in proc.stdout, proc.stdout
    # The circle through state (state's documents use traffic, in step_outputs).
    assert any("->" in line and "traffic -> state" in line for line in proc.stdout.splitlines()), proc.stdout
    assert "steps::launch imports steps::image" in proc.stdout, proc.stdout


def test_a_file_over_450_lines_is_found(tmp_path):
    copy = copy_of_tree(tmp_path)
    names = copy / "functions/src/names.rs"
    names.write_text(names.read_text() + "// filler\n" * 460)
    proc = structure(root=copy)
    assert proc.returncode == 1 and "functions/src/names.rs" in proc.stdout, proc.stdout


def test_the_module_picture_in_the_design_doc_is_generated_from_the_sources():
    doc = (ROOT / "docs/design.md").read_text()
    picture = doc.split("<!-- modules:start", 1)[1].split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert picture == structure("--mermaid").stdout, "run scripts/structure.py --mermaid and paste it into docs/design.md"


TEXT = {".rs", ".py", ".md", ".sh", ".yaml", ".yml", ".mjs", ".toml", ".json"}


def test_every_document_referred_to_is_in_the_repository():
    """A reference like `docs/safety.md`, `bench/README.md` (from the root or the
    referrer's folder) or a bare `security.md`, in any file of the repository (tracked, or
    new and not ignored), must name a file of this repository."""
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    files = [ROOT / f for f in tracked if (ROOT / f).is_file() and (ROOT / f).suffix in TEXT | {""}]
    names = {p.name for p in files}
    missing = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for ref in re.findall(r"(?<![$\w/.{-])([\w./-]*[A-Za-z0-9_-]\.md)\b", text):
            if (path.parent / ref).exists() or (ROOT / ref).exists() or ("/" not in ref and ref in names):
                continue
            missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, missing
