"""Each step binary against the emulator, in workflow order: what it changes (checked with
independent describe calls), that a second invocation with the same input gives the same
answer and creates nothing, and that the Wait steps answer CarveOut.NotReady until ready (a young wait is watched until ready)."""

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, client, configure, every, reset, step

N, T = "111111111111", "222222222222"


def settled(name, payload, tries=5):
    """One step as its state runs it: an answer of NotReady because EC2 does not show a
    just-created id yet (the emulator's eventual consistency, on by default) is retried,
    as the state's Retry does; anything else is returned as it came."""
    for _ in range(tries):
        answer = step(name, payload)
        if not (answer.get("errorType") == "CarveOut.NotReady" and "not visible yet" in answer.get("errorMessage", "")):
            return answer
    return answer


def ok(name, payload):
    answer = settled(name, payload)
    assert "ok" in answer, f"{name}: {answer}"
    return answer["ok"]


def timeless(answer):
    """An answer without when it was given (`…AtMs`, or a bare epoch-ms answer): the start
    of the next wait, not part of what was done."""
    if isinstance(answer, dict):
        return {k: timeless(v) for k, v in answer.items() if not k.endswith("AtMs")}
    if isinstance(answer, list):
        return [timeless(v) for v in answer]
    if isinstance(answer, int) and not isinstance(answer, bool) and answer > 10**12:
        return "epoch ms"
    return answer


def twice(name, payload):
    """Idempotency: the same input twice gives the same result and no second resource."""
    first = ok(name, payload)
    counts = verify.counts(verify.end_state(ENDPOINT, payload["plan"]))
    assert timeless(ok(name, payload)) == timeless(first), f"{name} answered differently the second time"
    assert verify.counts(verify.end_state(ENDPOINT, payload["plan"])) == counts, f"{name} created a duplicate"
    return first


def watched_then_ok(name, payload, key, since):
    """A Retry-polled wait (idiom::watching): without its start (`payload[key][since]`, a
    state from before it was recorded) one read answers NotReady for the state's Retry;
    with it, the young wait is watched inside one invocation until ready (the emulator
    holds it in its transitional phase for some reads); then the same result every time."""
    assert payload[key].get(since), f"{name}: no {key}.{since} to watch from"
    old = {**payload, key: {k: v for k, v in payload[key].items() if k != since}}
    answer = step(name, old)
    assert answer.get("errorType") == "CarveOut.NotReady", f"{name}: {answer}"
    return twice(name, payload)


def looked_until_ready(name, payload, most=8):
    """A predicted poll (looks.rs): each look answers the image with its `look`; when not
    ready, the next look gets the answer back (as the state machine's Wait passes it on)
    after `nextPollSeconds`, until ready; a look at a ready image answers the same image."""
    answers = [ok(name, payload)]
    while not answers[-1]["look"]["ready"] and len(answers) < most:
        assert answers[-1]["look"]["nextPollSeconds"] > 0, answers[-1]
        answers.append(ok(name, {**payload, "image": answers[-1]}))
    ready = answers[-1]
    assert ready["look"]["ready"], f"{name} never got ready: {ready}"
    again = ok(name, {**payload, "image": ready})
    assert {**again, "look": None} == {**ready, "look": None} and again["look"]["ready"]
    return ready, len(answers)


def test_steps_one_by_one_are_idempotent_and_poll():
    reset()
    plan = seed(ENDPOINT)
    # The image pending for more reads than one look watches: a second look.
    configure(imagePendingPolls=150, peeringAcceptNotFound=1, peeringProvisioningPolls=6, shareAssociatingPolls=1,
              instancePendingPolls=1, targetInitialPolls=1)
    empty = verify.counts(verify.end_state(ENDPOINT, plan))

    facts = twice("preflight", {"plan": plan})["facts"]
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == empty, "preflight changed something"
    assert facts["network"]["cidrs"] == ["10.0.0.0/16"] and facts["target"]["cidrs"] == ["10.1.0.0/16"]
    assert facts["service"]["originalActions"][0]["TargetGroupArn"] == plan["service"]["targetGroupArn"]
    assert facts["instances"][0]["port"] == 80 and facts["options"]["noReboot"] is True
    st = {"plan": plan, "facts": facts}

    st["peering"] = twice("create-peering", st)
    pcx = st["peering"]["peeringConnectionId"]
    # Not yet visible to the accepter for one read, then provisioning for some: accepted
    # and watched until active inside the invocation.
    st["peering"] = watched_then_ok("accept-peering", st, "peering", "changedAtMs")
    assert client("ec2", N).describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])[
        "VpcPeeringConnections"][0]["Status"]["Code"] == "active"
    st["routes"] = twice("add-routes", st)
    assert {(r["accountId"], r["destinationCidr"]) for r in st["routes"]} == {(N, "10.1.0.0/16"), (T, "10.0.0.0/16")}
    tables = every(client("ec2", T), "describe_route_tables", "RouteTables", RouteTableIds=facts["target"]["routeTableIds"])
    assert any(r.get("VpcPeeringConnectionId") == pcx for t in tables for r in t["Routes"])

    st["share"] = twice("share-security-group", st)
    watched_then_ok("wait-share-associated", st, "share", "sharedAtMs")
    shared = every(client("ram", T), "list_resources", "resources", resourceOwner="OTHER-ACCOUNTS")
    assert [r["arn"].split("/")[-1] for r in shared] == facts["network"]["securityGroupIds"]

    it = {"plan": plan, "facts": facts, "sourceInstance": facts["instances"][0]}
    it["image"] = twice("create-image", it)
    it["image"], looks = looked_until_ready("wait-image-available", it)
    assert looks >= 2, "a look watches at most 180 s and the image stays pending for 150 reads: a second look"
    assert it["image"]["snapshotIds"], "snapshots are read once the image is available"
    image = twice("share-image", it)
    assert client("ec2", T).describe_images(ImageIds=[image["imageId"]])["Images"]

    # As the launch Map passes it: the shared facts, its own source instance, the peering.
    shared = {k: v for k, v in facts.items() if k not in ("instances", "checks")}
    launch = {"plan": plan, "facts": shared, "peering": st["peering"], "sourceInstance": facts["instances"][0],
              "image": image, "index": 0}
    launch["launched"] = twice("launch-instance", launch)
    launched = watched_then_ok("wait-instance-ready", launch, "launched", "launchedAtMs")
    inst = client("ec2", T).describe_instances(InstanceIds=[launched["instanceId"]])["Reservations"][0]["Instances"][0]
    src = client("ec2", N).describe_instances(InstanceIds=[launched["sourceInstanceId"]])["Reservations"][0]["Instances"][0]
    assert inst["MetadataOptions"]["HttpTokens"] == src["MetadataOptions"]["HttpTokens"], "copied, not forced"
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["Name"] == "hp" and tags["carveout:migration-id"] == plan["migrationId"]
    assert tags["carveout:source-instance-id"] == plan["source"]["instanceIds"][0]

    st.update(instances=[launched])
    st["targetGroup"] = twice("create-target-group", st)
    assert st["targetGroup"]["registeredAtMs"] > 0, "created, then the new targets registered"
    health = client("elbv2", N).describe_target_health(TargetGroupArn=st["targetGroup"]["targetGroupArn"])
    assert [d["Target"]["Id"] for d in health["TargetHealthDescriptions"]] == [launched["privateIp"]]
    tg = client("elbv2", N).describe_target_groups(TargetGroupArns=[st["targetGroup"]["targetGroupArn"]])["TargetGroups"][0]
    assert (tg["TargetType"], tg["HealthCheckPath"], tg["HealthyThresholdCount"]) == ("ip", "/healthz", 3)
    st["probeRule"] = twice("attach-probe-rule", st)
    watched_then_ok("wait-targets-healthy", st, "targetGroup", "registeredAtMs")

    cut = ok("cutover", st)
    assert cut["changed"] is True and cut["probeRuleRemoved"] is True
    again = ok("cutover", st)
    assert again["changed"] is False and again["probeRuleRemoved"] is False
    actions = client("elbv2", N).describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    assert actions[0]["TargetGroupArn"] == st["targetGroup"]["targetGroupArn"]


def test_rollback_restores_the_saved_action_and_removes_the_probe_rule():
    reset()
    plan = seed(ENDPOINT)
    elb = client("elbv2", N)
    before = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    facts = ok("preflight", {"plan": plan})["facts"]
    # A launched instance as the launch Map answers it (a private IP of the target VPC).
    launched = {"sourceInstanceId": plan["source"]["instanceIds"][0], "instanceId": "i-0new", "imageId": "ami-1",
                "subnetId": plan["target"]["subnetIds"][0], "privateIp": "10.1.10.99", "securityGroupId": "sg-0new",
                "port": 80}
    st = {"plan": plan, "facts": facts, "instances": [launched]}
    st["targetGroup"] = ok("create-target-group", st)
    ok("attach-probe-rule", st)
    # As if a gradual step (10 % on the new group) had been set and then failed: before
    # the point of no return, so the original comes back.
    new_group = st["targetGroup"]["targetGroupArn"]
    weighted = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": plan["service"]["targetGroupArn"], "Weight": 90}, {"TargetGroupArn": new_group, "Weight": 10}]}}
    elb.modify_listener(ListenerArn=plan["service"]["listenerArn"], DefaultActions=[weighted])
    st["error"] = {"Error": "CarveOut.ResourceFailed", "Cause": "injected"}
    out = ok("rollback", st)
    assert out["routing"].startswith("restored") and out["probeRuleRemoved"] is True
    assert out["error"]["Error"] == "CarveOut.ResourceFailed"
    assert {"target-group"} <= {c["kind"] for c in out["created"]}
    after = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    assert after == before
    assert ok("rollback", st)["routing"].startswith("unchanged")
    # Every request on the new group: past the point of no return, nothing moves back.
    whole = [{"Type": "forward", "TargetGroupArn": new_group}]
    elb.modify_listener(ListenerArn=plan["service"]["listenerArn"], DefaultActions=whole)
    past = ok("rollback", st)
    assert past["status"] == "MIGRATED_WITH_ISSUES" and "point of no return" in past["routing"], past
    forwards = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    assert [a.get("TargetGroupArn") for a in forwards] == [new_group]


def test_rollback_does_not_overwrite_a_change_made_outside_carveout():
    reset()
    plan = seed(ENDPOINT)
    elb = client("elbv2", N)
    facts = ok("preflight", {"plan": plan})["facts"]
    other = elb.create_target_group(Name="someone-else", Protocol="HTTP", Port=80, VpcId=facts["network"]["vpcId"])[
        "TargetGroups"][0]["TargetGroupArn"]
    elb.modify_listener(ListenerArn=plan["service"]["listenerArn"], DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])
    out = ok("rollback", {"plan": plan, "facts": facts, "error": {"Error": "X", "Cause": "y"}})
    assert out["routing"].startswith("left as is")
    now = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]
    assert now[0]["TargetGroupArn"] == other


def test_add_routes_refuses_a_route_that_points_elsewhere():
    reset()
    plan = seed(ENDPOINT)
    facts = ok("preflight", {"plan": plan})["facts"]
    st = {"plan": plan, "facts": facts}
    st["peering"] = ok("create-peering", st)
    ok("accept-peering", st)
    igw = client("ec2", T).create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    client("ec2", T).attach_internet_gateway(InternetGatewayId=igw, VpcId=facts["target"]["vpcId"])
    client("ec2", T).create_route(RouteTableId=facts["target"]["routeTableIds"][0], DestinationCidrBlock="10.0.0.0/16",
                                  GatewayId=igw)
    answer = settled("add-routes", st)
    assert answer["errorType"] == "CarveOut.Conflict" and igw in answer["errorMessage"]


def test_copy_image_reencrypts_once_and_the_copy_is_what_gets_shared():
    reset()
    plan = seed(ENDPOINT, encrypted="aws-managed", kms_key=True)
    key = plan["options"]["kmsKeyId"]
    configure(imagePendingPolls=6)
    facts = ok("preflight", {"plan": plan})["facts"]
    assert facts["options"]["kmsKeyId"] == key
    it = {"plan": plan, "facts": facts, "sourceInstance": facts["instances"][0]}
    it["image"] = twice("create-image", it)
    it["image"], _ = looked_until_ready("wait-image-available", it)
    original = it["image"]
    copy = twice("copy-image", it)
    assert copy["copiedFrom"] == original["imageId"] and copy["imageId"] != original["imageId"]
    it["image"] = copy
    it["image"], _ = looked_until_ready("wait-image-available", it)
    ec2 = client("ec2", N)
    snaps = every(ec2, "describe_snapshots", "Snapshots", SnapshotIds=it["image"]["snapshotIds"])
    assert snaps and all(s["Encrypted"] and s["KmsKeyId"] == key for s in snaps)
    tags = {t["Key"]: t["Value"] for t in snaps[0]["Tags"]}
    assert tags["carveout:migration-id"] == plan["migrationId"]
    # The original's snapshots are tagged too (cleanup finds them), and stay unshared.
    original_snaps = every(ec2, "describe_snapshots", "Snapshots", SnapshotIds=original["snapshotIds"])
    assert all({"Key": "carveout:migration-id", "Value": plan["migrationId"]} in s["Tags"] for s in original_snaps)
    shared = twice("share-image", it)
    assert shared["imageId"] == copy["imageId"]
    assert client("ec2", T).describe_images(ImageIds=[copy["imageId"]])["Images"]


def test_instance_store_data_loss_needs_the_plan_to_say_so():
    reset()
    plan = seed(ENDPOINT, instance_type="m5d.large")
    refused = step("preflight", {"plan": plan})
    assert refused["errorType"] == "CarveOut.InvalidPlan" and "instance store" in refused["errorMessage"]
    plan["options"]["allowInstanceStoreDataLoss"] = True
    facts = ok("preflight", {"plan": plan})["facts"]
    assert any("left behind" in c for c in facts["checks"]), facts["checks"]
