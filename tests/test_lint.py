"""Each check of `make lint` fails when its rule is broken: `scripts/lint.sh <check>` run on
a deliberately broken copy (LINT_* variables point the check at the copy) must fail and
say what is wrong, and pass on the real files."""

import json
import os
import shutil
import subprocess

import pytest

from carveout_emulator.testing import ROOT

TEMPLATE = (ROOT / "template.yaml").read_text()
MEMBER_ROLE = (ROOT / "templates/member-role.yaml").read_text()
ASL = (ROOT / "statemachine/carveout.asl.json").read_text()


def lint(check, **files):
    env = dict(os.environ)
    for name, path in files.items():
        env[f"LINT_{name.upper()}"] = str(path)
    return subprocess.run([str(ROOT / "scripts/lint.sh"), check], cwd=ROOT, env=env, capture_output=True, text=True)


def broken(tmp_path, name, text, old, new):
    assert old in text, f"the real file changed: {old!r} not found"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def assert_fails(proc, *needles):
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for needle in needles:
        assert needle in out, out


@pytest.mark.parametrize("check", ["substitutions", "asl", "statelint", "timeouts", "cfn-lint", "sam-validate",
                                   "iam-actions", "checkov"])
def test_each_check_passes_on_the_real_files(check):
    proc = lint(check)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_substitutions_missing_or_unused_entry(tmp_path):
    missing = broken(tmp_path, "t.yaml", TEMPLATE, "        CutoverFunctionArn: !GetAtt CutoverFunction.Arn\n", "")
    assert_fails(lint("substitutions", template=missing), "${CutoverFunctionArn}")
    unused = broken(tmp_path, "a.json", ASL, "${ReportFunctionArn}", "${CutoverFunctionArn}")
    assert_fails(lint("substitutions", asl=unused), "ReportFunctionArn is not used")


def test_asl_validator_rejects_a_state_without_transition(tmp_path):
    asl = broken(tmp_path, "a.json", ASL, '"Next": "PastPointOfNoReturn?"', '"Nest": "PastPointOfNoReturn?"')
    assert_fails(lint("asl", asl=asl))


def asl_with(tmp_path, change):
    """A copy of the ASL with `change(definition)` applied."""
    definition = json.loads(ASL)
    change(definition)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(definition, indent=2))
    return path


def test_statelint_rejects_states_all_before_another_retrier(tmp_path):
    # CreateStateMachine answers SCHEMA_VALIDATION_FAILED for this; asl-validator accepts it.
    def all_first(d):
        d["States"]["Rollback"]["Retry"].reverse()
    asl = asl_with(tmp_path, all_first)
    assert lint("asl", asl=asl).returncode == 0, "asl-validator misses it: that is why statelint runs"
    assert_fails(lint("statelint", asl=asl), "Rollback.Retry[0]", "States.ALL can only appear in the last element")


def test_statelint_rejects_states_all_with_other_names_in_a_catcher(tmp_path):
    def mixed(d):
        d["States"]["Cutover"]["Catch"][0]["ErrorEquals"] = ["CarveOut.Conflict", "States.ALL"]
    assert_fails(lint("statelint", asl=asl_with(tmp_path, mixed)), "Cutover.Catch[0]")


def test_timeouts_task_must_outlast_its_function(tmp_path):
    def short(d):
        d["States"]["Cutover"]["TimeoutSeconds"] = 90
    assert_fails(lint("timeouts", asl=asl_with(tmp_path, short)),
                 "Cutover: TimeoutSeconds 90 s is not above CutoverFunction's Timeout (90 s)")


def test_timeouts_function_must_outlast_one_sdk_call(tmp_path):
    template = broken(tmp_path, "t.yaml", TEMPLATE, "    Timeout: 90\n", "    Timeout: 30\n")
    assert_fails(lint("timeouts", template=template),
                 "CutoverFunction Timeout 30 s is not above one SDK call's worst case (60 s)")


def test_timeouts_a_watching_function_holds_its_watch_its_last_look_and_the_margin(tmp_path):
    # The watch per function comes from `carveout-lambda --contract` (Step::watch): a look
    # of the image wait watches 180 s, then its last look's two calls (60 s each), then 5 s.
    image = "      # calls at their worst case and 5 s to answer; `make lint` checks it against the contract.\n" \
            "      Timeout: 310\n"
    template = broken(tmp_path, "t.yaml", TEMPLATE, image, image.replace("310", "250"))
    assert_fails(lint("timeouts", template=template),
                 "WaitImageAvailable: WaitImageAvailableFunction Timeout 250 s is below its watch (180 s), 2 call(s)")
    # A Retry-polled wait's too (idiom::watching).
    start = TEMPLATE.index("      Handler: wait-instance-ready\n")
    end = TEMPLATE.index("      Timeout: 310\n", start) + len("      Timeout: 310\n")
    template = broken(tmp_path, "t2.yaml", TEMPLATE, TEMPLATE[start:end],
                      TEMPLATE[start:end].replace("Timeout: 310", "Timeout: 300"))
    assert_fails(lint("timeouts", template=template),
                 "WaitInstanceReady: WaitInstanceReadyFunction Timeout 300 s is below its watch (180 s)")


def test_timeouts_a_retry_polled_wait_runs_a_function_that_watches(tmp_path):
    # Without a watch a young wait would poll through Retry every few seconds.
    def unwatched(d):
        network = d["States"]["Prepare"]["Branches"][0]["States"]
        network["AddRoutes"]["Retry"].insert(0, {**network["AcceptPeering"]["Retry"][0]})
    assert_fails(lint("timeouts", asl=asl_with(tmp_path, unwatched)),
                 "AddRoutes: polls through Retry but 'add-routes' publishes no watch")


def test_timeouts_every_task_retries_a_lambda_timeout(tmp_path):
    def no_sandbox(d):
        d["States"]["Report"]["Retry"][0]["ErrorEquals"].remove("Sandbox.Timedout")
    assert_fails(lint("timeouts", asl=asl_with(tmp_path, no_sandbox)), "Report: does not retry Sandbox.Timedout")


def test_timeouts_error_names_must_be_raised_by_someone(tmp_path):
    def misspelt(d):
        d["States"]["Preflight"]["Retry"][1]["ErrorEquals"] = ["CarveOut.NotReddy"]
    assert_fails(lint("timeouts", asl=asl_with(tmp_path, misspelt)),
                 "Preflight.Retry[1]: 'CarveOut.NotReddy' is raised by neither the code nor the platform")


def test_cfn_lint_rejects_a_wrong_property_in_either_template(tmp_path):
    template = broken(tmp_path, "t.yaml", TEMPLATE, "      RetentionInDays: !Ref LogRetentionDays\n",
                      "      RetentionDays: !Ref LogRetentionDays\n")
    assert_fails(lint("cfn-lint", template=template), "RetentionDays")
    role = broken(tmp_path, "r.yaml", MEMBER_ROLE, "      MaxSessionDuration: 3600\n", "      MaxSessionDuration: 99\n")
    assert_fails(lint("cfn-lint", member_role=role), "99")


def test_sam_validate_rejects_an_unknown_event_type(tmp_path):
    template = broken(tmp_path, "t.yaml", TEMPLATE, "          Type: EventBridgeRule\n", "          Type: EventBridgeRules\n")
    assert_fails(lint("sam-validate", template=template))


def test_iam_actions_member_role_must_allow_every_call_the_code_makes(tmp_path):
    role = tmp_path / "r.yaml"
    role.write_text(MEMBER_ROLE.replace("ec2:CreateImage", "ec2:ImportImage"))
    assert_fails(lint("iam-actions", member_role=role), "calls ec2:CreateImage (steps/image.rs)", "allows ec2:ImportImage")


def test_iam_actions_rejects_wildcard_actions(tmp_path):
    role = broken(tmp_path, "r.yaml", MEMBER_ROLE, "                  - ec2:DescribeVpcs\n", "                  - ec2:Describe*\n")
    assert_fails(lint("iam-actions", member_role=role), "wildcard action ec2:Describe*")


def test_iam_actions_function_roles_may_not_allow_more_than_their_code_calls(tmp_path):
    template = broken(tmp_path, "t.yaml", TEMPLATE, "            Action: sts:AssumeRole\n",
                      "            Action: [sts:AssumeRole, sts:GetFederationToken]\n")
    assert_fails(lint("iam-actions", template=template), "PreflightFunction: allows sts:GetFederationToken")


def test_iam_actions_sees_a_new_call_in_the_code(tmp_path):
    sources = tmp_path / "src"
    shutil.copytree(ROOT / "functions/src", sources)
    cleanup = sources / "cleanup.rs"
    # Before the file's unit tests (the check reads code above #[cfg(test)] only).
    cleanup.write_text("async fn extra(c: &Clients) { let _ = c.ec2.delete_vpc().send().await; }\n" + cleanup.read_text())
    assert_fails(lint("iam-actions", sources=sources), "calls ec2:DeleteVpc (cleanup.rs)")
    # The same call through a receiver the check does not know is refused, not missed.
    cleanup.write_text(cleanup.read_text().replace("c.ec2.delete_vpc()", "client.delete_vpc()"))
    assert_fails(lint("iam-actions", sources=sources), "`delete_vpc` looks like an AWS call")


def test_checkov_rejects_a_statement_allowing_every_action(tmp_path):
    role = broken(tmp_path, "r.yaml", MEMBER_ROLE, """              - Sid: RemoveOwnShare
                Effect: Allow
                Action: ram:DeleteResourceShare
                Resource: !Sub arn:${AWS::Partition}:ram:*:${AWS::AccountId}:resource-share/*""", """              - Sid: RemoveOwnShare
                Effect: Allow
                Action: "*"
                Resource: "*\"""")
    assert_fails(lint("checkov", member_role=role), "CKV_AWS_62")


def crate(tmp_path, body):
    (tmp_path / "src").mkdir()
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\nedition = "2024"\n\n[workspace]\n')
    (tmp_path / "src/main.rs").write_text(body)
    return tmp_path


def test_fmt_rejects_unformatted_code(tmp_path):
    assert_fails(lint("fmt", crate=crate(tmp_path, "fn main( ) {println!(\"x\") ;}\n")))


def test_clippy_denies_warnings(tmp_path):
    body = "fn main() {\n    let v = vec![1];\n    if v.len() == 0 {\n        println!(\"empty\");\n    }\n}\n"
    assert_fails(lint("clippy", crate=crate(tmp_path, body)), "len_zero")
