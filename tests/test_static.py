"""The ASL keeps the contract of docs/design.md §4 (the lint checks themselves: test_lint.py)."""

import json
import re
import subprocess
import sys

from carveout_emulator.testing import ROOT

ASL = json.loads((ROOT / "statemachine/carveout.asl.json").read_text())
# The child executions' definitions, by the placeholder the migration names them with.
CHILDREN = {"${ImageStateMachineArn}": json.loads((ROOT / "statemachine/image.asl.json").read_text()),
            "${LaunchStateMachineArn}": json.loads((ROOT / "statemachine/launch.asl.json").read_text()),
            "${ShiftStateMachineArn}": json.loads((ROOT / "statemachine/shift.asl.json").read_text())}
CHILD_TASK = "arn:aws:states:::states:startExecution.sync:2"


def states(machine=ASL):
    """Every state, in Parallel branches, Map processors and the child executions a Task runs."""
    for name, state in machine["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from states(branch)
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])
        if state.get("Resource") == CHILD_TASK:
            yield from states(CHILDREN[state["Parameters"]["StateMachineArn"]])


def test_the_per_instance_work_runs_in_child_executions_with_their_own_history():
    # Issue 15: a migration's history must not grow with instances x polls; each instance's
    # image and launch work, and each weighted step of a gradual cutover, is a child
    # execution, waited for (.sync:2: JSON output).
    found = dict(states())
    for task, child, keys in (("ImageWorkflow", "${ImageStateMachineArn}",
                               {"plan.$", "facts.$", "sourceInstance.$", "executionStartedAt.$"}),
                              ("PreImageWorkflow", "${ImageStateMachineArn}",
                               {"plan.$", "facts.$", "sourceInstance.$", "preImage"}),
                              ("LaunchWorkflow", "${LaunchStateMachineArn}",
                               {"plan.$", "facts.$", "peering.$", "sourceInstance.$", "image.$", "index.$"}),
                              ("ShiftWorkflow", "${ShiftStateMachineArn}",
                               {"plan.$", "facts.$", "targetGroup.$", "instances.$", "shiftPercent.$"})):
        state = found[task]
        assert state["Resource"] == CHILD_TASK and state["Parameters"]["StateMachineArn"] == child, task
        assert set(state["Parameters"]["Input"]) == keys | {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$"}, task
        assert state["OutputPath"] == "$.Output", task
        assert [r["ErrorEquals"] for r in state["Retry"]] == [["StepFunctions.ExecutionLimitExceeded"]], task
        # The iteration is the child alone: a failed step fails its child with the step's
        # own error and cause (a Fail state), which fails this Task with States.TaskFailed
        # and the child's description (CaughtError::innermost reads the error back); the
        # Map catches it into Rollback. No Choice after a child that succeeded.
        assert state.get("End") is True and "Next" not in state and "Catch" not in state, task
        label = task.removesuffix("Workflow")
        definition = CHILDREN[child]
        failed = f"{label.removeprefix('Pre')}StepFailed"
        for name, inner in definition["States"].items():
            if inner["Type"] in ("Task", "Map"):
                assert inner["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                           "Next": failed}], name
        assert definition["States"][failed] == {**definition["States"][failed], "Type": "Fail",
                                                "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert ASL["States"]["Prepare"]["Branches"][1]["States"]["ImageEachInstance"]["ItemProcessor"]["StartAt"] == \
        "ImageWorkflow"
    assert ASL["States"]["LaunchInstances"]["ItemProcessor"]["StartAt"] == "LaunchWorkflow"
    assert ASL["States"]["ShiftTraffic"]["ItemProcessor"]["StartAt"] == "ShiftWorkflow"
    assert CHILDREN["${ImageStateMachineArn}"]["States"]["ShareImage"]["OutputPath"] == "$.image"
    # stop-source's pre-image: the same child, ended once available, before maintenance.
    image = CHILDREN["${ImageStateMachineArn}"]["States"]
    assert image["PreImageTaken"] == {**image["PreImageTaken"], "Type": "Succeed", "OutputPath": "$.image"}
    assert ASL["States"]["StopSource?"]["Choices"][0]["Next"] == "PreImage?"
    assert ASL["States"]["PreImage?"]["Default"] == "EnterMaintenance"
    pre = ASL["States"]["PreImageEachInstance"]
    assert (pre["ResultPath"], pre["Next"], pre["Catch"][0]["Next"]) == (None, "EnterMaintenance", "Rollback")
    assert pre["ItemSelector"] == ASL["States"]["Prepare"]["Branches"][1]["States"]["ImageEachInstance"]["ItemSelector"]
    assert CHILDREN["${LaunchStateMachineArn}"]["States"]["WaitInstanceReady"]["OutputPath"] == "$.launched"
    # A small answer: .sync:2's result carries the child's input too (256 KiB per state).
    assert CHILDREN["${ShiftStateMachineArn}"]["States"]["HoldAndCheck"]["OutputPath"] == "$.shift"


def test_a_child_gets_the_facts_without_the_instance_list_so_its_failure_fits_a_cause():
    # A failed child's description (its input first) is the cause of States.TaskFailed,
    # cut at 32,768 characters: the Map passes each child only the facts every instance
    # shares (not `checks`, not the other instances) and its own instance.
    shared = {f"{k}.$": f"$.facts.{k}" for k in ("network", "target", "service", "options")}
    found = dict(states())
    struct = re.search(r"pub struct Facts \{(.*?)\n\}", (ROOT / "functions/src/state.rs").read_text(), re.S)
    fields = set(re.findall(r"pub (\w+):", struct.group(1)))
    assert fields - {"instances", "checks"} == {k.removesuffix(".$") for k in shared}
    for name in ("ImageEachInstance", "PreImageEachInstance", "LaunchInstances", "ShiftTraffic"):
        assert found[name]["ItemSelector"]["facts"] == shared, name
    launch = found["LaunchInstances"]["ItemSelector"]
    assert launch["sourceInstance.$"] == "States.ArrayGetItem($.facts.instances, $$.Map.Item.Index)"
    assert found["LaunchInstances"]["ItemsPath"] == "$.prepared.images"
    assert found["ImageEachInstance"]["ItemsPath"] == "$.facts.instances"


def test_every_wait_step_polls_through_retry_with_backoff_jitter_and_a_deadline():
    waits = {n: s for n, s in states() if s["Type"] == "Task" and (n.startswith("Wait") or n == "AcceptPeering")}
    waits = {n: s for n, s in waits.items() if n not in LOOKED}
    assert set(waits) == {"AcceptPeering", "WaitShareAssociated",
                          "WaitInstanceReady", "WaitTargetsHealthy", "WaitSourceStopped"}
    # The schedule chosen from `make bench` (bench/README.md): latency within 10 % of the
    # wait and never over 60 s; each stage's deadline in minutes, as documented there.
    # AcceptPeering accepts, then waits until active: the two deadlines it had as two states.
    deadlines = {"AcceptPeering": 12, "WaitShareAssociated": 15,
                 "WaitInstanceReady": 20, "WaitTargetsHealthy": 20, "WaitSourceStopped": 10}
    for name, state in waits.items():
        poll = state["Retry"][0]
        assert poll["ErrorEquals"] == ["CarveOut.NotReady"], name
        # After the watch of the first invocation (idiom::watching, the wait's first 180 s):
        # a poll a twelfth of the age apart, then a tenth (x1.1 a poll), 60 s at most.
        assert (poll["IntervalSeconds"], poll["BackoffRate"], poll["MaxDelaySeconds"], poll["JitterStrategy"]) == (
            15, 1.1, 60, "NONE"), name
        budget, delay = 0.0, 15.0
        for _ in range(poll["MaxAttempts"]):
            budget, delay = budget + min(delay, 60), delay * 1.1
        assert deadlines[name] * 60 <= budget < deadlines[name] * 60 + 60, (name, budget)


# The image waits are looks (looks.rs): Task -> Choice on `$.image.look.ready` -> Wait of
# the look's `nextPollSeconds` -> the Task again; {Task: (Choice, Wait, where a ready look goes)}.
LOOKED = {"WaitImageAvailable": ("ImageAvailable?", "UntilNextImageLook", "ShareImage"),
          "WaitCopyAvailable": ("CopyAvailable?", "UntilNextCopyLook", "ShareImage")}


def test_the_image_waits_are_predicted_polls_not_retries():
    # Hours-long at real scale: a Retry poll a minute would be hundreds of transitions.
    found = dict(states())
    for task, (choice, wait, after) in LOOKED.items():
        assert found[task]["Next"] == choice and found[task]["ResultPath"] == "$.image", task
        # The last rule leaves a ready look; the image's first ends a pre-image there.
        assert found[choice]["Choices"][-1] == {"Variable": "$.image.look.ready", "BooleanEquals": True, "Next": after}
        assert found[choice]["Default"] == wait
        assert (found[wait]["Type"], found[wait]["SecondsPath"], found[wait]["Next"]) == (
            "Wait", "$.image.look.nextPollSeconds", task)
        # Throttling is a look of its own; NotReady is only a look that outlasted the function.
        not_ready = [r for r in found[task]["Retry"] if r["ErrorEquals"] == ["CarveOut.NotReady"]]
        assert [r["MaxAttempts"] for r in not_ready] == [2], task


def test_the_volume_gate_is_a_predicted_poll_between_the_probe_rule_and_the_health_gate():
    # Hours-long, so not a Retry: each look says when the next one is (initialization.rs),
    # and the health gate comes last, right before traffic.
    top = ASL["States"]
    assert top["AttachProbeRule"]["Next"] == "VolumeGate?"
    assert top["VolumeGate?"]["Choices"] == [{"Variable": "$.facts.options.waitForVolumeInitialization",
                                              "BooleanEquals": True, "Next": "CheckVolumesInitialized"}]
    assert top["VolumeGate?"]["Default"] == "WaitTargetsHealthy"
    assert top["CheckVolumesInitialized"]["Next"] == "VolumesInitialized?"
    assert top["VolumesInitialized?"]["Choices"] == [{"Variable": "$.volumeGate.ready", "BooleanEquals": True,
                                                      "Next": "WaitTargetsHealthy"}]
    wait = top[top["VolumesInitialized?"]["Default"]]
    assert (wait["Type"], wait["SecondsPath"], wait["Next"]) == ("Wait", "$.volumeGate.nextPollSeconds",
                                                                 "CheckVolumesInitialized")


def test_every_other_task_retries_throttling_with_jittered_backoff():
    # Throttling beyond the SDK's retries answers CarveOut.NotReady (error.rs); a step that
    # does not poll retries it later, jittered: Map iterations would otherwise retry together.
    for name, state in states():
        if state["Type"] != "Task" or state["Retry"][0]["ErrorEquals"] == ["CarveOut.NotReady"]:
            continue
        if state["Resource"] == CHILD_TASK:
            continue  # a child execution: its own Tasks retry
        throttle = [r for r in state["Retry"] if r["ErrorEquals"] == ["CarveOut.NotReady"]]
        # CreateImage also waits, with consistency reboot, for the other targets' health;
        # a look retries only a look that outlasted the function.
        attempts = 20 if name == "CreateImage" else 2 if name in LOOKED else 6
        assert throttle == [{"ErrorEquals": ["CarveOut.NotReady"], "IntervalSeconds": 5, "BackoffRate": 2,
                             "MaxDelaySeconds": 60, "MaxAttempts": attempts, "JitterStrategy": "FULL"}], name


def test_every_state_after_preflight_is_caught_into_rollback():
    top = ASL["States"]
    order = ["EnterMaintenance", "StopSourceInstances", "WaitSourceStopped", "Prepare", "LaunchInstances", "CreateTargetGroup", "AttachProbeRule",
             "CheckVolumesInitialized", "WaitTargetsHealthy", "ShiftTraffic", "Cutover", "Report"]
    for name in order:
        assert top[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rollback"}], name
    assert top["Preflight"]["Catch"][0]["Next"] == "PreflightFailed", "nothing to roll back before mutations"
    # After Rollback: failed, or (past the point of no return) migrated with issues.
    assert top["Rollback"]["Next"] == "PastPointOfNoReturn?"
    after = top["PastPointOfNoReturn?"]
    assert after["Default"] == "MigrationFailed"
    assert after["Choices"] == [{"Variable": "$.rollback.status", "StringEquals": "MIGRATED_WITH_ISSUES",
                                 "Next": "MigratedWithIssues"}]
    assert top["MigratedWithIssues"] == {**top["MigratedWithIssues"], "Type": "Pass", "OutputPath": "$.rollback",
                                         "End": True}
    for name, state in states():
        if state["Type"] == "Task" and state["Resource"] != CHILD_TASK:
            assert re.fullmatch(r"\$\{[A-Za-z]+FunctionArn\}", state["Resource"]), name
            assert any({"Sandbox.Timedout", "States.ALL"} & set(r["ErrorEquals"]) for r in state["Retry"]), name


def test_the_safety_tables_in_the_docs_match_the_tests():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/safety_tables.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = (ROOT / "docs/safety.md").read_text()
    start = doc.index("-->\n", doc.index("<!-- tables:start")) + 4
    assert doc[start:doc.index("<!-- tables:end -->")] == proc.stdout, "run scripts/safety_tables.py"


def test_docs_security_names_every_grant_that_is_not_tag_conditioned():
    """docs/security.md lists every remaining grant on resources carveout did not create:
    each action of a member-role statement without a carveout tag condition (reads aside)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    role = yaml.load((ROOT / "templates/member-role.yaml").read_text(), Loader=Loader)
    doc = (ROOT / "docs/security.md").read_text()
    missing = []
    for policy in role["Resources"]["ExecutionRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            conditions = json.dumps(statement.get("Condition", {}))
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            # Tag-conditioned: on carveout's own resources (resource tag), tags written only
            # by a create, or a create that must carry the tag. A request tag alone on an
            # action that changes existing resources limits nothing.
            creates = all(a.split(":")[1].startswith(("Create", "RunInstances", "CopyImage"))
                          and a.split(":")[1] != "CreateTags" for a in actions)
            if ("aws:ResourceTag/carveout:migration-id" in conditions or "CreateAction" in conditions
                    or ("aws:RequestTag/carveout:migration-id" in conditions and creates)):
                continue
            for action in actions:
                verb = action.split(":")[1]
                if verb.startswith(("Describe", "Get", "List")) and statement["Sid"] == "Read":
                    continue
                if f"`{action}`" not in doc and f"`{verb}`" not in doc and f", {verb}" not in doc:
                    missing.append(f"{statement['Sid']}: {action}")
    assert not missing, f"docs/security.md does not list: {missing}"


def test_deploy_guide_counts_the_templates_functions():
    template = (ROOT / "template.yaml").read_text()
    count = template.count("Type: AWS::Serverless::Function\n")
    assert f"What the stack contains: {count} functions" in (ROOT / "docs/deploy.md").read_text()


def test_preflight_only_reads():
    """Nothing changes before Preflight passes: every AWS call in functions/src/steps/preflight/
    (by SDK receiver and by the IAM action it is named with) is a Describe, Get or List, or
    a call made with DryRun (EC2 checks it and answers DryRunOperation, changing nothing)."""
    calls, named = [], []
    for path in sorted((ROOT / "functions/src/steps/preflight").glob("*.rs")):
        # One statement per chunk: a chunk whose call chain sets dry_run(true) changes nothing.
        text = ";".join(c for c in path.read_text().split(";") if ".dry_run(true)" not in c)
        calls += [(path.name, m) for m in re.findall(r"\.(?:ec2|elb|ram|kms|sts|quotas)\s*\.\s*([a-z_]+)\(", text)]
        named += [(path.name, m) for m in re.findall(r'\.named\(\s*"[a-z0-9-]+:([A-Za-z]+)"', text)]
    assert len(calls) >= 10 and len(named) >= 10, "the scan found no calls: did the code move?"
    writes = [c for c in calls if not c[1].startswith(("describe_", "get_", "list_"))]
    writes += [n for n in named if not n[1].startswith(("Describe", "Get", "List"))]
    assert not writes, f"Preflight must only read: {writes}"
