"""The point of no return: once every request goes to the new targets, the new copy may
have taken writes the old one never saw. A failure after that (Cutover's answer lost, the
probe rule's removal refused, a step after it) never moves traffic back nor restarts a
stopped source: the execution ends MIGRATED_WITH_ISSUES, saying what failed and what is
left. Before it, Rollback restores routing exactly (tests/test_faults.py)."""

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, cli, client, configure, reset, run_local

N = "111111111111"

# (consistency, API action whose answer is lost, calls of it to let through first)
AFTER_CUTOVER = [
    ("live", "ModifyListener", 0),        # the cutover itself went through, its answer lost
    ("live", "DeleteRule", 0),            # the cutover done, the probe rule's removal fails
    ("stop-source", "ModifyListener", 1),  # past EnterMaintenance's own ModifyListener
]


def forwarded(plan):
    actions = client("elbv2", N).describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0][
        "DefaultActions"]
    return {t["TargetGroupArn"] for a in actions for t in a.get("ForwardConfig", {}).get("TargetGroups", [])
            if t.get("Weight", 1) > 0} | {a["TargetGroupArn"] for a in actions if a.get("TargetGroupArn")}


@pytest.mark.parametrize("consistency,action,skip", AFTER_CUTOVER, ids=[f"{c}-{a}" for c, a, _ in AFTER_CUTOVER])
def test_a_failure_past_the_point_of_no_return_never_moves_traffic_back(tmp_path, consistency, action, skip):
    reset(**POLLING)
    plan = seed(ENDPOINT, consistency=consistency)
    configure(faults=[{"action": action, "code": "ValidationError", "status": 400, "when": "after",
                       "skip": skip, "message": f"lost answer of {action}"}])
    rc, out, events, err = run_local(plan, tmp_path)
    configure(faults=[])
    assert rc == 3, ("MIGRATED_WITH_ISSUES exits 3", err[-2000:])
    assert any(e["event"] == "TaskError" and e["state"] == "Cutover" for e in events), "the fault missed Cutover"
    assert any(e["event"] == "StateEntered" and e["state"] == "Rollback" for e in events)
    assert out["status"] == "MIGRATED_WITH_ISSUES", out
    assert "point of no return" in out["routing"] and f"lost answer of {action}" in out["cause"]
    new_group = next(c["id"] for c in out["created"] if c["kind"] == "target-group")
    assert forwarded(plan) == {new_group}, "traffic must stay on the new targets"
    sources = client("ec2", plan["source"]["accountId"]).describe_instances(
        InstanceIds=plan["source"]["instanceIds"])["Reservations"][0]["Instances"]
    expected = "stopped" if consistency == "stop-source" else "running"
    assert {i["State"]["Name"] for i in sources} == {expected}, "a stopped source stays stopped"
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


def test_going_back_is_a_deliberate_command_that_says_what_it_costs(tmp_path):
    """After the point of no return only `carveout revert` moves traffic back: a dry run
    names the costs and changes nothing; --yes starts the stopped source, waits until the
    original targets are healthy and puts the saved original action back."""
    import json

    reset(**POLLING)
    plan = seed(ENDPOINT, consistency="stop-source")
    rc, out, _, err = run_local(plan, tmp_path)
    assert rc == 0, err
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    args = ("revert", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT)
    dry = cli(*args)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for words in ("writes the new copy took since the cutover", "started first", "Nothing changed"):
        assert words in dry.stdout, dry.stdout
    assert forwarded(plan) != {plan["service"]["targetGroupArn"]}
    done = cli(*args, "--yes", "--wait-seconds", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert forwarded(plan) == {plan["service"]["targetGroupArn"]}
    sources = client("ec2", plan["source"]["accountId"]).describe_instances(
        InstanceIds=plan["source"]["instanceIds"])["Reservations"][0]["Instances"]
    assert {i["State"]["Name"] for i in sources} <= {"pending", "running"}
    again = cli(*args)
    assert again.returncode == 1 and "nothing to revert" in again.stdout, again.stdout
