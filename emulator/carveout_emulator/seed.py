"""Seeds the emulator with the topology of the seed write-up and writes the plan for it.

Network/source account (the old shared management account): a VPC with public subnets
for an internet-facing ALB and private subnets for five service instances. The HTTP
listener forwards by default to the "hp" target group (the web site, the instance that
moves); the four other services have host-header rules and target groups of their own.
Target account (the new service account): its own VPC with private subnets.

    python -m carveout_emulator.seed --endpoint http://127.0.0.1:5000 --out plan.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from typing import Any

import boto3

NETWORK_ACCOUNT = "111111111111"
TARGET_ACCOUNT = "222222222222"
REGION = "ap-northeast-1"
ROLE_NAME = "CarveOutExecutionRole"
SERVICES = ["hp", "api", "admin", "batch", "mail"]
# Service Quotas code of EC2's Running On-Demand Standard instances (patches/quotas.py).
STANDARD_VCPU_QUOTA = "L-1216C47A"
# The ALB's rules quota as DescribeAccountLimits names it (100 by default on AWS and in moto).
RULES_QUOTA = "rules-per-application-load-balancer"
# Extra instances (scale runs): their own subnet (a /24 holds only 251) and launches of this
# many instances each, so that DescribeInstances lists many reservations.
EXTRA_SUBNET = "64.0/18"
EXTRA_PER_LAUNCH = 10


def session(endpoint: str, account: str, region: str = REGION, name: str = "test-setup") -> boto3.Session:
    """Credentials acting in `account`, obtained like carveout does: sts:AssumeRole. The
    session `name` tells test setup apart from carveout's own sessions (`carveout-…`)."""
    base = boto3.client(
        "sts", endpoint_url=endpoint, region_name=region,
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    creds = base.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE_NAME}", RoleSessionName=name
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def every(c: Any, method: str, key: str, **kwargs: Any) -> list[Any]:
    """Every page's items of a listing (the emulator answers lists in pages: pagination.py)."""
    return [item for page in c.get_paginator(method).paginate(**kwargs) for item in page[key]]


def _tag(name: str, **extra: str) -> list[dict[str, Any]]:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]
    return tags


def seed(
    endpoint: str,
    *,
    migration_id: str = "hp-2026-11",
    network_cidr: str = "10.0.0.0/16",
    target_cidr: str = "10.1.0.0/16",
    consistency: str = "live",
    move: tuple[str, ...] = ("hp",),
    instances_per_service: int = 1,
    encrypted: str | None = None,
    kms_key: bool = False,
    instance_type: str = "t3.small",
    ram: bool = False,
    product_codes: tuple[str, ...] = (),
    vcpu_quota: int | None = None,
    extra_rules: int = 0,
    extra_instances: int = 0,
    root_gib: int | None = None,
) -> dict[str, Any]:
    """Seeds the topology and returns the plan that moves `move`.

    `encrypted`: the moved instances' root volumes are encrypted, with the account's EBS
    default key (`"aws-managed"`, which cannot be shared) or with a customer managed key
    the target account may use (`"cmk"`). `kms_key`: a customer managed key usable by
    both accounts is created and named in the plan's options.kmsKeyId. `instance_type`:
    the moved instances' type (m5d.large has an instance store volume). `ram`: the plan
    opts into options.shareSecurityGroupWithRam (off by default, as in a default plan).
    `product_codes`: the moved services' instances are launched from an AWS Marketplace
    image with those product codes (emulator setting marketplaceImages), which the source
    account is subscribed to (marketplaceSubscriptions); the target account is not, unless
    the test subscribes it. `vcpu_quota`: the target account's applied quota of Running
    On-Demand Standard instances (L-1216C47A, in vCPUs; setting vcpuQuotas). Without it the
    AWS default of 5 vCPUs applies to carveout's launches there: room for two t3.small (2
    vCPUs each), so moving more (or larger) instances needs it, e.g. 2 * instances for
    t3.small. `root_gib`: the moved instances' root volume size (the downtime bench's
    500 GiB database volume).

    Scale (pagination, benchmark): `extra_rules` more host-header rules on the listener
    (fixed responses: no service's traffic), as many as the ALB's rules quota leaves room for
    with the probe rule carveout adds (ValueError past it; the quota is
    `rules-per-application-load-balancer` of DescribeAccountLimits, 100: at most 95 here).
    `extra_instances` more running t3.nano instances in the network account, in no target
    group, launched `EXTRA_PER_LAUNCH` at a time into a subnet of their own.
    """
    net = session(endpoint, NETWORK_ACCOUNT)
    ec2 = net.client("ec2", endpoint_url=endpoint)
    elb = net.client("elbv2", endpoint_url=endpoint)
    base = network_cidr.rsplit(".", 2)[0]  # "10.0"

    vpc = ec2.create_vpc(CidrBlock=network_cidr, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tag("main")}])["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    private_rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    public, private = [], []
    for i, az in enumerate(["a", "c"]):
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{i}.0/24",
                                AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=sub)
        public.append(sub)
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{10 + i}.0/24",
                                AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=sub)
        private.append(sub)

    alb_sg = ec2.create_security_group(GroupName="alb-sg", Description="ALB", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=alb_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    web_sg = ec2.create_security_group(GroupName="web-sg", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb_sg}]}])

    image = ec2.register_image(
        Name="al2023-base", Architecture="x86_64", RootDeviceName="/dev/xvda",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20}}],
    )["ImageId"]
    moved_image = image
    if product_codes:
        moved_image = ec2.register_image(
            Name="marketplace-product", Architecture="x86_64", RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20}}],
        )["ImageId"]
        current = settings(endpoint)
        subscribed = dict(current["marketplaceSubscriptions"])
        subscribed[NETWORK_ACCOUNT] = sorted(set(subscribed.get(NETWORK_ACCOUNT, [])) | set(product_codes))
        settings(endpoint, {"marketplaceImages": {**current["marketplaceImages"], moved_image: list(product_codes)},
                            "marketplaceSubscriptions": subscribed})

    volume_key = create_key(endpoint, NETWORK_ACCOUNT, usable_by=[TARGET_ACCOUNT]) if encrypted == "cmk" else None
    root: list[dict[str, Any]] = []
    if encrypted:
        ebs = {"VolumeSize": root_gib or 20, "VolumeType": "gp3", "Encrypted": True}
        root = [{"DeviceName": "/dev/sda1", "Ebs": ebs | ({"KmsKeyId": volume_key} if volume_key else {})}]
    elif root_gib:
        root = [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": root_gib, "VolumeType": "gp3"}}]

    lb = elb.create_load_balancer(Name="main", Subnets=public, SecurityGroups=[alb_sg],
                                  Scheme="internet-facing", Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    instances: dict[str, list[str]] = {}
    groups: dict[str, str] = {}
    for i, name in enumerate(SERVICES):
        # The moved services may run several instances (the benchmark's scale runs).
        count = instances_per_service if name in move else 1
        instances[name] = [inst["InstanceId"] for inst in ec2.run_instances(
            ImageId=moved_image if name in move else image,
            InstanceType=instance_type if name in move else "t3.small",
            MinCount=count, MaxCount=count,
            SubnetId=private[i % 2], SecurityGroupIds=[web_sg],
            **({"BlockDeviceMappings": root} if root and name in move else {}),
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": _tag(name, Service=name, Environment="production")}],
        )["Instances"]]
        tg = elb.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckProtocol="HTTP", HealthCheckPath="/healthz", HealthCheckIntervalSeconds=15,
            HealthyThresholdCount=3, UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"},
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": 80} for i in instances[name]])
        groups[name] = tg

    listener = elb.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["hp"]}],
    )["Listeners"][0]["ListenerArn"]
    rules: dict[str, str] = {}
    for priority, name in enumerate(SERVICES[1:], start=10):
        rules[name] = elb.create_rule(
            ListenerArn=listener, Priority=priority,
            Conditions=[{"Field": "host-header", "Values": [f"{name}.example.com"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": groups[name]}],
        )["Rules"][0]["RuleArn"]
    _extra_rules(elb, listener, lb_arn, extra_rules)
    if extra_instances > 0:
        extra = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{base}.{EXTRA_SUBNET}",
                                  AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
        ec2.associate_route_table(RouteTableId=private_rt, SubnetId=extra)
        for first in range(0, extra_instances, EXTRA_PER_LAUNCH):
            count = min(EXTRA_PER_LAUNCH, extra_instances - first)
            ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=count, MaxCount=count,
                              SubnetId=extra, SecurityGroupIds=[web_sg], TagSpecifications=[
                                  {"ResourceType": "instance", "Tags": _tag("extra", Environment="production")}])

    tgt = session(endpoint, TARGET_ACCOUNT).client("ec2", endpoint_url=endpoint)
    tbase = target_cidr.rsplit(".", 2)[0]
    tvpc = tgt.create_vpc(CidrBlock=target_cidr, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tag("hp")}])["Vpc"]["VpcId"]
    trt = tgt.create_route_table(VpcId=tvpc)["RouteTable"]["RouteTableId"]
    tsubnets = []
    for i, az in enumerate(["a", "c"]):
        sub = tgt.create_subnet(VpcId=tvpc, CidrBlock=f"{tbase}.{10 + i}.0/24",
                                AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        tgt.associate_route_table(RouteTableId=trt, SubnetId=sub)
        tsubnets.append(sub)
    if vcpu_quota is not None:
        quotas = dict(settings(endpoint)["vcpuQuotas"])
        quotas[TARGET_ACCOUNT] = {**quotas.get(TARGET_ACCOUNT, {}), STANDARD_VCPU_QUOTA: vcpu_quota}
        settings(endpoint, {"vcpuQuotas": quotas})

    first = move[0]
    return {
        "migrationId": migration_id,
        "region": REGION,
        "roleName": ROLE_NAME,
        "service": {
            "accountId": NETWORK_ACCOUNT,
            "listenerArn": listener,
            "ruleArn": None if first == "hp" else rules[first],
            "targetGroupArn": groups[first],
        },
        "source": {"accountId": NETWORK_ACCOUNT, "instanceIds": [i for n in move for i in instances[n]]},
        "target": {"accountId": TARGET_ACCOUNT, "vpcId": tvpc, "subnetIds": tsubnets},
        "consistency": consistency,
        "options": ({"shareSecurityGroupWithRam": True} if ram else {}) | (
            {"kmsKeyId": create_key(endpoint, NETWORK_ACCOUNT, usable_by=[TARGET_ACCOUNT])} if kms_key else {}),
    }


def _extra_rules(elb: Any, listener: str, lb_arn: str, count: int) -> None:
    """`count` more rules on the listener, within the ALB's rules quota (one left for the probe)."""
    if count <= 0:
        return
    limits = every(elb, "describe_account_limits", "Limits")
    quota = next((int(limit["Max"]) for limit in limits if limit["Name"] == RULES_QUOTA), None)
    used = sum(1 for lst in every(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb_arn)
               for rule in every(elb, "describe_rules", "Rules", ListenerArn=lst["ListenerArn"])
               if not rule["IsDefault"])
    if quota is not None and used + count + 1 > quota:
        raise ValueError(f"{count} more rules make {used + count} of the ALB's {quota} ({RULES_QUOTA}): "
                         f"carveout's probe rule needs one more; at most {quota - used - 1}")
    for n in range(count):
        elb.create_rule(
            ListenerArn=listener, Priority=1000 + n,
            Conditions=[{"Field": "host-header", "Values": [f"extra-{n}.example.com"]}],
            Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "200", "ContentType": "text/plain", "MessageBody": "extra"}}],
        )


def settings(endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The emulator's settings (`POST /_carveout/config`; an empty body changes nothing), after
    setting those in `body`. A key's whole value is replaced: to add to a dict-valued
    setting, read it first and write it back merged."""
    req = urllib.request.Request(f"{endpoint}/_carveout/config", data=json.dumps(body or {}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["phases"]


def create_key(endpoint: str, owner: str, usable_by: list[str], region: str = REGION) -> str:
    """A customer managed key in `owner` whose key policy lets `usable_by` use it for EBS
    (the statements docs/deploy.md asks for); returns its ARN."""
    statements = [{"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
                   "Action": "kms:*", "Resource": "*"}]
    if usable_by:
        principal = {"AWS": [f"arn:aws:iam::{a}:root" for a in usable_by]}
        statements += [
            {"Sid": "CarveOutTargetAccountReadsTheKey", "Effect": "Allow", "Principal": principal,
             "Action": "kms:DescribeKey", "Resource": "*"},
            {"Sid": "CarveOutTargetAccountUsesTheKeyThroughEbs", "Effect": "Allow", "Principal": principal,
             "Action": ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKeyWithoutPlaintext"], "Resource": "*",
             "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}},
            {"Sid": "CarveOutTargetAccountGrantsOnlyToEbs", "Effect": "Allow", "Principal": principal,
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]
    kms = session(endpoint, owner, region).client("kms", endpoint_url=endpoint)
    return kms.create_key(Description="carveout image re-encryption",
                          Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))["KeyMetadata"]["Arn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default=f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '5000')}")
    parser.add_argument("--out", help="write the plan here (default: stdout)")
    parser.add_argument("--migration-id", default="hp-2026-11")
    parser.add_argument("--target-cidr", default="10.1.0.0/16")
    parser.add_argument("--instances", type=int, default=1, help="instances of the moved service")
    parser.add_argument("--encrypted", choices=["aws-managed", "cmk"],
                        help="encrypt the moved instances' root volumes (aws/ebs default key, or a shared customer key)")
    parser.add_argument("--kms-key", action="store_true",
                        help="create a customer managed key both accounts may use and set options.kmsKeyId")
    parser.add_argument("--product-code", action="append", default=[],
                        help="launch the moved instances from a Marketplace image with this product code")
    parser.add_argument("--vcpu-quota", type=int,
                        help="the target account's applied Standard On-Demand vCPU quota (AWS default: 5)")
    parser.add_argument("--extra-rules", type=int, default=0,
                        help="more listener rules (fixed responses), within the ALB's rules quota")
    parser.add_argument("--extra-instances", type=int, default=0,
                        help="more running instances in the network account, in no target group")
    args = parser.parse_args()
    plan = seed(args.endpoint, migration_id=args.migration_id, target_cidr=args.target_cidr,
                instances_per_service=args.instances, encrypted=args.encrypted, kms_key=args.kms_key,
                product_codes=tuple(args.product_code), vcpu_quota=args.vcpu_quota,
                extra_rules=args.extra_rules, extra_instances=args.extra_instances)
    text = json.dumps(plan, indent=2) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"seeded {args.endpoint}; plan written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
