"""The new instance is the same service (issue 14): every setting carried, mapped by the
plan, or refused by Preflight by name. The end state is read back with describe calls of
the test's own (verify.check compares every carried setting with the source's)."""

import json
import re

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, client, every, reset, run_as_planned, run_local

N, T = "111111111111", "222222222222"
ROLE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def profile(account, name, tags=()):
    iam = client("iam", account)
    iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=ROLE_TRUST,
                    Tags=[{"Key": k, "Value": v} for k, v in tags])
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=f"{name}-role")
    return arn


def configured_source(plan):
    """The hp instance as a real service has it: an instance profile, IMDSv1 allowed with hop
    limit 2 (containers), two data volumes (gp3 with its own IOPS and throughput, io2),
    detailed monitoring, source/destination check off; its group with stickiness, a
    deregistration delay, slow start, and a health check on a port of its own."""
    ec2, elb = client("ec2", N), client("elbv2", N)
    iid = plan["source"]["instanceIds"][0]
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile(N, "web-profile")}, InstanceId=iid)
    ec2.modify_instance_metadata_options(InstanceId=iid, HttpTokens="optional", HttpPutResponseHopLimit=2,
                                         HttpEndpoint="enabled")
    ec2.monitor_instances(InstanceIds=[iid])
    ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    zone = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]
    for device, spec in (("/dev/sdf", {"VolumeType": "gp3", "Size": 100, "Iops": 6000, "Throughput": 250}),
                         ("/dev/sdg", {"VolumeType": "io2", "Size": 50, "Iops": 4000})):
        vol = ec2.create_volume(AvailabilityZone=zone, **spec)["VolumeId"]
        ec2.attach_volume(VolumeId=vol, InstanceId=iid, Device=device)
    tg = plan["service"]["targetGroupArn"]
    elb.modify_target_group(TargetGroupArn=tg, HealthCheckPort="8080")
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "lb_cookie"},
        {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "3600"},
        {"Key": "deregistration_delay.timeout_seconds", "Value": "120"},
        {"Key": "slow_start.duration_seconds", "Value": "60"}])
    web = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    alb = every(elb, "describe_load_balancers", "LoadBalancers")[0]["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb}]}])
    return iid


@pytest.fixture
def plan():
    reset(**POLLING)
    return seed(ENDPOINT)


def test_a_configured_source_migrates_with_every_setting_equal_on_the_new_side(plan, tmp_path):
    iid = configured_source(plan)
    moved = profile(T, "web-profile-moved", tags=[("carveout:instance-role", "true")])
    plan["options"] = {"instanceProfiles": {"web-profile": "web-profile-moved"}}
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    failed = [r for r in verify.check(ENDPOINT, plan) if not r[1]]
    assert not failed, failed
    # The values themselves, read from the target account.
    new = out["instances"][0]["instanceId"]
    inst = client("ec2", T).describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"][0]
    assert inst["IamInstanceProfile"]["Arn"] == moved
    assert (inst["MetadataOptions"]["HttpTokens"], inst["MetadataOptions"]["HttpPutResponseHopLimit"]) == ("optional", 2)
    assert inst["Monitoring"]["State"] == "enabled"
    assert inst["SourceDestCheck"] is False
    vols = every(client("ec2", T), "describe_volumes", "Volumes",
                 Filters=[{"Name": "attachment.instance-id", "Values": [new]}])
    kinds = sorted((v["VolumeType"], v["Size"], v.get("Iops"), v.get("Throughput")) for v in vols if v["VolumeType"] != "gp2")
    assert ("gp3", 100, 6000, 250) in kinds and ("io2", 50, 4000, None) in kinds, kinds
    elb = client("elbv2", N)
    group = elb.describe_target_groups(Names=[f"carveout-{plan['migrationId']}"])["TargetGroups"][0]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
        TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
    assert (attrs["stickiness.enabled"], attrs["stickiness.lb_cookie.duration_seconds"],
            attrs["deregistration_delay.timeout_seconds"], attrs["slow_start.duration_seconds"]) == ("true", "3600", "120", "60")
    assert group["HealthCheckPort"] == "8080"
    # The report says what moved, setting by setting.
    rows = {r["setting"]: r for r in out["settings"][0]["rows"]}
    assert rows["IamInstanceProfile"]["handling"] == "mapped"
    assert rows["BlockDeviceMappings /dev/sdf"]["new"].startswith("gp3 100 GiB, 6000 IOPS, 250 MiB/s")
    assert out["settings"][0]["sourceInstanceId"] == iid


def test_a_profile_without_a_mapping_is_refused_by_preflight_and_nothing_is_created(plan, tmp_path):
    configured_source(plan)
    code, out, events, err = run_local(plan, tmp_path)
    assert code != 0
    said = err + json.dumps(out)
    assert "instance-profile/web-profile" in said and "options.instanceProfiles" in said, said
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == {
        "peerings": 0, "images": 0, "instances": 0, "securityGroups": 0, "targetGroups": 0, "rules": 5}


def test_a_mapped_profile_whose_role_the_member_role_may_not_pass_is_refused(plan, tmp_path):
    configured_source(plan)
    profile(T, "web-profile-moved")  # no carveout:instance-role tag
    plan["options"] = {"instanceProfiles": {"web-profile": "web-profile-moved"}}
    code, out, events, err = run_local(plan, tmp_path)
    said = err + json.dumps(out)
    assert code != 0 and "carveout:instance-role=true" in said, said


def test_another_services_group_that_references_the_source_is_named_until_acknowledged(plan, tmp_path):
    ec2 = client("ec2", N)
    web = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    db = ec2.create_security_group(GroupName="db-sg", Description="db", VpcId=web["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web["GroupId"]}]}])
    code, out, events, err = run_local(plan, tmp_path)
    said = err + json.dumps(out)
    assert code != 0 and db in said and "tcp 5432" in said and "acknowledgedSecurityGroupReferences" in said, said
    plan["options"] = {"acknowledgedSecurityGroupReferences": [db]}
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 0, err


def test_a_callee_in_a_subnet_the_migration_would_not_route_is_named_then_routed(plan, tmp_path):
    """The service talks to a database in a subnet of the ALB's VPC whose route table is not
    one of the ALB's subnets' tables: its answers would find no way back to the new
    instances. Preflight names that table; routed by options.additionalRouteTableIds, it
    gets the route to the target VPC through the peering."""
    ec2 = client("ec2", N)
    web = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    vpc = web["VpcId"]
    db = ec2.create_security_group(GroupName="db-sg", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web["GroupId"]}]}])
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.50.0/24", AvailabilityZone="ap-northeast-1a")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    image = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["al2023-base"]}])["Images"][0]
    ec2.run_instances(ImageId=image["ImageId"], InstanceType="t3.small", MinCount=1, MaxCount=1,
                      SubnetId=subnet, SecurityGroupIds=[db])
    plan["options"] = {"acknowledgedSecurityGroupReferences": [db]}
    code, out, events, err = run_local(plan, tmp_path)
    said = err + json.dumps(out)
    assert code != 0 and f"route table {table}" in said and "additionalRouteTableIds" in said, said
    plan["options"]["additionalRouteTableIds"] = [table]
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    target_cidr = client("ec2", T).describe_vpcs(VpcIds=[plan["target"]["vpcId"]])["Vpcs"][0]["CidrBlock"]
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert any(r.get("DestinationCidrBlock") == target_cidr and r.get("VpcPeeringConnectionId") for r in routes), routes


def test_cold_volumes_get_the_provisioned_rate_and_no_traffic_until_initialized(plan, tmp_path):
    """options.volumeInitializationRate: every volume of the new instance is created at that
    rate (RunInstances' Ebs.VolumeInitializationRate), and the gate looks at
    DescribeVolumeStatus until each is `completed` before the health gate and the cutover.
    The emulator answers no details at first (AWS: up to 5 minutes), then progress."""
    plan["options"] = {"volumeInitializationRate": 200}
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    new = out["instances"][0]["instanceId"]
    vols = every(client("ec2", T), "describe_volumes", "Volumes",
                 Filters=[{"Name": "attachment.instance-id", "Values": [new]}])
    assert vols and all(v.get("VolumeInitializationRate") == 200 for v in vols), vols
    statuses = client("ec2", T).describe_volume_status(VolumeIds=[v["VolumeId"] for v in vols])["VolumeStatuses"]
    assert all(s["InitializationStatusDetails"]["Progress"] == 100 for s in statuses), statuses
    order = [e["state"] for e in events if e.get("event") == "StateEntered"]
    looks = [i for i, s in enumerate(order) if s == "CheckVolumesInitialized"]
    assert len(looks) >= 3, order  # unreported, initializing, completed
    assert looks[-1] < order.index("WaitTargetsHealthy") < order.index("Cutover"), order
    assert "CheckVolumesInitialized look 1: " in err and "ETA" in err, err
    rows = {r["setting"]: r for r in out["settings"][0]["rows"]}
    assert (rows["VolumeInitializationRate"]["handling"], rows["VolumeInitializationRate"]["new"]) == (
        "mapped", "200 MiB/s for every volume"), rows


def private_zone(plan):
    """A private hosted zone of the network account, associated with the ALB's VPC."""
    ec2 = client("ec2", N)
    web = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    return client("route53", N).create_hosted_zone(
        Name="internal.example.", CallerReference="carveout-test", HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCId": web["VpcId"], "VPCRegion": ec2.meta.region_name})["HostedZone"]["Id"].split("/")[-1], web["VpcId"]


def zones_of(account, vpc):
    return [(z["HostedZoneId"], z["Owner"].get("OwningAccount")) for z in client("route53", account)
            .list_hosted_zones_by_vpc(VPCId=vpc, VPCRegion=client("ec2", N).meta.region_name)["HostedZoneSummaries"]]


def test_a_private_hosted_zone_of_the_albs_vpc_is_named_then_associated_with_the_target_vpc(plan, tmp_path):
    """The ALB's VPC resolves internal.example. through a private hosted zone of the network
    account; the target VPC does not. Preflight names the zone; with
    options.associateHostedZones the network account authorizes, the target account
    associates, and the authorization is deleted after."""
    zone, _ = private_zone(plan)
    code, out, events, err = run_local(plan, tmp_path)
    said = err + json.dumps(out)
    assert code != 0 and f"{zone} (internal.example.)" in said and "associateHostedZones" in said, said
    plan["options"] = {"associateHostedZones": [zone]}
    code, out, events, err = run_as_planned(plan, tmp_path)
    assert code == 0, err
    target_vpc = plan["target"]["vpcId"]
    assert zones_of(T, target_vpc) == [(zone, N)]
    assert client("route53", N).list_vpc_association_authorizations(HostedZoneId=zone)["VPCs"] == [], \
        "authorization left behind"
    assert {"kind": "hosted-zone-association", "id": f"{zone}:{target_vpc}", "accountId": N} in out["created"], out


def test_cleanup_removes_the_hosted_zone_association_of_a_failed_migration(plan, tmp_path):
    from carveout_emulator.testing import cli, configure

    zone, alb_vpc = private_zone(plan)
    plan["options"] = {"associateHostedZones": [zone]}
    configure(faults=[{"action": "ModifyListener", "code": "ValidationError", "status": 400, "when": "before"}])
    code, out, events, err = run_local(plan, tmp_path)
    assert code == 1, err
    target_vpc = plan["target"]["vpcId"]
    assert zones_of(T, target_vpc) == [(zone, N)], "Rollback restores routing; the association waits for cleanup"
    dry = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT)
    assert re.search(rf"remove\s+hosted-zone-association\s+{zone}:{target_vpc} \({N}\)", dry.stdout), dry.stdout
    done = cli("cleanup", "--plan", str(tmp_path / "plan.json"), "--endpoint", ENDPOINT, "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert zones_of(T, target_vpc) == []
    assert zones_of(N, alb_vpc) == [(zone, N)], "the ALB's VPC keeps its zone"
    tags = client("route53", N).list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone)
    assert not [t for t in tags["ResourceTagSet"]["Tags"] if t["Key"].startswith("carveout:")], tags
