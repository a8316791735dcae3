"""The Preflight catalogue: bad plans and bad situations, each run through the real state
machine; each must stop in Preflight with a named error and a message that says what is
wrong, and must create nothing."""

import copy
import json

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import ROLE_NAME, seed
from carveout_emulator.testing import ENDPOINT, client, configure, every, reset, run_local

N, T = "111111111111", "222222222222"
GOOD_LISTENER = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener/app/main/0123456789abcdef/0123456789abcdef"


def stop_source_gradually(plan, _world):
    plan["consistency"] = "stop-source"
    plan.setdefault("options", {})["trafficShift"] = [10, 100]


def setp(path, value):
    def apply(plan, _world):
        node = plan
        *parents, last = path
        for key in parents:
            node = node[key]
        node[last] = value
    return apply


def delp(path):
    def apply(plan, _world):
        node = plan
        *parents, last = path
        for key in parents:
            node = node[key]
        del node[last]
    return apply


def swap_region(plan, _world):
    plan["service"]["listenerArn"] = plan["service"]["listenerArn"].replace("ap-northeast-1", "us-east-1")


def other_service_group(plan, world):
    elb = client("elbv2", N)
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in every(elb, "describe_target_groups", "TargetGroups")}
    plan["service"]["targetGroupArn"] = groups["api"]


def missing_group(plan, _world):
    plan["service"]["targetGroupArn"] = plan["service"]["targetGroupArn"][:-16] + "0123456789abcdef"


def missing_listener(plan, _world):
    plan["service"]["listenerArn"] = GOOD_LISTENER


def stopped_source(plan, _world):
    client("ec2", N).stop_instances(InstanceIds=plan["source"]["instanceIds"])


def beanstalk_source(plan, _world):
    """stop-source of an instance an Elastic Beanstalk environment runs (its tag, as EB sets
    it): the environment would replace the stopped instance."""
    plan["consistency"] = "stop-source"
    client("ec2", N).create_tags(Resources=plan["source"]["instanceIds"],
                                 Tags=[{"Key": "elasticbeanstalk:environment-name", "Value": "web-env"}])


def stop_source_erasing_instance_store(plan, _world):
    """stop-source of an instance with instance store: a stop erases it on the source itself,
    whatever the plan allows for the new instances."""
    plan["consistency"] = "stop-source"
    plan.setdefault("options", {})["allowInstanceStoreDataLoss"] = True


def source_with_instance_profile(plan, _world):
    """A source with an IAM instance profile and no options.instanceProfiles entry: roles do
    not cross accounts, and carveout does not create them."""
    iam, ec2 = client("iam", N), client("ec2", N)
    iam.create_role(RoleName="web-role", AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')
    arn = iam.create_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": arn}, InstanceId=plan["source"]["instanceIds"][0])


def source_with_elastic_ip(plan, _world):
    """Clients that use the source's Elastic IP keep reaching the source after cutover."""
    ec2 = client("ec2", N)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=plan["source"]["instanceIds"][0])


def callee_of_the_source(plan, _world):
    """Another service's database admits the source's group: it will not admit the new
    instances' group."""
    ec2 = client("ec2", N)
    web = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] == "web-sg"][0]
    db = ec2.create_security_group(GroupName="db-sg", Description="db", VpcId=web["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web["GroupId"]}]}])


def unregistered_instance(plan, _world):
    ec2 = client("ec2", N)
    tagged = [i for r in every(ec2, "describe_instances", "Reservations") for i in r["Instances"]
              if {"Key": "Name", "Value": "api"} in i.get("Tags", [])]
    plan["source"]["instanceIds"] = [tagged[0]["InstanceId"]]


def group_serves_others(plan, _world):
    ec2, elb = client("ec2", N), client("elbv2", N)
    other = [i["InstanceId"] for r in every(ec2, "describe_instances", "Reservations") for i in r["Instances"]
             if {"Key": "Name", "Value": "api"} in i.get("Tags", [])][0]
    elb.register_targets(TargetGroupArn=plan["service"]["targetGroupArn"], Targets=[{"Id": other, "Port": 80}])


def missing_vpc(plan, _world):
    plan["target"]["vpcId"] = "vpc-0123456789abcdef0"


def missing_subnet(plan, _world):
    plan["target"]["subnetIds"] = ["subnet-0123456789abcdef0"]


def subnet_elsewhere(plan, _world):
    ec2 = client("ec2", T)
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    plan["target"]["subnetIds"] = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]]


def conflicting_route(plan, _world):
    ec2 = client("ec2", N)
    vpc = every(client("elbv2", N), "describe_load_balancers", "LoadBalancers")[0]["VpcId"]
    igw = [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]][0]
    for table in every(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc]}]):
        if any(a.get("SubnetId") for a in table.get("Associations", [])):
            ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="10.1.0.0/16", GatewayId=igw)


def network_route(cidr):
    """A route in the ALB subnets' route tables sending `cidr` to a transit gateway (moto
    takes any gateway id)."""
    def apply(plan, _world):
        ec2 = client("ec2", N)
        vpc = every(client("elbv2", N), "describe_load_balancers", "LoadBalancers")[0]["VpcId"]
        tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
        for table in every(ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc]}]):
            if any(a.get("SubnetId") for a in table.get("Associations", [])):
                ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock=cidr, TransitGatewayId=tgw)
    return apply


def alb_egress_to_its_vpc_only(plan, _world):
    """A hardened ALB group: egress only to its own VPC (the default allows everything)."""
    ec2 = client("ec2", N)
    sg = every(client("elbv2", N), "describe_load_balancers", "LoadBalancers")[0]["SecurityGroups"][0]
    ec2.revoke_security_group_egress(GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])


def default_security_group(plan, _world):
    ec2, elb = client("ec2", N), client("elbv2", N)
    lb = every(elb, "describe_load_balancers", "LoadBalancers")[0]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [lb["VpcId"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
    elb.set_security_groups(LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[default["GroupId"]])


def denied_role(plan, _world):
    configure(faults=[{"action": "AssumeRole", "code": "AccessDenied", "status": 403, "skip": 1,
                       "message": "not authorized to perform sts:AssumeRole"}])


def weighted_elsewhere(plan, _world):
    elb = client("elbv2", N)
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in every(elb, "describe_target_groups", "TargetGroups")}
    elb.modify_listener(ListenerArn=plan["service"]["listenerArn"], DefaultActions=[{
        "Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": groups["hp"], "Weight": 50}, {"TargetGroupArn": groups["api"], "Weight": 50}]}}])


def redirect_action(plan, _world):
    client("elbv2", N).modify_listener(ListenerArn=plan["service"]["listenerArn"], DefaultActions=[{
        "Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])


def rule_of_other_service(plan, _world):
    rules = every(client("elbv2", N), "describe_rules", "Rules", ListenerArn=plan["service"]["listenerArn"])
    plan["service"]["ruleArn"] = [r["RuleArn"] for r in rules if not r["IsDefault"]][0]


def pending_peering_by_someone_else(plan, _world):
    vpc = every(client("elbv2", N), "describe_load_balancers", "LoadBalancers")[0]["VpcId"]
    client("ec2", N).create_vpc_peering_connection(VpcId=vpc, PeerVpcId=plan["target"]["vpcId"], PeerOwnerId=T)


def rule_quota_reached(plan, _world):
    """The ALB at its rules quota (100): the other listener's rules count too."""
    elb = client("elbv2", N)
    lb = every(elb, "describe_load_balancers", "LoadBalancers")[0]["LoadBalancerArn"]
    used = sum(1 for lst in every(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb)
               for r in every(elb, "describe_rules", "Rules", ListenerArn=lst["ListenerArn"]) if not r["IsDefault"])
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}]
    other = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=fixed)
    for i in range(100 - used):
        elb.create_rule(ListenerArn=other["Listeners"][0]["ListenerArn"], Priority=100 + i, Actions=fixed,
                        Conditions=[{"Field": "path-pattern", "Values": [f"/legacy/{i}"]}])


def seeded(seed_kwargs, change=None):
    """A case whose world is seeded differently (encrypted volumes, a key in the plan)."""
    def apply(plan, world):
        if change:
            change(plan, world)
    apply.seed_kwargs = seed_kwargs
    return apply


def source_volume_key(plan):
    ec2 = client("ec2", N)
    vols = every(ec2, "describe_volumes", "Volumes",
                 Filters=[{"Name": "attachment.instance-id", "Values": plan["source"]["instanceIds"]}])
    return next(v["KmsKeyId"] for v in vols if v.get("Encrypted"))


def only_owner_may_use(key_arn):
    """The key policy without the statement for the target account (as if it was never added)."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{N}:root"}, "Action": "kms:*", "Resource": "*"}]}
    client("kms", N).put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))


def target_may_only_describe(key_arn):
    """The owner's statement and a DescribeKey grant for the target account: it sees the
    key, but EBS may not use it on its behalf (the launch would end terminated)."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{N}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{T}:root"}, "Action": "kms:DescribeKey",
         "Resource": "*"}]}
    client("kms", N).put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))


def volume_key_describe_only(plan, _world):
    target_may_only_describe(source_volume_key(plan))


def kms_key_describe_only(plan, _world):
    target_may_only_describe(plan["options"]["kmsKeyId"])


def volume_key_not_for_target(plan, _world):
    only_owner_may_use(source_volume_key(plan))


def kms_key_not_for_target(plan, _world):
    only_owner_may_use(plan["options"]["kmsKeyId"])


def kms_key_disabled(plan, _world):
    # moto's DisableKey takes the key id only (AWS also takes the ARN).
    client("kms", N).disable_key(KeyId=plan["options"]["kmsKeyId"].rsplit("/", 1)[1])


def kms_key_is_aws_managed(plan, _world):
    plan["options"]["kmsKeyId"] = source_volume_key(plan)


def kms_key_for_signing(plan, _world):
    plan["options"]["kmsKeyId"] = client("kms", N).create_key(
        KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["Arn"]


def kms_key_missing(plan, _world):
    plan["options"]["kmsKeyId"] = f"arn:aws:kms:ap-northeast-1:{N}:key/0b0b0b0b-1111-4222-8333-444444444444"


DEFAULT_KEY = {"encrypted": "aws-managed"}
WITH_KEY = {"encrypted": "aws-managed", "kms_key": True}

CASES = [
    # (id, change, error name, words the message must contain)
    ("account-id-malformed", setp(["service", "accountId"], "1234"), "InvalidPlan", ["service.accountId", "12-digit"]),
    ("target-account-malformed", setp(["target", "accountId"], "22222222222x"), "InvalidPlan", ["target.accountId"]),
    ("unknown-field", setp(["target", "vpcID"], "vpc-1"), "InvalidPlan", ["vpcID", "/target"]),
    ("consistency-missing", delp(["consistency"]), "InvalidPlan", ["consistency"]),
    ("consistency-unknown", setp(["consistency"], "sometimes"), "InvalidPlan", ["/consistency"]),
    ("stop-source-with-gradual-shift", stop_source_gradually, "InvalidPlan", ["stop-source", "[100]"]),
    ("instance-id-malformed", setp(["source", "instanceIds"], ["i-xyz"]), "InvalidPlan", ["i-xyz", "not a valid id"]),
    ("instance-ids-empty", setp(["source", "instanceIds"], []), "InvalidPlan", ["instanceIds"]),
    ("instance-listed-twice", lambda p, w: p["source"]["instanceIds"].append(p["source"]["instanceIds"][0]),
     "InvalidPlan", ["twice"]),
    ("vpc-id-malformed", setp(["target", "vpcId"], "vpc-xyz"), "InvalidPlan", ["target.vpcId", "vpc-xyz"]),
    ("subnet-id-malformed", setp(["target", "subnetIds"], ["subnet-1"]), "InvalidPlan", ["subnet-1"]),
    ("listener-arn-malformed", setp(["service", "listenerArn"], "arn:aws:elb:listener"), "InvalidPlan", ["listenerArn"]),
    ("cross-region-arn", swap_region, "InvalidPlan", ["us-east-1", "one region"]),
    ("migration-id-malformed", setp(["migrationId"], "hp 2026"), "InvalidPlan", ["migrationId"]),
    ("region-malformed", setp(["region"], "tokyo"), "InvalidPlan", ["region", "tokyo"]),
    ("role-name-malformed", setp(["roleName"], "bad role"), "InvalidPlan", ["roleName"]),
    ("same-source-and-target", setp(["target", "accountId"], N), "InvalidPlan", ["target.accountId equals"]),
    # Old and new copies serving at once split the writes of a database on the instance.
    ("gradual-shift-with-state-on-the-instance", setp(["options"], {"trafficShift": [10, 100]}), "InvalidPlan",
     ["writes split", "options.stateless"]),
    ("traffic-shift-not-to-100", setp(["options"], {"trafficShift": [10, 50], "stateless": True}), "InvalidPlan",
     ["ending at 100"]),
    ("traffic-shift-too-many-steps", setp(["options"], {"trafficShift": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100],
                                                        "stateless": True}),
     "InvalidPlan", ["has 11 steps; at most 10"]),
    ("rule-of-another-listener", setp(["service", "ruleArn"], GOOD_LISTENER.replace(":listener/", ":listener-rule/") + "/0011223344556677"),
     "InvalidPlan", ["ruleArn"]),
    ("listener-not-found", missing_listener, "InvalidPlan", ["listenerArn", "does not exist"]),
    ("target-group-not-found", missing_group, "InvalidPlan", ["forward only to service.targetGroupArn"]),
    ("action-forwards-elsewhere", other_service_group, "InvalidPlan", ["must forward only to"]),
    ("rule-forwards-elsewhere", rule_of_other_service, "InvalidPlan", ["the rule must forward only to"]),
    ("weighted-forward-to-two-groups", weighted_elsewhere, "InvalidPlan", ["must forward only to"]),
    ("redirect-action", redirect_action, "InvalidPlan", ["redirect"]),
    ("instance-not-found", setp(["source", "instanceIds"], ["i-0123456789abcdef0"]), "InvalidPlan",
     ["i-0123456789abcdef0"]),
    ("instance-not-running", stopped_source, "InvalidPlan", ["is stopped", "running"]),
    ("instance-store-volumes", seeded({"instance_type": "m5d.large"}), "InvalidPlan",
     ["instance store", "m5d.large: 75 GB", "options.allowInstanceStoreDataLoss"]),
    ("stop-source-of-a-managed-instance", beanstalk_source, "InvalidPlan",
     ["Elastic Beanstalk environment web-env", "replaces (terminates)", "consistency \"live\""]),
    ("stop-source-erasing-instance-store", seeded({"instance_type": "m5d.large"}, stop_source_erasing_instance_store),
     "InvalidPlan", ["instance store volumes", "lost when the instance stops", "allowInstanceStoreDataLoss"]),
    ("instance-type-offered-in-no-target-zone", setp(["options"], {"instanceType": "f2.6xlarge"}), "InvalidPlan",
     ["no target subnet is in a zone offering f2.6xlarge", "ap-northeast-1d"]),
    # The same service (docs/same-service.md): what cannot be carried as it is.
    ("source-with-unmapped-instance-profile", source_with_instance_profile, "InvalidPlan",
     ["instance-profile/web-profile", "options.instanceProfiles {\"web-profile\"", "does not create roles"]),
    ("source-reached-by-an-elastic-ip", source_with_elastic_ip, "InvalidPlan",
     ["Elastic IP", "address transfer", "options.acceptAddressChanges"]),
    ("another-services-group-admits-the-source", callee_of_the_source, "InvalidPlan",
     ["db-sg", "tcp 5432", "callee", "options.acknowledgedSecurityGroupReferences"]),
    ("instance-not-in-group", unregistered_instance, "InvalidPlan", ["not registered"]),
    ("group-serves-other-instances", group_serves_others, "InvalidPlan", ["also serves", "own rule"]),
    ("overlapping-cidrs", "overlap", "InvalidPlan", ["10.0.0.0/16", "overlaps"]),
    ("target-vpc-not-found", missing_vpc, "InvalidPlan", ["vpc-0123456789abcdef0", "does not exist"]),
    ("target-subnet-not-found", missing_subnet, "InvalidPlan", ["subnet-0123456789abcdef0"]),
    ("target-subnet-in-another-vpc", subnet_elsewhere, "InvalidPlan", ["not in target.vpcId"]),
    ("peering-pending-by-someone-else", pending_peering_by_someone_else, "Conflict",
     ["pending-acceptance", "one peering per pair of VPCs", "accept it"]),
    ("route-to-target-points-elsewhere", conflicting_route, "Conflict", ["10.1.0.0/16", "igw-"]),
    # A wider range elsewhere would lose traffic to the peering's more specific route; a
    # narrower one would keep new addresses away from it (docs/safety.md, routes).
    ("route-around-target-points-elsewhere", network_route("10.0.0.0/8"), "Conflict",
     ["10.0.0.0/8", "contains the target VPC's 10.1.0.0/16", "tgw-"]),
    ("route-inside-target-points-elsewhere", network_route("10.1.4.0/22"), "Conflict",
     ["10.1.4.0/22", "is inside the target VPC's 10.1.0.0/16", "tgw-"]),
    ("alb-egress-cannot-reach-target-subnets", alb_egress_to_its_vpc_only, "InvalidPlan",
     ["allow no egress to target subnet", "tcp 80", "does not change the ALB's groups"]),
    ("target-subnets-outside-ip-target-ranges", "public-target", "InvalidPlan",
     ["11.1.", "outside the ranges an ALB accepts for IP targets", "100.64.0.0/10"]),
    ("ram-share-of-default-group", seeded({"ram": True}, default_security_group), "InvalidPlan", ["default security group",
                                                                          "shareSecurityGroupWithRam"]),
    ("alb-at-its-rules-quota", rule_quota_reached, "InvalidPlan", ["100 listener rules", "probe rule", "quota"]),
    ("role-cannot-be-assumed", denied_role, "AccessDenied", [f"role/{ROLE_NAME}", "sts:AssumeRole"]),
    # Encrypted volumes (docs/design.md §5: default-key snapshots cannot be shared).
    ("default-key-volume-without-kms-key-id", seeded(DEFAULT_KEY), "InvalidPlan",
     ["AWS managed key", "cannot be shared", "set options.kmsKeyId"]),
    ("volume-key-the-target-may-not-use", seeded({"encrypted": "cmk"}, volume_key_not_for_target), "InvalidPlan",
     [T, "key policy", "options.kmsKeyId"]),
    ("volume-key-the-target-may-describe-but-not-use", seeded({"encrypted": "cmk"}, volume_key_describe_only),
     "InvalidPlan", ["describe it but not use it for EBS", "kms:CreateGrant", "Client.InternalError"]),
    ("kms-key-id-target-may-describe-but-not-use", seeded(WITH_KEY, kms_key_describe_only), "InvalidPlan",
     ["options.kmsKeyId", "describe it but not use it for EBS", "kms:Decrypt"]),
    ("kms-key-id-not-an-arn", setp(["options"], {"kmsKeyId": "alias/carveout"}), "InvalidPlan",
     ["options.kmsKeyId", "key ARN"]),
    ("kms-key-id-in-another-region",
     setp(["options"], {"kmsKeyId": f"arn:aws:kms:us-east-1:{N}:key/0b0b0b0b-1111-4222-8333-444444444444"}),
     "InvalidPlan", ["options.kmsKeyId", "us-east-1", "region"]),
    ("kms-key-id-not-found", seeded(WITH_KEY, kms_key_missing), "InvalidPlan", ["options.kmsKeyId", "source account"]),
    ("kms-key-id-aws-managed", seeded(WITH_KEY, kms_key_is_aws_managed), "InvalidPlan", ["AWS managed key"]),
    ("kms-key-id-disabled", seeded(WITH_KEY, kms_key_disabled), "InvalidPlan", ["options.kmsKeyId", "Disabled"]),
    ("kms-key-id-not-symmetric", seeded(WITH_KEY, kms_key_for_signing), "InvalidPlan", ["symmetric"]),
    ("kms-key-id-target-may-not-use", seeded(WITH_KEY, kms_key_not_for_target), "InvalidPlan",
     ["target account", T, "key policy"]),
    # The target account as AWS gives it (tests/test_target_account.py runs the rest).
    ("source-from-marketplace-image-target-not-subscribed", seeded({"product_codes": ("8fkdqbo2f7bzbvjpn4nf0n1aa",)}),
     "InvalidPlan", ["8fkdqbo2f7bzbvjpn4nf0n1aa", "OptInRequired", "options.marketplaceSubscriptions"]),
    ("target-vcpu-quota-too-small", seeded({"vcpu_quota": 1}), "InvalidPlan",
     ["may run 1 vCPUs", "L-1216C47A", "need 2", "request-service-quota-increase"]),
]


@pytest.mark.parametrize("case,change,error,words", CASES, ids=[c[0] for c in CASES])
def test_bad_plan_stops_in_preflight_with_a_named_error_and_creates_nothing(tmp_path, case, change, error, words):
    reset()
    target_cidr = {"overlap": "10.0.0.0/16", "public-target": "11.1.0.0/16"}.get(change, "10.1.0.0/16")
    plan = seed(ENDPOINT, target_cidr=target_cidr,
                **getattr(change, "seed_kwargs", {}))
    before = verify.counts(verify.end_state(ENDPOINT, plan))
    bad = copy.deepcopy(plan)
    if callable(change):
        change(bad, None)
    rc, out, events, _ = run_local(bad, tmp_path)
    configure(faults=[])
    assert rc == 1
    assert out["error"] == f"CarveOut.{error}", out
    for word in words:
        assert word in out["cause"], (word, out["cause"])
    entered = [e["state"] for e in events if e["event"] == "StateEntered"]
    assert entered == ["Preflight", "PreflightFailed"], entered
    assert verify.counts(verify.end_state(ENDPOINT, plan)) == before
