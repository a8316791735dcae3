"""patches/network_limits.py: the shared limits a program runs into are held as AWS holds
them (routes per route table, peerings per VPC and outstanding requests, rules and target
groups per ALB), and Service Quotas answers their applied values. moto 5.2.5 holds none."""

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


def _two_volume_instance(ec2):
    """An instance with a root and a data volume: its image takes two snapshots."""
    image = ec2.register_image(Name="base", RootDeviceName="/dev/sda1", VirtualizationType="hvm")["ImageId"]
    subnet = ec2.create_subnet(VpcId=_vpc(ec2, "10.9.0.0/16"), CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    return ec2.run_instances(InstanceType="t3.small", ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
                             BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}},
                                                  {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 50}}]
                             )["Instances"][0]["InstanceId"]


def test_a_route_table_takes_routes_up_to_its_quota_then_route_limit_exceeded():
    configure(vpcQuotas={N: {"L-93826ACB": 5}})
    ec2 = client("ec2", N)
    vpc = _vpc(ec2, "10.0.0.0/16")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for n in range(4):  # the local route and four more: five
        ec2.create_route(RouteTableId=table, DestinationCidrBlock=f"172.16.{n}.0/24", GatewayId=igw)
    with pytest.raises(botocore.exceptions.ClientError, match="RouteLimitExceeded"):
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="172.16.9.0/24", GatewayId=igw)
    quota = client("service-quotas", N).get_service_quota(ServiceCode="vpc", QuotaCode="L-93826ACB")
    assert quota["Quota"]["Value"] == 5.0
    default = client("service-quotas", T).get_service_quota(ServiceCode="vpc", QuotaCode="L-93826ACB")
    assert default["Quota"]["Value"] == 50.0


def test_outstanding_requests_and_active_peerings_have_their_quotas():
    configure(vpcQuotas={N: {"L-DC9F7029": 1}, T: {"L-7E9ECCDB": 1}})
    n, t = client("ec2", N), client("ec2", T)
    hub = _vpc(n, "10.0.0.0/16")
    spokes = [_vpc(t, f"10.{i}.0.0/16") for i in (1, 2)]
    first = n.create_vpc_peering_connection(VpcId=hub, PeerVpcId=spokes[0], PeerOwnerId=T)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    with pytest.raises(botocore.exceptions.ClientError, match="OutstandingVpcPeeringConnectionLimitExceeded"):
        n.create_vpc_peering_connection(VpcId=hub, PeerVpcId=spokes[1], PeerOwnerId=T)
    t.accept_vpc_peering_connection(VpcPeeringConnectionId=first)
    # Accepted: no longer outstanding. The spoke may have one active peering: a second to
    # the same spoke from another VPC cannot be accepted.
    other = _vpc(n, "10.5.0.0/16")
    second = n.create_vpc_peering_connection(VpcId=other, PeerVpcId=spokes[0], PeerOwnerId=T)[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    with pytest.raises(botocore.exceptions.ClientError, match="ActiveVpcPeeringConnectionPerVpcLimitExceeded"):
        t.accept_vpc_peering_connection(VpcPeeringConnectionId=second)


def test_an_alb_holds_100_target_groups_and_100_rules():
    ec2, elb = client("ec2", N), client("elbv2", N)
    vpc = _vpc(ec2, "10.0.0.0/16")
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
        "Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    lb = elb.create_load_balancer(Name="main", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    groups = [elb.create_target_group(Name=f"g{i}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"][0]["TargetGroupArn"] for i in range(101)]
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": groups[0]}])["Listeners"][0]["ListenerArn"]
    for r in range(20):  # five groups a rule: 1 + 99 more
        batch = groups[1 + 5 * r: min(100, 1 + 5 * (r + 1))]
        elb.create_rule(ListenerArn=listener, Priority=r + 1, Conditions=[
            {"Field": "path-pattern", "Values": [f"/{r}"]}], Actions=[
            {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": g} for g in batch]}}])
    used = every(elb, "describe_target_groups", "TargetGroups", LoadBalancerArn=lb)
    assert len(used) == 100
    with pytest.raises(botocore.exceptions.ClientError, match="TooManyTargetGroups"):
        elb.create_rule(ListenerArn=listener, Priority=99, Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
                        Actions=[{"Type": "forward", "TargetGroupArn": groups[100]}])
    limits = {x["Name"]: x["Max"] for x in every(elb, "describe_account_limits", "Limits")}
    assert limits["target-groups-per-application-load-balancer"] == "100"
    for r in range(20, 100):
        elb.create_rule(ListenerArn=listener, Priority=r + 1, Conditions=[
            {"Field": "path-pattern", "Values": [f"/{r}"]}], Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    with pytest.raises(botocore.exceptions.ClientError, match="TooManyRules"):
        elb.create_rule(ListenerArn=listener, Priority=500, Conditions=[{"Field": "path-pattern", "Values": ["/y"]}],
                        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])


def test_an_account_holds_its_quota_of_pending_snapshots_then_pending_snapshot_limit_exceeded():
    """An image snapshots every EBS volume of its instance: past the account's pending
    snapshots (100, not adjustable; here 3 so two images reach it), CreateImage answers
    PendingSnapshotLimitExceeded, and DescribeSnapshots lists them as pending."""
    configure(ebsQuotas={N: {"L-94D7AB7D": 3}}, imagePendingPolls=5)
    ec2 = client("ec2", N)
    first = _two_volume_instance(ec2)
    ec2.create_image(InstanceId=first, Name="one", NoReboot=True)
    pending = every(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                    Filters=[{"Name": "status", "Values": ["pending"]}])
    assert len(pending) == 2, pending
    with pytest.raises(botocore.exceptions.ClientError, match="PendingSnapshotLimitExceeded"):
        ec2.create_image(InstanceId=first, Name="two", NoReboot=True)  # 2 pending + 2 > 3
    quota = client("service-quotas", N).get_service_quota(ServiceCode="ebs", QuotaCode="L-94D7AB7D")
    assert quota["Quota"]["Value"] == 3.0 and quota["Quota"]["Adjustable"] is False
    default = client("service-quotas", T).get_service_quota(ServiceCode="ebs", QuotaCode="L-94D7AB7D")
    assert default["Quota"]["Value"] == 100.0


def test_a_copy_of_an_image_counts_its_snapshots_against_the_pending_quota():
    """CopyImage makes a snapshot per snapshot of the image, pending until the copy is
    done: past the quota it answers PendingSnapshotLimitExceeded too."""
    configure(ebsQuotas={N: {"L-94D7AB7D": 3}}, imagePendingPolls=5)
    ec2 = client("ec2", N)
    made = ec2.create_image(InstanceId=_two_volume_instance(ec2), Name="one", NoReboot=True)["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError, match="PendingSnapshotLimitExceeded"):
        ec2.copy_image(SourceImageId=made, SourceRegion=ec2.meta.region_name, Name="copy")  # 2 pending + 2 > 3
