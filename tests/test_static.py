"""The static checks of `make lint` catch what they exist for (each shown failing on a
deliberately broken copy), and the ASL keeps the contract of DESIGN.md §4."""

import json
import re
import subprocess
import sys

from carveout_emulator.testing import ROOT

ASL = json.loads((ROOT / "statemachine/carveout.asl.json").read_text())


def states(machine=ASL):
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])


def substitution_check(template_text, asl_text, tmp_path):
    (tmp_path / "t.yaml").write_text(template_text)
    (tmp_path / "a.json").write_text(asl_text)
    return subprocess.run([sys.executable, str(ROOT / "scripts/check_substitutions.py"), str(tmp_path / "t.yaml"),
                           str(tmp_path / "a.json")], capture_output=True, text=True)


def test_substitution_check_passes_on_the_real_files_and_fails_on_a_missing_entry(tmp_path):
    template = (ROOT / "template.yaml").read_text()
    asl = (ROOT / "statemachine/carveout.asl.json").read_text()
    assert substitution_check(template, asl, tmp_path).returncode == 0
    broken = substitution_check(template.replace("        CutoverFunctionArn: !GetAtt CutoverFunction.Arn\n", ""), asl, tmp_path)
    assert broken.returncode == 1 and "${CutoverFunctionArn}" in broken.stderr
    unused = substitution_check(template, asl.replace("${ReportFunctionArn}", "${CutoverFunctionArn}"), tmp_path)
    assert unused.returncode == 1 and "ReportFunctionArn is not used" in unused.stderr


def test_asl_validator_rejects_a_missing_transition(tmp_path):
    broken = json.loads(json.dumps(ASL).replace("${", "arn:aws:lambda:us-east-1:123456789012:function:").replace(
        "FunctionArn}", ""))
    del broken["States"]["Cutover"]["Next"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    proc = subprocess.run([str(ROOT / "node_modules/.bin/asl-validator"), "--json-path", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0


def test_every_wait_step_polls_through_retry_with_backoff_jitter_and_a_deadline():
    waits = {n: s for n, s in states() if s["Type"] == "Task" and (n.startswith("Wait") or n == "AcceptPeering")}
    assert set(waits) == {"AcceptPeering", "WaitPeeringActive", "WaitShareAssociated", "WaitImageAvailable",
                          "WaitInstanceReady", "WaitTargetsHealthy"}
    for name, state in waits.items():
        poll = state["Retry"][0]
        assert poll["ErrorEquals"] == ["CarveOut.NotReady"], name
        assert poll["BackoffRate"] > 1 and poll["JitterStrategy"] == "FULL" and poll["MaxDelaySeconds"] <= 60, name
        assert 5 <= poll["MaxAttempts"] <= 200, name


def test_every_state_after_preflight_is_caught_into_rollback():
    top = ASL["States"]
    order = ["Prepare", "LaunchInstances", "CreateTargetGroup", "RegisterTargets", "AttachProbeRule",
             "WaitTargetsHealthy", "Cutover", "Report"]
    for name in order:
        assert top[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rollback"}], name
    assert top["Preflight"]["Catch"][0]["Next"] == "PreflightFailed", "nothing to roll back before mutations"
    assert top["Rollback"]["Next"] == "MigrationFailed"
    for name, state in states():
        if state["Type"] == "Task":
            assert re.fullmatch(r"\$\{[A-Za-z]+FunctionArn\}", state["Resource"]), name
            assert state["TimeoutSeconds"] <= 60, name
            assert any({"Lambda.ServiceException", "States.ALL"} & set(r["ErrorEquals"]) for r in state["Retry"]), name


def test_the_safety_tables_in_the_docs_match_the_tests():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/safety_tables.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = (ROOT / "docs/safety.md").read_text()
    start = doc.index("-->\n", doc.index("<!-- tables:start")) + 4
    assert doc[start:doc.index("<!-- tables:end -->")] == proc.stdout, "run scripts/safety_tables.py"
