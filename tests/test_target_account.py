"""End to end: the target account as AWS gives it to a migration: still being verified,
not subscribed to a Marketplace product the source carries, short of vCPU quota. Each is
found by Preflight before anything changes, waited out within a bound, or (when the plan
states something untrue) fails at launch with AWS's own reason and rolls back."""

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, client, configure, reset, run_as_planned, run_local

N, T = "111111111111", "222222222222"
CODE = "8fkdqbo2f7bzbvjpn4nf0n1aa"


def _states(events):
    return [e["state"] for e in events if e.get("event") == "StateEntered"]


def _nothing_created(plan):
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == {
        "peerings": 0, "images": 0, "instances": 0, "securityGroups": 0, "targetGroups": 0, "rules": 5}


def test_an_account_still_being_verified_is_waited_for_then_the_migration_runs(tmp_path):
    """PendingVerification is a client error every EC2 action can return while AWS verifies
    a new account (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
    Preflight's dry run of the first launch call meets it, and Preflight retries (NotReady)
    until the account answers: here after two refusals."""
    reset(**POLLING)
    plan = seed(ENDPOINT)
    configure(pendingVerification={T: 2})
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 0, err
    retried = [e for e in events if e.get("event") == "TaskError" and e.get("state") == "Preflight"]
    assert len(retried) == 2 and all("being verified" in e["cause"] for e in retried), retried
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


def test_an_account_not_verified_within_the_bound_stops_in_preflight_with_nothing_created(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT)
    configure(pendingVerification={T: 1000})
    code, out, events, _ = run_local(plan, tmp_path)
    assert code == 1
    assert "PendingVerification" in out["cause"] and "being verified" in out["cause"], out
    assert _states(events) == ["Preflight", "PreflightFailed"]
    _nothing_created(plan)


def test_a_marketplace_source_moves_into_a_subscribed_account_and_keeps_its_product_code(tmp_path):
    """Product codes travel from the image to the instance and into CreateImage; the target
    account launches only if subscribed
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/paid-amis.html)."""
    reset(**POLLING)
    plan = seed(ENDPOINT, product_codes=(CODE,))
    configure(marketplaceSubscriptions={N: [CODE], T: [CODE]})
    plan["options"] = {"marketplaceSubscriptions": [CODE]}
    code, out, _, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    new = [c["id"] for c in out["created"] if c["kind"] == "instance"]
    described = client("ec2", T).describe_instances(InstanceIds=new)["Reservations"][0]["Instances"][0]
    assert [p["ProductCodeId"] for p in described.get("ProductCodes", [])] == [CODE]


def test_a_plan_that_claims_a_subscription_the_account_lacks_fails_at_launch_and_rolls_back(tmp_path):
    """The plan lists the code but the target account never subscribed: RunInstances
    answers OptInRequired; the migration rolls back before any traffic moved and says why."""
    reset(**POLLING)
    plan = seed(ENDPOINT, product_codes=(CODE,))
    configure(marketplaceSubscriptions={N: [CODE]})
    plan["options"] = {"marketplaceSubscriptions": [CODE]}
    elb = client("elbv2", N)
    before = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    code, out, events, _ = run_local(plan, tmp_path)
    assert code == 1
    assert "OptInRequired" in out["cause"], out["cause"]
    assert "Rollback" in _states(events)
    after = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    assert after == before


@pytest.mark.parametrize("quota,ok", [(4, True), (3, False)])
def test_the_target_vcpu_quota_is_checked_against_what_runs_there_plus_the_new_instances(tmp_path, quota, ok):
    """On-Demand instances count in vCPUs per family against a Service Quotas quota
    (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html). One t3.small
    (2 vCPUs) already runs in the target account; the new one needs 2 more."""
    reset(**POLLING)
    plan = seed(ENDPOINT, vcpu_quota=quota)
    t = client("ec2", T)
    image = t.register_image(Name="other-workload", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                             BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    t.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1,
                    SubnetId=plan["target"]["subnetIds"][0])
    code, out, events, _ = run_local(plan, tmp_path)
    if ok:
        assert code == 0, out
        return
    assert code == 1 and out["error"] == "CarveOut.InvalidPlan", out
    for word in ["may run 3 vCPUs", "L-1216C47A", "2 are in use", "need 2", "at least 4"]:
        assert word in out["cause"], (word, out["cause"])
    assert _states(events) == ["Preflight", "PreflightFailed"]
