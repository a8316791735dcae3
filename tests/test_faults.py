"""Failure injected at every mutating step (the AWS call goes through, its answer is lost:
the worst case), then the invariants of docs/design.md §4: the listener forwards exactly as
before, the source instance is untouched, everything created is tagged and listed in the
failure output. Then the same migration started again finishes without duplicates.
Throttling bursts are absorbed by the SDK's retries."""

import json

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, cli, client, configure, reset, run_local

N = "111111111111"
ONE_OF_EACH = {"peerings": 1, "images": 1, "instances": 1, "securityGroups": 1, "targetGroups": 1, "rules": 5}

# (step, API action whose answer is lost, error code, HTTP status)
FAULT_POINTS = [
    ("CreatePeering", "CreateVpcPeeringConnection", "InvalidParameterValue", 400),
    ("AcceptPeering", "AcceptVpcPeeringConnection", "InvalidParameterValue", 400),
    ("AddRoutes", "CreateRoute", "InvalidParameterValue", 400),
    ("ShareSecurityGroup", "CreateResourceShare", "InvalidParameterException", 400),
    ("CreateImage", "CreateImage", "InvalidParameterValue", 400),
    ("ShareImage", "ModifyImageAttribute", "InvalidParameterValue", 400),
    ("LaunchInstance", "AuthorizeSecurityGroupIngress", "InvalidParameterValue", 400),
    ("LaunchInstance", "RunInstances", "InvalidParameterValue", 400),
    ("CreateTargetGroup", "CreateTargetGroup", "ValidationError", 400),
    ("CreateTargetGroup", "RegisterTargets", "ValidationError", 400),
    ("AttachProbeRule", "CreateRule", "ValidationError", 400),
    # Cutover's lost answers come after the point of no return: tests/test_point_of_no_return.py.
    ("CopyImageReEncrypted", "CopyImage", "InvalidParameterValue", 400),
    ("ShareImage", "ModifySnapshotAttribute", "InvalidParameterValue", 400),
    ("EnterMaintenance", "ModifyListener", "ValidationError", 400),
    ("StopSourceInstances", "StopInstances", "InvalidParameterValue", 400),
    ("Shift", "ModifyListener", "ValidationError", 400),
]
# Fault points on the re-encryption path, the RAM share, stop-source and the gradual shift
# run on a plan that takes them.
SEED = {"CopyImageReEncrypted": {"encrypted": "aws-managed", "kms_key": True}, "ShareSecurityGroup": {"ram": True},
        "EnterMaintenance": {"consistency": "stop-source"}, "StopSourceInstances": {"consistency": "stop-source"}}
OPTIONS = {"Shift": {"trafficShift": [50, 100], "shiftIntervalSeconds": 1, "stateless": True}}


def two_images(step):
    """The re-encrypted copy beside its image; stop-source's pre-image beside the image
    taken after the stop (options.preImage, on by default)."""
    return step == "CopyImageReEncrypted" or SEED.get(step, {}).get("consistency") == "stop-source"


def observe(plan):
    elb, ec2 = client("elbv2", N), client("ec2", plan["source"]["accountId"])
    sources = ec2.describe_instances(InstanceIds=plan["source"]["instanceIds"])["Reservations"]
    return {
        "listener": elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"],
        "sources": [{k: i[k] for k in ("InstanceId", "State", "InstanceType", "Tags", "SecurityGroups")}
                    for r in sources for i in r["Instances"]],
    }


@pytest.mark.parametrize("step,action,code,status", FAULT_POINTS, ids=[f"{s}-{a}" for s, a, _, _ in FAULT_POINTS])
def test_a_lost_answer_at_each_mutating_step_keeps_the_invariants_and_a_rerun_converges(tmp_path, step, action, code, status):
    reset(**POLLING)
    plan = seed(ENDPOINT, **SEED.get(step, {}))
    if step in OPTIONS:
        plan["options"] = {**plan.get("options", {}), **OPTIONS[step]}
    converged = ONE_OF_EACH | ({"images": 2} if two_images(step) else {})
    before = observe(plan)
    configure(faults=[{"action": action, "code": code, "status": status, "when": "after", "message": f"lost answer of {action}"}])
    rc, out, events, err = run_local(plan, tmp_path)
    assert rc == 1, err
    assert f"lost answer of {action}" in out["cause"]
    assert any(e["event"] == "TaskError" and e["state"] == step for e in events), f"the fault did not hit {step}"
    assert any(e["event"] == "StateEntered" and e["state"] == "Rollback" for e in events)
    assert observe(plan) == before, "the listener or the source instance changed"
    rollback = next(e["output"]["rollback"] for e in events if e["event"] == "StateExited" and e.get("state") == "Rollback")
    listed = rollback["created"]
    assert verify.untagged(ENDPOINT, plan, listed) == []
    held = verify.counts(verify.end_state(ENDPOINT, plan))
    kinds = [c["kind"] for c in listed]
    assert held["instances"] == kinds.count("instance") and held["images"] == kinds.count("image")
    assert held["peerings"] == kinds.count("vpc-peering-connection") and held["targetGroups"] == kinds.count("target-group")

    configure(faults=[])
    if SEED.get(step, {}).get("consistency") == "stop-source":
        # Rollback started the stopped source; EC2's next read of it may still show it
        # stopped (eventual consistency, the emulator's stateChangeStaleReads), and
        # Preflight refuses a stopped source without changing anything. Check the plan
        # first, as an operator does, until a read shows the source running.
        for _ in range(3):
            if cli("plan", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT).returncode == 0:
                break
    rc, out, _, err = run_local(plan, tmp_path)
    assert rc == 0, err
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == converged
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


def test_throttling_and_5xx_bursts_are_absorbed(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT)
    configure(faults=[
        {"action": "RunInstances", "code": "RequestLimitExceeded", "status": 503, "count": 3},
        {"action": "CreateRoute", "code": "RequestLimitExceeded", "status": 503, "count": 2},
        {"action": "DescribeImages", "code": "InternalError", "status": 500, "count": 2, "skip": 1},
        {"action": "ModifyListener", "code": "Throttling", "status": 400, "count": 2},
    ])
    rc, out, events, err = run_local(plan, tmp_path)
    assert rc == 0, err
    assert not any(e["event"] == "TaskError" and "Limit" in e.get("cause", "") for e in events)
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


# A function that runs out of time at each mutating step, with its AWS call done: the
# answer is held past the step's budget (the runner's function timeout, lowered here), so
# the step answers CarveOut.NotReady 5 s before Lambda would kill it
# (functions/src/runtime.rs `within_deadline`) and the state runs it again. The step is
# idempotent: the run finishes with one of each resource. Cutover included: its retry finds
# the listener already moved.
TIMEOUT_POINTS = [(step, action) for step, action, _, _ in FAULT_POINTS] + [("Cutover", "ModifyListener")]
STEP_TIMEOUT_SECONDS = 10


@pytest.mark.parametrize("step,action", TIMEOUT_POINTS, ids=[f"{s}-{a}" for s, a in TIMEOUT_POINTS])
def test_a_function_timeout_at_each_mutating_step_is_retried_and_converges(tmp_path, monkeypatch, step, action):
    reset(**POLLING)
    plan = seed(ENDPOINT, **SEED.get(step, {}))
    if step in OPTIONS:
        plan["options"] = {**plan.get("options", {}), **OPTIONS[step]}
    converged = ONE_OF_EACH | ({"images": 2} if two_images(step) else {})
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", str(STEP_TIMEOUT_SECONDS))
    # EnterMaintenance's ModifyListener comes first in stop-source; Cutover's is the next.
    skip = 1 if step == "Cutover" and SEED.get(step, {}).get("consistency") == "stop-source" else 0
    configure(faults=[{"action": action, "code": "", "when": "after", "skip": skip,
                       "delay": STEP_TIMEOUT_SECONDS - 3}])
    rc, out, events, err = run_local(plan, tmp_path)
    configure(faults=[])
    assert rc == 0, (out, err[-2000:])
    assert any(e["event"] == "TaskError" and e["state"] == step and "did not finish within" in e.get("cause", "")
               for e in events), f"{step} did not run out of time"
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == converged
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]
