"""Seeds the emulator for a program (issue 17): the seed topology (seed.py: one shared
account with the ALB and five services), and one new account per service, each with its
own VPC (tagged Name=<service>) and two private subnets (tagged Tier=private). Writes the
program that moves every service into its own account, two at a time.

    python -m carveout_emulator.seed_program --endpoint http://127.0.0.1:5000 --out program.json

`mail`'s target is picked by tag (`targetByTag`), as for an account vended after the
program was written; `--vended-later` leaves mail's VPC out (the account is not ready).
`admin` depends on `api`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .seed import NETWORK_ACCOUNT, REGION, SERVICES, TARGET_ACCOUNT, _tag, every, seed, session

# One new account per service; hp's is seed.py's target account.
TARGET_ACCOUNTS = {"hp": TARGET_ACCOUNT, "api": "333333333333", "admin": "444444444444",
                   "batch": "555555555555", "mail": "666666666666"}
VENDED = "mail"
# Services past the seed's five (the program bench: 20 services): svc06, svc07, … each with
# an instance, a target group and a host-header rule, into account 7000000000NN.
EXTRA_PREFIX = "svc"


def account_of(service: str) -> str:
    return TARGET_ACCOUNTS.get(service) or f"7000000000{int(service.removeprefix(EXTRA_PREFIX)):02d}"


def extra_services(endpoint: str, listener: str, count: int) -> list[str]:
    """`count` more services on the seed's listener (svc06…): each a running t3.small in a
    private subnet of the ALB's VPC, an instance target group and a host-header rule."""
    ec2 = session(endpoint, NETWORK_ACCOUNT).client("ec2", endpoint_url=endpoint)
    elb = session(endpoint, NETWORK_ACCOUNT).client("elbv2", endpoint_url=endpoint)
    vpc = every(ec2, "describe_vpcs", "Vpcs", Filters=[{"Name": "tag:Name", "Values": ["main"]}])[0]["VpcId"]
    hp = every(ec2, "describe_instances", "Reservations", Filters=[{"Name": "tag:Service", "Values": ["hp"]}])
    template = hp[0]["Instances"][0]
    names = []
    for i in range(len(SERVICES) + 1, len(SERVICES) + 1 + count):
        name = f"{EXTRA_PREFIX}{i:02d}"
        instance = ec2.run_instances(
            ImageId=template["ImageId"], InstanceType="t3.small", MinCount=1, MaxCount=1,
            SubnetId=template["SubnetId"], SecurityGroupIds=[g["GroupId"] for g in template["SecurityGroups"]],
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tag(name, Service=name)}],
        )["Instances"][0]["InstanceId"]
        tg = elb.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckProtocol="HTTP",
            HealthCheckPath="/healthz", HealthCheckIntervalSeconds=15, HealthyThresholdCount=3,
            UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"},
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance, "Port": 80}])
        elb.create_rule(ListenerArn=listener, Priority=100 + i, Conditions=[
            {"Field": "host-header", "Values": [f"{name}.example.com"]}],
            Actions=[{"Type": "forward", "TargetGroupArn": tg}])
        names.append(name)
    return names


def target_vpc(endpoint: str, service: str) -> dict[str, Any]:
    """A VPC in `service`'s new account, 10.<n>.0.0/16, tagged Name=<service>, with two
    private subnets tagged Tier=private and a route table of its own."""
    n = SERVICES.index(service) + 1 if service in SERVICES else int(service.removeprefix(EXTRA_PREFIX))
    ec2 = session(endpoint, account_of(service)).client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": _tag(service)}])["Vpc"]["VpcId"]
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    subnets = []
    for i, az in enumerate(["a", "c"]):
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{n}.{10 + i}.0/24", AvailabilityZone=f"{REGION}{az}",
                                TagSpecifications=[{"ResourceType": "subnet",
                                                    "Tags": _tag(f"{service}-{az}", Tier="private")}])
        ec2.associate_route_table(RouteTableId=rt, SubnetId=sub["Subnet"]["SubnetId"])
        subnets.append(sub["Subnet"]["SubnetId"])
    return {"accountId": account_of(service), "vpcId": vpc, "subnetIds": subnets}


def seed_program(endpoint: str, *, program_id: str = "split-1", vended_later: bool = False,
                 services: int = len(SERVICES)) -> dict[str, Any]:
    """Seeds the topology and one target account per service (the seed's five, then
    `services - 5` more: extra_services); returns the program."""
    plan = seed(endpoint, migration_id=f"{program_id}-hp")
    elb = session(endpoint, NETWORK_ACCOUNT).client("elbv2", endpoint_url=endpoint)
    listener = plan["service"]["listenerArn"]
    names = SERVICES + extra_services(endpoint, listener, max(0, services - len(SERVICES)))
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in every(elb, "describe_target_groups", "TargetGroups")}
    rules = {a["TargetGroupArn"]: r["RuleArn"] for r in every(elb, "describe_rules", "Rules", ListenerArn=listener)
             if not r["IsDefault"] for a in r["Actions"] if a.get("TargetGroupArn")}
    entries = []
    for name in names:
        health = elb.describe_target_health(TargetGroupArn=groups[name])["TargetHealthDescriptions"]
        entry: dict[str, Any] = {"name": name, "plan": {
            "service": {"targetGroupArn": groups[name], "ruleArn": rules.get(groups[name])},
            "source": {"instanceIds": sorted(t["Target"]["Id"] for t in health)},
        }}
        if name == "hp":
            entry["plan"]["target"] = plan["target"]
        elif name == VENDED:
            entry["targetByTag"] = {"accountId": TARGET_ACCOUNTS[name], "vpcTags": {"Name": name},
                                    "subnetTags": {"Tier": "private"}, "waitMinutes": 30}
            if not vended_later:
                target_vpc(endpoint, name)
        else:
            entry["plan"]["target"] = target_vpc(endpoint, name)
        if name == "admin":
            entry["dependsOn"] = ["api"]
        entries.append(entry)
    return {
        "programId": program_id,
        "defaults": {
            "region": plan["region"],
            "roleName": plan["roleName"],
            "service": {"accountId": NETWORK_ACCOUNT, "listenerArn": listener},
            "source": {"accountId": NETWORK_ACCOUNT},
            "consistency": "live",
        },
        "maxConcurrency": 2,
        "services": entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default=f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '5000')}")
    parser.add_argument("--out", help="write the program here (default: stdout)")
    parser.add_argument("--program-id", default="split-1")
    parser.add_argument("--vended-later", action="store_true", help="leave mail's target VPC out (not vended yet)")
    parser.add_argument("--services", type=int, default=len(SERVICES), help="services in all (past 5: svc06, …)")
    args = parser.parse_args()
    program = seed_program(args.endpoint, program_id=args.program_id, vended_later=args.vended_later,
                           services=args.services)
    text = json.dumps(program, indent=2) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"seeded {args.endpoint}; program written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
