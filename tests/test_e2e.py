"""End to end: the real ASL file, run by `carveout local`, every Task the real Rust step
against the emulator; the end state is checked with independent describe calls."""

import copy
import json

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import (ENDPOINT, POLLING, client, configure, every, looks, polls, reset, run_as_planned,
                                       run_local)

N = "111111111111"


@pytest.fixture
def plan():
    reset(**POLLING)
    return seed(ENDPOINT)


def listener_actions(plan):
    elb = client("elbv2", N)
    return elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]


def source_instances(plan):
    ec2 = client("ec2", plan["source"]["accountId"])
    found = ec2.describe_instances(InstanceIds=plan["source"]["instanceIds"])["Reservations"]
    return [{k: i[k] for k in ("InstanceId", "State", "InstanceType", "Tags", "SecurityGroups", "PrivateIpAddress")}
            for r in found for i in r["Instances"]]


def assert_nothing_created(plan):
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == {
        "peerings": 0, "images": 0, "instances": 0, "securityGroups": 0, "targetGroups": 0, "rules": 5}


def test_the_whole_migration_on_the_emulator(plan, tmp_path):
    sources_before = source_instances(plan)
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    # The history the service would keep: well under its 25,000-event limit.
    assert 50 < events[-1]["historyEvents"] < 1000, events[-1]["historyEvents"]
    calls = configure()["calls"]  # before the checks below make calls of their own
    failed = [r for r in verify.check(ENDPOINT, plan) if not r[1]]
    assert not failed, failed
    assert source_instances(plan) == sources_before, "the source instance was modified"
    # The image, pending for 3 reads, is watched inside its first look (looks.rs): no
    # Retry, no second look, progress read from its snapshots.
    image_looks = looks(events, "WaitImageAvailable")
    images = sum(1 for c in out["created"] if c["kind"] == "image")
    assert len(image_looks) == images and all(look["ready"] for look in image_looks), image_looks
    assert polls(events, "WaitImageAvailable") == 0
    assert calls.get("describesnapshots", 0) >= 1, calls
    # Young waits are watched inside their first invocation (idiom::watching): the
    # emulator's pending reads (peering 1 + 2, targets 2) cost no Retry transition.
    for state in ("AcceptPeering", "WaitInstanceReady", "WaitTargetsHealthy"):
        assert polls(events, state) == 0, state
    assert calls.get("describetargethealth", 0) >= 3, calls
    # Everything created is listed in the output and carries the migration tag.
    kinds = {c["kind"] for c in out["created"]}
    assert kinds == {"vpc-peering-connection", "target-group", "image", "snapshot", "security-group", "instance"}
    assert verify.untagged(ENDPOINT, plan, out["created"]) == []
    # RAM is opt-in: the ingress rule references the ALB's group across the peering.
    assert "options" not in plan or "shareSecurityGroupWithRam" not in plan["options"]
    ram_calls = {a: n for a, n in calls.items() if "resourceshare" in a.replace("-", "")}
    assert ram_calls == {}, f"a default plan made RAM calls: {ram_calls}"


def test_a_reboot_run_enters_the_planned_states_and_succeeds(plan, tmp_path):
    """consistency reboot: the same states as live (CreateImage reboots once); the run
    enters exactly what `carveout plan` listed."""
    code, out, events, err = run_as_planned(dict(plan, consistency="reboot"), tmp_path)
    assert code == 0, err
    failed = [r for r in verify.check(ENDPOINT, plan) if not r[1]]
    assert not failed, failed


def test_a_health_check_port_other_than_the_traffic_port_is_opened_on_the_new_group(plan, tmp_path):
    """The ALB checks health on 8080 and serves on 80: the new instances' group must allow
    both from the ALB's groups, or the emulator's network path (like AWS) times the health
    check out and the migration rolls back."""
    elb, ec2 = client("elbv2", N), client("ec2", N)
    elb.modify_target_group(TargetGroupArn=plan["service"]["targetGroupArn"], HealthCheckPort="8080")
    web = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    alb = every(elb, "describe_load_balancers", "LoadBalancers")[0]["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb}]}])
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 0, err
    group = client("ec2", plan["target"]["accountId"]).describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"carveout-{plan['migrationId']}"]}])["SecurityGroups"][0]
    assert sorted(p["FromPort"] for p in group["IpPermissions"]) == [80, 8080]
    new_group = client("elbv2", N).describe_target_groups(Names=[f"carveout-{plan['migrationId']}"])["TargetGroups"][0]
    assert new_group["HealthCheckPort"] == "8080"


def test_a_launch_that_ends_terminated_rolls_back_with_the_instances_state_reason(tmp_path):
    """A key in a third account (its policy is not readable by Preflight) that the target
    account may describe but not use for EBS: the launch goes terminated with
    Client.InternalError (as on AWS), and the failure says so instead of a bare state."""
    import json as _json

    reset(**POLLING)
    plan = seed(ENDPOINT)
    third = "333333333333"
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{third}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{N}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{plan['target']['accountId']}:root"},
         "Action": "kms:DescribeKey", "Resource": "*"}]
    key = client("kms", third).create_key(Policy=_json.dumps({"Version": "2012-10-17", "Statement": statements}))
    plan["options"] = {"kmsKeyId": key["KeyMetadata"]["Arn"]}
    # `denied-…`: the IAM evaluation (tests/iam) leaves out this run's denied key use.
    plan["migrationId"] = "denied-key-launch"
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 1, err
    assert "Client.InternalError" in out["cause"] and "terminated" in out["cause"], out["cause"]
    assert "routing unchanged" in out["cause"], out["cause"]
    # The step's own error, read back from the failed child's description.
    assert out["error"] == "CarveOut.ResourceFailed", out["error"]


def _states_entered(events):
    return [e["state"] for e in events if e.get("event") == "StateEntered"]


def test_past_the_history_limit_the_execution_fails_as_the_service_fails_it(plan, tmp_path, monkeypatch):
    """Step Functions fails an execution whose history passes 25,000 events, and no Catch
    runs (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). The local
    runner counts events as the service writes them and does the same (limit lowered here
    to 80 events: the migration's own history passes it). A normal run reports its count."""
    monkeypatch.setenv("CARVEOUT_HISTORY_LIMIT", "80")
    # The watcher outwaits an invocation in flight for its Task's timeout: keep that short.
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", "30")
    code, out, events, _ = run_local(plan, tmp_path)
    result = events[-1]
    assert code == 1 and out["error"] == "States.Runtime", out
    assert "80 events" in out["cause"] and result["historyEvents"] > 80
    assert "Rollback" not in _states_entered(events), "a service limit leaves no room for a Catch"
    # No Catch ran: the watcher did what Rollback would have (tests/test_watcher.py).
    assert out["recovery"]["outcome"] == "restored", out["recovery"]


def test_a_state_input_over_the_payload_limit_fails_the_execution_without_a_catch(plan, tmp_path, monkeypatch):
    """256 KiB per state input or output (service quotas page); past it the execution fails
    with States.DataLimitExceeded, which no Catch handles (limit lowered here to 4 KiB)."""
    monkeypatch.setenv("CARVEOUT_PAYLOAD_LIMIT_BYTES", "4096")
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", "30")
    code, out, events, _ = run_local(plan, tmp_path)
    assert code == 1 and out["error"] == "States.DataLimitExceeded", out
    assert "over Step Functions' 4096-byte limit" in out["cause"]
    assert "Rollback" not in _states_entered(events)


def test_an_instance_type_offered_in_one_target_zone_launches_only_there(plan, tmp_path):
    """x8aedz.large is offered in ap-northeast-1c but not 1a (the emulator's offerings are
    AWS's, and RunInstances refuses a type the zone does not offer, as AWS does):
    Preflight keeps only the 1c subnet, and the new instance runs there. (An X type counts
    against the X vCPU quota, 0 by default: the target account has raised it.)"""
    configure(vcpuQuotas={plan["target"]["accountId"]: {"L-7295265B": 8}})
    p = dict(plan, options={"instanceType": "x8aedz.large"})
    code, out, events, err = run_as_planned(p, tmp_path)
    assert code == 0, err
    subnets = every(client("ec2", plan["target"]["accountId"]), "describe_subnets", "Subnets",
                    SubnetIds=plan["target"]["subnetIds"])
    in_c = [s["SubnetId"] for s in subnets if s["AvailabilityZone"] == "ap-northeast-1c"]
    assert [i["subnetId"] for i in out["instances"]] == in_c


def test_opting_into_ram_shares_the_albs_group_and_waits_for_every_association(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT, ram=True)
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    assert "ram-resource-share" in {c["kind"] for c in out["created"]}
    assert polls(events, "WaitShareAssociated") == 0, "a young share is watched, not polled"
    assert configure()["calls"].get("getresourceshareassociations", 0) >= 2
    ram = client("ram", N)
    share = every(ram, "get_resource_shares", "resourceShares", resourceOwner="SELF")[0]["resourceShareArn"]
    for kind in ("PRINCIPAL", "RESOURCE"):
        found = every(ram, "get_resource_share_associations", "resourceShareAssociations",
                      associationType=kind, resourceShareArns=[share])
        assert {a["status"] for a in found} == {"ASSOCIATED"}, kind
    assert verify.untagged(ENDPOINT, plan, out["created"]) == []


def test_default_key_volumes_are_copied_reencrypted_with_the_plans_key_then_shared_and_launched(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT, encrypted="aws-managed", kms_key=True)
    key = plan["options"]["kmsKeyId"]
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    # verify.check knows kmsKeyId: image + copy per instance, the copy shared, its
    # snapshots and the new instance's volumes under the plan's key.
    failed = [r for r in verify.check(ENDPOINT, plan) if not r[1]]
    assert not failed, failed
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    assert entered.index("WaitImageAvailable") < entered.index("CopyImageReEncrypted") < entered.index("ShareImage")
    assert looks(events, "WaitCopyAvailable")[-1]["ready"] is True
    images = verify.end_state(ENDPOINT, plan)["images"]
    originals = [i for i in images if not i["Name"].endswith("-reencrypted")]
    ec2 = client("ec2", N)
    assert ec2.describe_image_attribute(ImageId=originals[0]["ImageId"], Attribute="launchPermission")[
        "LaunchPermissions"] == [], "the default-key original is never shared"
    listed = {c["id"] for c in out["created"] if c["kind"] in ("image", "snapshot")}
    assert {i["ImageId"] for i in images} <= listed
    assert verify.untagged(ENDPOINT, plan, out["created"]) == []
    assert key not in {v.get("KmsKeyId") for v in every(ec2, "describe_volumes", "Volumes", Filters=[
        {"Name": "attachment.instance-id", "Values": plan["source"]["instanceIds"]}])}, \
        "the source's volumes keep their key"


def test_an_existing_active_peering_is_reused_and_left_in_place(plan, tmp_path):
    # Someone peered the two VPCs before, from the target side: AWS allows one peering per
    # pair of VPCs, so carveout must use that one (routes through it) and never delete it.
    ec2n, ec2t = client("ec2", N), client("ec2", plan["target"]["accountId"])
    vpc = every(client("elbv2", N), "describe_load_balancers", "LoadBalancers")[0]["VpcId"]
    pcx = ec2t.create_vpc_peering_connection(VpcId=plan["target"]["vpcId"], PeerVpcId=vpc, PeerOwnerId=N)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    for _ in range(5):  # the emulator's eventual consistency (POLLING) hides it at first
        try:
            ec2n.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
            break
        except ec2n.exceptions.ClientError:
            continue
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 0, err
    live = [p for p in every(ec2n, "describe_vpc_peering_connections", "VpcPeeringConnections")
            if p["Status"]["Code"] not in ("deleted", "rejected", "failed", "expired")]
    assert [p["VpcPeeringConnectionId"] for p in live] == [pcx], "no second peering"
    assert not any(t["Key"].startswith("carveout:") for t in live[0].get("Tags", [])), "not claimed as ours"
    for ec2, vpc_id in ((ec2n, vpc), (ec2t, plan["target"]["vpcId"])):
        tables = every(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        routes = [r for t in tables for r in t["Routes"] if r.get("VpcPeeringConnectionId")]
        assert routes and all(r["VpcPeeringConnectionId"] == pcx for r in routes)
    assert "vpc-peering-connection" not in {c["kind"] for c in out["created"]}, "cleanup must never remove it"
    checks = [r for r in verify.check(ENDPOINT, plan) if not r[1] and "peering" not in r[0] and "route" not in r[0]]
    assert not checks, checks


def test_running_the_same_plan_again_creates_nothing_new(plan, tmp_path):
    code, first, _, err = run_local(plan, tmp_path)
    assert code == 0, err
    before = verify.counts(verify.end_state(ENDPOINT, plan))
    code, second, events, err = run_local(plan, tmp_path)
    assert code == 0, err
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == before
    assert [i["instanceId"] for i in second["instances"]] == [i["instanceId"] for i in first["instances"]]
    assert second["targetGroupArn"] == first["targetGroupArn"]
    assert sorted(map(json.dumps, second["created"])) == sorted(map(json.dumps, first["created"]))
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


def test_overlapping_cidrs_fail_in_preflight_naming_both_and_create_nothing(tmp_path):
    reset(**POLLING)
    plan = seed(ENDPOINT, target_cidr="10.0.0.0/16")
    code, out, events, _ = run_local(plan, tmp_path)
    assert code == 1
    assert out["error"] == "CarveOut.InvalidPlan"
    assert "10.0.0.0/16" in out["cause"] and out["cause"].count("10.0.0.0/16") == 2
    assert not any(e.get("state") == "Prepare" for e in events)
    assert_nothing_created(plan)


def test_a_cutover_refused_before_it_changes_anything_leaves_the_listener_exactly_as_before(plan, tmp_path):
    """ModifyListener refused: nothing moved, so Rollback keeps the original action and
    removes the probe rule. (Its answer lost after the change went through is past the
    point of no return: tests/test_point_of_no_return.py.)"""
    before = listener_actions(plan)
    sources_before = source_instances(plan)
    configure(faults=[{"action": "ModifyListener", "code": "ValidationError", "status": 400,
                       "message": "injected at cutover", "when": "before", "count": 1}])
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 1, err
    assert out["error"] == "CarveOut.ResourceFailed"
    assert "injected at cutover" in out["cause"] and "unchanged" in out["cause"]
    assert any(e["event"] == "StateEntered" and e.get("state") == "Rollback" for e in events)
    assert listener_actions(plan) == before
    assert source_instances(plan) == sources_before
    rules = every(client("elbv2", N), "describe_rules", "Rules", ListenerArn=plan["service"]["listenerArn"])
    assert not [r for r in rules if any(c["Field"] == "http-header" for c in r["Conditions"])], "probe rule left"


def test_targets_that_never_get_healthy_roll_back_without_cutover(plan, tmp_path):
    before = listener_actions(plan)
    configure(targetsUnhealthy=True)
    code, out, events, _ = run_local(plan, tmp_path)
    assert code == 1
    assert out["error"] == "CarveOut.ResourceFailed"
    assert "deadline exceeded" in out["cause"] and "unhealthy" in out["cause"]
    assert not any(e.get("state") == "Cutover" for e in events)
    assert listener_actions(plan) == before


def stop_source(plan, **options):
    plan = copy.deepcopy(plan)
    plan["consistency"] = "stop-source"
    plan["options"] = {**plan.get("options", {}), **options}
    return plan


def source_states(plan):
    return [i["State"]["Name"] for i in source_instances(plan)]


def test_stop_source_answers_503_stops_images_and_cuts_over_reporting_the_downtime(plan, tmp_path):
    p = stop_source(plan, maintenanceBody="moving house, back in a minute", preImage=False)
    code, out, events, err = run_as_planned(p, tmp_path)
    assert code == 0, err
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    assert "PreImageEachInstance" not in entered, "options.preImage false: one image, after the stop"
    assert entered.index("EnterMaintenance") < entered.index("StopSourceInstances") < entered.index("CreateImage")
    maintenance = next(e["output"]["maintenance"] for e in events
                       if e.get("event") == "StateExited" and e.get("state") == "EnterMaintenance")
    assert maintenance["actions"][0]["FixedResponseConfig"] == {
        "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "moving house, back in a minute"}
    assert source_states(plan) == ["stopped"], "the source stays stopped and intact"
    failed = [r for r in verify.check(ENDPOINT, p) if not r[1]]
    assert not failed, failed
    assert out["downtimeSeconds"] >= 0
    forwarded = {t["TargetGroupArn"] for a in listener_actions(plan)
                 for t in a.get("ForwardConfig", {}).get("TargetGroups", [])} | {
        a.get("TargetGroupArn") for a in listener_actions(plan) if a.get("TargetGroupArn")}
    assert plan["service"]["targetGroupArn"] not in forwarded and len(forwarded) == 1


def test_stop_source_takes_a_pre_image_while_serving_so_the_downtime_image_copies_only_what_changed(plan, tmp_path):
    # EBS snapshots after a volume's first are incremental
    # (https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html): the
    # emulator times each snapshot by the MiB it copies, 2 % of the volume after the first.
    configure(snapshotMiBPerSecond=4096, snapshotChangedPercent=2)
    p = stop_source(plan)
    code, out, events, err = run_as_planned(p, tmp_path)
    assert code == 0, err
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    creates = [i for i, s in enumerate(entered) if s == "CreateImage"]
    assert len(creates) == 2, entered
    # The pre-image is taken and available before anything changes for the service.
    assert creates[0] < entered.index("PreImageTaken") < entered.index("EnterMaintenance") \
        < entered.index("StopSourceInstances") < creates[1], entered
    ec2 = client("ec2", N)
    source = plan["source"]["instanceIds"][0]
    name = f"carveout-{plan['migrationId']}-{source}"
    images = {i["Name"]: i for i in every(ec2, "describe_images", "Images", Owners=["self"])}
    # The image after the stop is named per execution (a new execution takes a new one).
    after = [n for n in images if n.startswith(f"{name}-") and n != f"{name}-pre"]
    assert len(after) == 1 and after[0][len(name) + 1:].isdigit(), sorted(images)
    snapshot = {n: images[n]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] for n in (f"{name}-pre", after[0])}
    copied = configure()["snapshotMiB"]
    full, changed = copied[snapshot[f"{name}-pre"]], copied[snapshot[after[0]]]
    assert changed == full * 0.02, (full, changed)
    # What is launched comes from the image after the stop, never the pre-image.
    assert {i["imageId"] for i in out["instances"]} == {images[after[0]]["ImageId"]}
    assert out["downtimeSeconds"] >= 0 and source_states(plan) == ["stopped"]
    failed = [r for r in verify.check(ENDPOINT, p) if not r[1]]
    assert not failed, failed


def test_a_failed_stop_source_migration_restarts_the_source_and_restores_routing(plan, tmp_path):
    before = listener_actions(plan)
    configure(faults=[{"action": "RunInstances", "code": "InsufficientInstanceCapacity", "status": 400}])
    code, out, events, err = run_local(stop_source(plan), tmp_path)
    assert code == 1, err
    assert "EnterMaintenance" in [e.get("state") for e in events]
    assert listener_actions(plan) == before, "the listener must forward exactly as before"
    assert source_states(plan) in (["running"], ["pending"]), "the source must be started again"
    assert "restored" in out["cause"] and "restarted" in out["cause"]


def test_stop_source_refuses_a_gradual_cutover_before_anything_changes(plan, tmp_path):
    code, out, _, _ = run_local(stop_source(plan, trafficShift=[10, 100]), tmp_path)
    assert code == 1 and out["error"] == "CarveOut.InvalidPlan"
    assert "stop-source" in out["cause"]
    assert_nothing_created(plan)


def test_a_task_without_a_local_step_is_refused(plan, tmp_path):
    from carveout_emulator.testing import BIN_DIR, ROOT
    import subprocess

    asl = json.loads((ROOT / "statemachine/carveout.asl.json").read_text())
    asl["States"]["Preflight"]["Resource"] = "${SomethingElseFunctionArn}"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(asl))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    proc = subprocess.run([str(BIN_DIR / "carveout"), "local", "--plan", str(tmp_path / "plan.json"),
                           "--endpoint", ENDPOINT, "--asl", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Task Preflight" in proc.stdout and "has no handler" in proc.stdout
    assert_nothing_created(plan)


def gradual(plan, steps=(10, 50, 100)):
    plan = copy.deepcopy(plan)
    plan["options"] = {**plan.get("options", {}), "trafficShift": list(steps), "shiftIntervalSeconds": 1,
                       "stateless": True}
    return plan


def shift_outputs(events):
    """The weighted steps made (a Shift that failed exits into its child's catch, without one)."""
    return [e["output"]["shift"] for e in events
            if e.get("event") == "StateExited" and e.get("state") == "Shift" and "shift" in (e.get("output") or {})]


def test_a_gradual_cutover_moves_traffic_in_weighted_health_checked_steps(plan, tmp_path):
    code, out, events, err = run_as_planned(gradual(plan), tmp_path)
    assert code == 0, err
    steps = shift_outputs(events)
    assert [(s["percent"], s["changed"]) for s in steps] == [(10, True), (50, True)], "each step changed the listener"
    old = plan["service"]["targetGroupArn"]
    first = {g["TargetGroupArn"]: g["Weight"] for g in steps[0]["actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert first[old] == 9 and sorted(first.values()) == [1, 9]
    half = {g["TargetGroupArn"]: g["Weight"] for g in steps[1]["actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert sorted(half.values()) == [1, 1]
    # Each step was held and checked before the next.
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    assert entered.count("HoldShift") == 2 and entered.count("CheckShift") == 2
    assert entered.index("CheckShift") < len(entered) - 1 - entered[::-1].index("Shift")
    failed = [r for r in verify.check(ENDPOINT, plan) if not r[1]]
    assert not failed, failed
    forwarded = {g for a in listener_actions(plan) for g in [a.get("TargetGroupArn")] +
                 [t["TargetGroupArn"] for t in a.get("ForwardConfig", {}).get("TargetGroups", [])] if g}
    assert old not in forwarded and len(forwarded) == 1


def test_targets_failing_under_real_traffic_end_the_hold_early_and_restore_the_original(plan, tmp_path):
    # The new targets pass the probe, then fail once the first weighted step sends them
    # traffic. The step's 30 s hold is two 15 s parts, each followed by a check: the first
    # check ends the migration, the second is never made. (aws-local-stepfunctions enters
    # the next iteration's Wait before the failed one ends the Map; AWS does not.)
    before = listener_actions(plan)
    configure(targetsUnhealthyUnderTraffic=True)
    p = gradual(plan, steps=(10, 100))
    p["options"]["shiftIntervalSeconds"] = 30
    code, out, events, err = run_local(p, tmp_path)
    assert code == 1, err
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    assert entered.count("CheckShift") == 1, entered
    assert "unhealthy" in out["cause"] and "restored" in out["cause"]
    assert [s["percent"] for s in shift_outputs(events)] == [10]
    assert listener_actions(plan) == before, "the listener must forward exactly as before"


def test_a_failure_during_a_gradual_cutover_restores_the_original_action_exactly(plan, tmp_path):
    before = listener_actions(plan)
    sources_before = source_instances(plan)
    # The first weighted step goes through; the second ModifyListener fails.
    configure(faults=[{"action": "ModifyListener", "code": "ValidationError", "status": 400, "skip": 1}])
    code, out, events, err = run_local(gradual(plan), tmp_path)
    assert code == 1, err
    assert [s["percent"] for s in shift_outputs(events)] == [10]
    assert "Rollback" in [e.get("state") for e in events]
    assert listener_actions(plan) == before, "the listener must forward exactly as before"
    assert source_instances(plan) == sources_before
    assert "restored" in out["cause"]


def test_a_share_whose_resource_association_failed_is_not_waited_on_forever(tmp_path):
    """The principal can be ASSOCIATED while a resource association FAILED: the share is
    useless, WaitShareAssociated fails with the entity named, and Rollback restores routing.
    https://docs.aws.amazon.com/ram/latest/APIReference/API_ResourceShareAssociation.html"""
    reset(**POLLING, shareResourceAssociationFails=True)
    plan = seed(ENDPOINT, ram=True)
    before = listener_actions(plan)
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 1, err
    assert out["error"] == "CarveOut.ResourceFailed" and "security-group/" in out["cause"] and "FAILED" in out["cause"]
    assert any(e["event"] == "StateEntered" and e["state"] == "Rollback" for e in events)
    assert listener_actions(plan) == before


def test_a_step_past_its_function_timeout_fails_as_lambda_reports_it_and_is_retried(plan, tmp_path, monkeypatch):
    """The local runner enforces each function's Timeout (template.yaml) as Lambda does; the
    ASL retries the timeout (every step is idempotent) and, once retries are spent, Preflight
    ends the run with nothing created.
    https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html"""
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", "0.001")
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 1, err
    timeouts = [e for e in events if e["event"] == "TaskError" and e["state"] == "Preflight"]
    assert timeouts and {e["error"] for e in timeouts} == {"Sandbox.Timedout"}
    assert "Task timed out after 0.00 seconds" in timeouts[0]["cause"]
    assert sum(1 for e in events if e["event"] == "StateRetried" and e.get("state") == "Preflight") == 3
    assert any(e["event"] == "StateEntered" and e["state"] == "PreflightFailed" for e in events)
    assert_nothing_created(plan)
