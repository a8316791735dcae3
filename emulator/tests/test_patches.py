"""One test per patch of carveout_emulator: each shows the gap in moto 5.2.5 is filled the
way AWS behaves (and fails without the patch). EBS encryption, images and their
snapshots: test_images.py."""

import botocore.config
import botocore.exceptions
import pytest

from carveout_emulator.testing import client, configure, every, reset

N, T = "111111111111", "222222222222"


@pytest.fixture(autouse=True)
def clean():
    reset()
    yield
    reset()


def _vpc(ec2, cidr):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def _image(ec2):
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    subnet = ec2.create_subnet(VpcId=_vpc(ec2, "10.9.0.0/16"), CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    inst = ec2.run_instances(InstanceType="t3.small", ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    return ec2.create_image(InstanceId=inst, Name="copy", NoReboot=True)["ImageId"], subnet


def _peer(n_ec2, t_ec2, n_vpc, t_vpc):
    pcx = n_ec2.create_vpc_peering_connection(VpcId=n_vpc, PeerVpcId=t_vpc, PeerOwnerId=T)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    t_ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    return pcx


def test_shared_ami_and_snapshot_become_visible_to_the_other_account():
    n, t = client("ec2", N), client("ec2", T)
    ami, _ = _image(n)
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAMIID.NotFound"):
        t.describe_images(ImageIds=[ami])
    n.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": T}]})
    assert t.describe_images(ImageIds=[ami])["Images"][0]["OwnerId"] == N
    snap = n.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidSnapshot.NotFound"):
        t.describe_snapshots(SnapshotIds=[snap])
    n.modify_snapshot_attribute(SnapshotId=snap, Attribute="createVolumePermission",
                                OperationType="add", UserIds=[T])
    assert t.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["SnapshotId"] == snap


def test_launch_needs_an_image_the_account_can_see():
    n, t = client("ec2", N), client("ec2", T)
    ami, _ = _image(n)
    t_subnet = t.create_subnet(VpcId=_vpc(t, "10.1.0.0/16"), CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAMIID.NotFound"):
        t.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=t_subnet)
    n.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": T}]})
    inst = t.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=t_subnet)["Instances"][0]
    assert inst["ImageId"] == ami


def test_run_instances_honours_client_token():
    n = client("ec2", N)
    ami, subnet = _image(n)
    first = n.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="tok-1")
    again = n.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="tok-1")
    other = n.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="tok-2")
    assert first["Instances"][0]["InstanceId"] == again["Instances"][0]["InstanceId"]
    assert other["Instances"][0]["InstanceId"] != first["Instances"][0]["InstanceId"]


def test_a_client_token_reused_with_other_parameters_is_refused_and_a_terminated_launch_stays_its_answer():
    """https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html: the same
    token with other arguments is IdempotentParameterMismatch; with the same arguments it
    answers the original launch, even once that instance is terminated."""
    n = client("ec2", N)
    ami, subnet = _image(n)
    args = dict(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="tok-1")
    first = n.run_instances(InstanceType="t3.small", **args)["Instances"][0]["InstanceId"]
    with pytest.raises(botocore.exceptions.ClientError, match="IdempotentParameterMismatch"):
        n.run_instances(InstanceType="t3.medium", **args)
    n.terminate_instances(InstanceIds=[first])
    assert n.run_instances(InstanceType="t3.small", **args)["Instances"][0]["InstanceId"] == first


def test_cross_account_group_reference_needs_an_active_peering():
    n, t = client("ec2", N), client("ec2", T)
    n_vpc, t_vpc = _vpc(n, "10.0.0.0/16"), _vpc(t, "10.1.0.0/16")
    alb_sg = n.create_security_group(GroupName="alb", Description="alb", VpcId=n_vpc)["GroupId"]
    app_sg = t.create_security_group(GroupName="app", Description="app", VpcId=t_vpc)["GroupId"]
    rule = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"UserId": N, "GroupId": alb_sg}]}]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidGroup.NotFound"):
        t.authorize_security_group_ingress(GroupId=app_sg, IpPermissions=rule)
    _peer(n, t, n_vpc, t_vpc)
    t.authorize_security_group_ingress(GroupId=app_sg, IpPermissions=rule)
    pairs = t.describe_security_groups(GroupIds=[app_sg])["SecurityGroups"][0]["IpPermissions"][0]["UserIdGroupPairs"]
    assert (pairs[0]["UserId"], pairs[0]["GroupId"]) == (N, alb_sg)


def test_ram_shares_security_groups_with_association_phase_and_receiving_side():
    configure(shareAssociatingPolls=2)
    n, ram_n, ram_t = client("ec2", N), client("ram", N), client("ram", T)
    sg = n.create_security_group(GroupName="alb", Description="alb", VpcId=_vpc(n, "10.0.0.0/16"))["GroupId"]
    arn = f"arn:aws:ec2:ap-northeast-1:{N}:security-group/{sg}"
    share = ram_n.create_resource_share(name="s", resourceArns=[arn], principals=[T], clientToken="t1",
                                        allowExternalPrincipals=False)["resourceShare"]["resourceShareArn"]
    again = ram_n.create_resource_share(name="s", resourceArns=[arn], principals=[T], clientToken="t1")
    assert again["resourceShare"]["resourceShareArn"] == share
    states = [ram_n.get_resource_share_associations(associationType="PRINCIPAL", resourceShareArns=[share])[
        "resourceShareAssociations"][0]["status"] for _ in range(3)]
    assert states == ["ASSOCIATING", "ASSOCIATING", "ASSOCIATED"]
    received = ram_t.list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]
    assert [(r["arn"], r["type"]) for r in received] == [(arn, "ec2:SecurityGroup")]
    assert ram_t.get_resource_shares(resourceOwner="OTHER-ACCOUNTS")["resourceShares"][0]["resourceShareArn"] == share


def test_images_stay_pending_for_the_configured_polls():
    configure(imagePendingPolls=2)
    n = client("ec2", N)
    ami, _ = _image(n)
    states = [n.describe_images(ImageIds=[ami])["Images"][0]["State"] for _ in range(3)]
    assert states == ["pending", "pending", "available"]


def test_peering_accept_is_eventually_consistent_and_provisions():
    configure(peeringAcceptNotFound=1, peeringProvisioningPolls=2)
    n, t = client("ec2", N), client("ec2", T)
    pcx = n.create_vpc_peering_connection(VpcId=_vpc(n, "10.0.0.0/16"), PeerVpcId=_vpc(t, "10.1.0.0/16"),
                                          PeerOwnerId=T)["VpcPeeringConnection"]["VpcPeeringConnectionId"]
    with pytest.raises(botocore.exceptions.ClientError, match="(?i)InvalidVpcPeeringConnectionId.NotFound"):
        t.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    t.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx)
    codes = [n.describe_vpc_peering_connections(VpcPeeringConnectionIds=[pcx])["VpcPeeringConnections"][0]["Status"]["Code"]
             for _ in range(3)]
    assert codes == ["provisioning", "provisioning", "active"]


def test_new_instances_report_initializing_status_checks():
    configure(instancePendingPolls=1)
    n = client("ec2", N)
    ami, subnet = _image(n)
    iid = n.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    seen = [n.describe_instance_status(InstanceIds=[iid], IncludeAllInstances=True)["InstanceStatuses"][0][
        "InstanceStatus"]["Status"] for _ in range(2)]
    assert seen == ["initializing", "ok"]


def _alb_with_ip_group(elb, ec2, reachable=True):
    """An ALB in N's 10.0.0.0/16 and an IP target group holding an instance of T's
    10.1.0.0/16. With `reachable`: what a real setup needs between them (an active peering,
    routes both ways, the instance's group allowing the ALB's group)."""
    t = client("ec2", T)
    vpc, tvpc = _vpc(ec2, "10.0.0.0/16"), _vpc(t, "10.1.0.0/16")
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"ap-northeast-1{z}")[
        "Subnet"]["SubnetId"] for i, z in enumerate("ac")]
    alb_sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name="lb", Subnets=subnets, SecurityGroups=[alb_sg])["LoadBalancers"][0][
        "LoadBalancerArn"]
    tsub = t.create_subnet(VpcId=tvpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    app_sg = t.create_security_group(GroupName="app", Description="app", VpcId=tvpc)["GroupId"]
    ami = t.register_image(Name="base", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    ip = t.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=tsub, SecurityGroupIds=[app_sg])[
        "Instances"][0]["PrivateIpAddress"]
    world = {"t": t, "vpc": vpc, "tvpc": tvpc, "alb_sg": alb_sg, "app_sg": app_sg, "ip": ip, "tsub": tsub}
    if reachable:
        connect(ec2, world)
    tg = elb.create_target_group(Name="ip", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 80, "AvailabilityZone": "all"}])
    return lb, tg, world


def connect(ec2, w):
    """Peering, routes in both main route tables, and the ALB's group allowed on tcp 80."""
    t = w["t"]
    pcx = _peer(ec2, t, w["vpc"], w["tvpc"])
    for client_, vpc, cidr in ((ec2, w["vpc"], "10.1.0.0/16"), (t, w["tvpc"], "10.0.0.0/16")):
        table = client_.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                       {"Name": "association.main", "Values": ["true"]}])[
            "RouteTables"][0]["RouteTableId"]
        client_.create_route(RouteTableId=table, DestinationCidrBlock=cidr, VpcPeeringConnectionId=pcx)
    t.authorize_security_group_ingress(GroupId=w["app_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"UserId": N, "GroupId": w["alb_sg"]}]}])


def _health(elb, tg):
    return elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]["TargetHealth"]


def _state(elb, tg):
    return elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]["TargetHealth"]["State"]


def test_target_health_is_unused_until_a_listener_forwards_then_initial_then_healthy():
    configure(targetInitialPolls=1)
    elb, ec2 = client("elbv2", N), client("ec2", N)
    lb, tg, _ = _alb_with_ip_group(elb, ec2)
    assert _state(elb, tg) == "unused"
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert [_state(elb, tg) for _ in range(2)] == ["initial", "healthy"]


def test_targets_can_be_made_unhealthy():
    configure(targetsUnhealthy=True)
    elb, ec2 = client("elbv2", N), client("ec2", N)
    lb, tg, _ = _alb_with_ip_group(elb, ec2)
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert _state(elb, tg) == "unhealthy"


def test_health_follows_the_network_path_security_groups_routes_peering_and_acls():
    """A target is healthy only when the ALB can reach it (Target.Timeout otherwise:
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html),
    through security groups both ways, routes over an active peering
    (https://docs.aws.amazon.com/vpc/latest/peering/vpc-peering-routing.html) and network ACLs
    (https://docs.aws.amazon.com/vpc/latest/userguide/nacl-rules.html)."""
    elb, ec2 = client("elbv2", N), client("ec2", N)
    lb, tg, w = _alb_with_ip_group(elb, ec2, reachable=False)
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert (_health(elb, tg)["State"], _health(elb, tg)["Reason"]) == ("unhealthy", "Target.Timeout")
    connect(ec2, w)
    assert _health(elb, tg)["State"] == "healthy"
    # A network ACL rule denying the ALB's subnets on the traffic port, numbered before the allow.
    t = w["t"]
    acl = t.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [w["tvpc"]]}])["NetworkAcls"][0]["NetworkAclId"]
    t.create_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Protocol="6", RuleAction="deny", Egress=False,
                               CidrBlock="10.0.0.0/16", PortRange={"From": 80, "To": 80})
    assert _health(elb, tg)["State"] == "unhealthy"
    t.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=50, Egress=False)
    assert _health(elb, tg)["State"] == "healthy"
    # The ALB's own egress limited to its VPC.
    ec2.revoke_security_group_egress(GroupId=w["alb_sg"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=w["alb_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    assert _health(elb, tg)["State"] == "unhealthy"


def test_new_ids_are_not_found_for_a_while_by_carveouts_calls():
    """https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html: right after
    a create, a call naming the new id may answer its NotFound error; likewise an image just
    shared, in the account it was shared with. Calls of other principals are unaffected."""
    from carveout_emulator.seed import session
    from carveout_emulator.testing import ENDPOINT

    configure(eventualConsistencyReads=2)
    n = session(ENDPOINT, N, name="carveout-m-1").client("ec2", endpoint_url=ENDPOINT)
    t = session(ENDPOINT, T, name="carveout-m-1").client("ec2", endpoint_url=ENDPOINT)
    vpc = _vpc(n, "10.4.0.0/16")
    group = n.create_security_group(GroupName="new", Description="new", VpcId=vpc)["GroupId"]
    rule = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidGroup.NotFound"):
            n.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    n.authorize_security_group_ingress(GroupId=group, IpPermissions=rule)
    # Test setup (session test-setup) sees a new instance at once; carveout's session does not.
    ami, subnet = _image(client("ec2", N))
    iid = n.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    assert client("ec2", N).describe_instances(InstanceIds=[iid])["Reservations"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidInstanceID.NotFound"):
        n.describe_instance_status(InstanceIds=[iid])
    # A shared image, in the account it was shared with.
    n.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": T}]})
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAMIID.NotFound"):
        t.describe_images(ImageIds=[ami])
    tsub = client("ec2", T).create_subnet(VpcId=_vpc(client("ec2", T), "10.5.0.0/16"), CidrBlock="10.5.1.0/24")[
        "Subnet"]["SubnetId"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAMIID.NotFound"):
        t.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=tsub)
    t.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=tsub)


def test_a_type_the_zone_does_not_offer_is_unsupported():
    """https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-type-availability.html:
    not every type is offered in every zone (the emulator uses AWS's per-zone data)."""
    n = client("ec2", N)
    ami = n.register_image(Name="base", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    vpc = _vpc(n, "10.8.0.0/16")
    zone_a = n.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24", AvailabilityZone="ap-northeast-1a")["Subnet"]["SubnetId"]
    zone_c = n.create_subnet(VpcId=vpc, CidrBlock="10.8.2.0/24", AvailabilityZone="ap-northeast-1c")["Subnet"]["SubnetId"]
    with pytest.raises(botocore.exceptions.ClientError, match="Unsupported"):
        n.run_instances(InstanceType="x8aedz.large", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=zone_a)
    n.run_instances(InstanceType="x8aedz.large", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=zone_c)


def test_faults_fail_the_nth_call_before_or_after_moto_carries_it_out():
    n = client("ec2", N)
    configure(faults=[{"action": "CreateVpc", "code": "InvalidParameterValue", "status": 400, "count": 1, "when": "after"}])
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidParameterValue"):
        n.create_vpc(CidrBlock="10.5.0.0/16")
    # "after": the VPC was created although the caller saw an error (a lost response).
    assert any(v["CidrBlock"] == "10.5.0.0/16" for v in every(n, "describe_vpcs", "Vpcs"))
    configure(faults=[{"action": "CreateVpc", "code": "InvalidParameterValue", "status": 400, "skip": 1}])
    n.create_vpc(CidrBlock="10.6.0.0/16")
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidParameterValue"):
        n.create_vpc(CidrBlock="10.7.0.0/16")
    assert not any(v["CidrBlock"] == "10.7.0.0/16" for v in every(n, "describe_vpcs", "Vpcs"))


def test_ec2_throttling_uses_per_account_per_action_token_buckets():
    # RunInstances: a request bucket of 5 refilled at 2/s (x scale); other accounts and
    # other actions keep their own buckets.
    image, subnet = _image(client("ec2", N))
    config = configure(throttling={"scale": 0.2})  # RunInstances bucket: 1 token, 0.4/s
    assert config["throttling"]["scale"] == 0.2
    kwargs = dict(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1, SubnetId=subnet)
    no_retry = botocore.config.Config(retries={"total_max_attempts": 1})
    n = client("ec2", N, config=no_retry)
    n.run_instances(**kwargs)
    with pytest.raises(botocore.exceptions.ClientError, match="RequestLimitExceeded"):
        n.run_instances(**kwargs)
    n.describe_vpcs()  # another action's bucket
    client("ec2", T, config=no_retry).describe_vpcs()
    assert configure()["throttling"]["throttled"] == {"runinstances": 1}
    configure(throttling=None)
    n.run_instances(**kwargs)


def test_ip_targets_outside_the_vpc_need_a_private_range_and_availability_zone_all():
    """https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html:
    IP targets come from the target group's VPC, or from RFC 1918 / RFC 6598 ranges outside
    it, and then only with AvailabilityZone=all."""
    elb, ec2 = client("elbv2", N), client("ec2", N)
    vpc = _vpc(ec2, "10.0.0.0/16")
    tg = elb.create_target_group(Name="ips", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.0.1.5", "Port": 80}])
    with pytest.raises(botocore.exceptions.ClientError) as err:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.1.1.5", "Port": 80}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Availability Zone is required" in err.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "11.1.1.5", "Port": 80, "AvailabilityZone": "all"}])
    assert err.value.response["Error"]["Code"] == "InvalidTarget"
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "100.64.1.5", "Port": 80, "AvailabilityZone": "all"}])
    ids = {d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]}
    assert ids == {"10.0.1.5", "100.64.1.5"}


def test_a_private_hosted_zone_is_associated_across_accounts_only_when_its_owner_authorizes():
    # Route 53: the zone's account authorizes, the VPC's account associates; either may
    # disassociate; ListHostedZonesByVPC names each zone's owner (hosted_zones.py).
    n_ec2, t_ec2 = client("ec2", N), client("ec2", T)
    n53, t53 = client("route53", N), client("route53", T)
    n_vpc, t_vpc = _vpc(n_ec2, "10.0.0.0/16"), _vpc(t_ec2, "10.1.0.0/16")
    region = n_ec2.meta.region_name
    zone = n53.create_hosted_zone(Name="internal.example.", CallerReference="z1", HostedZoneConfig={"PrivateZone": True},
                                  VPC={"VPCId": n_vpc, "VPCRegion": region})["HostedZone"]["Id"].split("/")[-1]
    vpc = {"VPCId": t_vpc, "VPCRegion": region}
    with pytest.raises(botocore.exceptions.ClientError, match="NotAuthorizedException"):
        t53.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=vpc)
    n53.create_vpc_association_authorization(HostedZoneId=zone, VPC=vpc)
    assert n53.list_vpc_association_authorizations(HostedZoneId=zone)["VPCs"] == [vpc]
    t53.associate_vpc_with_hosted_zone(HostedZoneId=zone, VPC=vpc)
    n53.delete_vpc_association_authorization(HostedZoneId=zone, VPC=vpc)
    with pytest.raises(botocore.exceptions.ClientError, match="VPCAssociationAuthorizationNotFound"):
        n53.delete_vpc_association_authorization(HostedZoneId=zone, VPC=vpc)
    listed = t53.list_hosted_zones_by_vpc(VPCId=t_vpc, VPCRegion=region)["HostedZoneSummaries"]
    assert [(z["HostedZoneId"], z["Owner"]["OwningAccount"]) for z in listed] == [(zone, N)]
    # Another zone of the same name cannot join the VPC.
    other = t53.create_hosted_zone(Name="internal.example.", CallerReference="z2", HostedZoneConfig={"PrivateZone": True},
                                   VPC={"VPCId": _vpc(t_ec2, "10.2.0.0/16"), "VPCRegion": region})["HostedZone"]["Id"]
    with pytest.raises(botocore.exceptions.ClientError, match="ConflictingDomainExists"):
        t53.associate_vpc_with_hosted_zone(HostedZoneId=other, VPC=vpc)
    n53.disassociate_vpc_from_hosted_zone(HostedZoneId=zone, VPC=vpc)
    assert t53.list_hosted_zones_by_vpc(VPCId=t_vpc, VPCRegion=region)["HostedZoneSummaries"] == []
