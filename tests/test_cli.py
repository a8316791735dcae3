"""The carveout command against the emulator: plan (read-only Preflight with the caller's
credentials), start/watch/status through the Step Functions API, and the help texts."""

import json

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, base_client, cli, every, post, real_definition, reset, sfn_machine


@pytest.fixture
def plan_file(tmp_path):
    reset()
    plan = seed(ENDPOINT)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return plan, path


def test_plan_lists_every_check_and_the_intended_changes_in_order_and_changes_nothing(plan_file):
    plan, path = plan_file
    before = verify.counts(verify.end_state(ENDPOINT, plan))
    proc = cli("plan", "--plan", str(path), "--endpoint", ENDPOINT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("✓") == 23
    assert "room for the probe rule" in proc.stdout
    assert "RAM" not in proc.stdout, "RAM is opt-in: a default plan neither checks nor plans a share"
    order = ["request VPC peering", "route 10.1.0.0/16", "route 10.0.0.0/16", "image i-",
             "security group carveout-", "launch t3.small", "IP target group", "probe rule", "cutover:"]
    changes = proc.stdout[proc.stdout.index("A migration would"):]
    positions = [changes.index(step) for step in order]
    assert positions == sorted(positions), proc.stdout
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == before


def test_plan_with_a_bad_plan_exits_non_zero_with_the_preflight_error(plan_file, tmp_path):
    plan, _ = plan_file
    plan["target"]["subnetIds"] = ["subnet-0123456789abcdef0"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(plan))
    proc = cli("plan", "--plan", str(path), "--endpoint", ENDPOINT)
    assert proc.returncode == 1
    assert "✗ CarveOut.InvalidPlan" in proc.stdout and "subnet-0123456789abcdef0" in proc.stdout


def test_an_endpoint_that_refuses_connections_is_named_at_once(plan_file):
    """Nothing listens on the endpoint: every command that calls AWS says so before any
    call, instead of spending the SDK's retries on it (exit 2: it could not run)."""
    _, path = plan_file
    for args in (("plan", "--plan", str(path)), ("cleanup", "--plan", str(path)), ("status",)):
        proc = cli(*args, "--endpoint", "http://127.0.0.1:1")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "cannot reach http://127.0.0.1:1" in proc.stderr, proc.stderr


def test_start_names_the_execution_after_the_migration_and_never_runs_it_twice(plan_file):
    _, path = plan_file
    machine = sfn_machine("MigrationStateMachine-test", real_definition())
    first = cli("start", "--plan", str(path), "--endpoint", ENDPOINT)
    assert first.returncode == 0, first.stderr
    assert f"started {machine.replace(':stateMachine:', ':execution:')}:hp-2026-11" in first.stdout
    assert "console.aws.amazon.com/states/home?region=ap-northeast-1" in first.stdout
    second = cli("start", "--plan", str(path), "--endpoint", ENDPOINT)
    assert second.returncode == 0 and "already started" in second.stdout
    executions = every(base_client("stepfunctions"), "list_executions", "executions", stateMachineArn=machine)
    assert [e["name"] for e in executions] == ["hp-2026-11"]
    status = cli("status", "--migration-id", "hp-2026-11", "--endpoint", ENDPOINT)
    assert status.returncode == 0 and "hp-2026-11" in status.stdout and "RUNNING" in status.stdout


def test_start_refuses_an_invalid_plan_without_starting(plan_file, tmp_path):
    plan, _ = plan_file
    machine = sfn_machine("MigrationStateMachine-test", real_definition())
    plan["consistency"] = "sometimes"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(plan))
    proc = cli("start", "--plan", str(path), "--endpoint", ENDPOINT)
    assert proc.returncode == 1 and "CarveOut.InvalidPlan" in proc.stdout
    assert every(base_client("stepfunctions"), "list_executions", "executions", stateMachineArn=machine) == []


def _executing_machines():
    # The emulator's Step Functions interpreter runs Pass/Wait/Fail states (Lambda tasks
    # would need Docker): enough to follow a real execution history end to end.
    post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
    ok = {"StartAt": "Preflight", "States": {
        "Preflight": {"Type": "Pass", "Next": "WaitImageAvailable"},
        "WaitImageAvailable": {"Type": "Wait", "Seconds": 1, "Next": "Report"},
        "Report": {"Type": "Pass", "Result": {"migrationId": "hp-2026-11", "traffic": {"forwardsTo": ["arn:new"]}},
                   "End": True}}}
    bad = {"StartAt": "Preflight", "States": {
        "Preflight": {"Type": "Pass", "Next": "MigrationFailed"},
        "MigrationFailed": {"Type": "Fail", "Error": "CarveOut.ResourceFailed", "Cause": "injected for the test"}}}
    return sfn_machine("watch-ok", ok), sfn_machine("watch-bad", bad)


def test_watch_follows_an_execution_to_its_summary_or_its_error(plan_file):
    _, path = plan_file
    good, bad = _executing_machines()
    try:
        proc = cli("start", "--plan", str(path), "--state-machine", good, "--endpoint", ENDPOINT, "--watch")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout[proc.stdout.index("{"):])["traffic"]["forwardsTo"] == ["arn:new"]
        assert "succeeded" in proc.stderr
        execution = f"{bad.replace(':stateMachine:', ':execution:')}:hp-2026-11"
        assert cli("start", "--plan", str(path), "--state-machine", bad, "--endpoint", ENDPOINT).returncode == 0
        watched = cli("watch", execution, "--endpoint", ENDPOINT, "--interval", "0.2")
        assert watched.returncode == 1
        assert "CarveOut.ResourceFailed" in watched.stdout and "injected for the test" in watched.stderr
        # Not a terminal: plain lines, no spinner escape codes.
        assert "\x1b[" not in watched.stderr
    finally:
        post("/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})


@pytest.mark.parametrize("command", ["plan", "start", "watch", "status", "cleanup", "local", "demo", "example", "schema", "graph",
                                     "program"])
def test_every_subcommand_explains_itself_with_an_example(command):
    proc = cli(command, "--help")
    assert proc.returncode == 0
    assert "Example: carveout " + command in proc.stdout


def test_example_and_schema_agree(tmp_path):
    plain = cli("example", "--plain")
    commented = cli("example")
    assert plain.returncode == 0 and commented.returncode == 0
    assert commented.stdout.count("// ") >= 10
    stripped = "\n".join(line for line in commented.stdout.splitlines() if not line.strip().startswith("//"))
    assert json.loads(stripped) == json.loads(plain.stdout)
    import jsonschema

    jsonschema.validate(json.loads(plain.stdout), json.loads(cli("schema").stdout))



def test_plan_says_images_are_copied_reencrypted_when_the_plan_names_a_key(tmp_path):
    reset()
    plan = seed(ENDPOINT, encrypted="aws-managed", kms_key=True)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    proc = cli("plan", "--plan", str(path), "--endpoint", ENDPOINT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"re-encrypted with {plan['options']['kmsKeyId']}" in proc.stdout
    assert proc.stdout.index("re-encrypted with") < proc.stdout.index("share the image of")
    assert "images will be copied and re-encrypted" in proc.stdout


def test_the_commented_example_is_a_plan_file_as_printed(tmp_path):
    """`carveout example > plan.json` then `carveout plan --plan plan.json`: the comments
    are read past and the plan reaches Preflight (the example's ids do not exist here)."""
    reset()
    path = tmp_path / "plan.json"
    path.write_text(cli("example").stdout)
    proc = cli("plan", "--plan", str(path), "--endpoint", ENDPOINT)
    out = proc.stdout + proc.stderr
    assert "not JSON" not in out, out
    assert "CarveOut.InvalidPlan: service.listenerArn" in out and "does not exist" in out, out
    bad = tmp_path / "bad.json"
    bad.write_text("// a plan\n{\n  \"migrationId\": ,\n}\n")
    proc = cli("plan", "--plan", str(bad), "--endpoint", ENDPOINT)
    assert proc.returncode == 2 and f"{bad}: not JSON: expected value at line 3" in proc.stderr, proc.stderr
