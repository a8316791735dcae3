"""Checks a finished migration's end state with independent describe calls (boto3), not
with the workflow's own output: used by `make demo` and by the end-to-end tests.

    python -m carveout_emulator.verify --endpoint URL --plan plan.json --output output.json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import verify_same
from .seed import every, session

TAG = "carveout:migration-id"


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def end_state(endpoint: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What exists now for this migration, found from the plan alone."""
    mid, region = plan["migrationId"], plan["region"]
    n = session(endpoint, plan["service"]["accountId"], region)
    t = session(endpoint, plan["target"]["accountId"], region)
    s = session(endpoint, plan["source"]["accountId"], region)
    ec2n, elb = n.client("ec2", endpoint_url=endpoint), n.client("elbv2", endpoint_url=endpoint)
    ec2t, ec2s = t.client("ec2", endpoint_url=endpoint), s.client("ec2", endpoint_url=endpoint)

    listener = elb.describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]
    if plan["service"].get("ruleArn"):
        actions = elb.describe_rules(RuleArns=[plan["service"]["ruleArn"]])["Rules"][0]["Actions"]
    else:
        actions = listener["DefaultActions"]
    rules = every(elb, "describe_rules", "Rules", ListenerArn=plan["service"]["listenerArn"])
    # Deleted peerings stay visible for a while (as on AWS): count the live ones.
    pcxs = [p for p in every(ec2n, "describe_vpc_peering_connections", "VpcPeeringConnections")
            if _tags(p.get("Tags")).get(TAG) == mid
            and p["Status"]["Code"] not in ("deleted", "rejected", "failed", "expired")]
    images = [i for i in every(ec2s, "describe_images", "Images", Owners=["self"]) if _tags(i.get("Tags")).get(TAG) == mid]
    instances = [i for r in every(ec2t, "describe_instances", "Reservations") for i in r["Instances"]
                 if _tags(i.get("Tags")).get(TAG) == mid and i["State"]["Name"] != "terminated"]
    groups = [g for g in ec2t.describe_security_groups()["SecurityGroups"] if _tags(g.get("Tags")).get(TAG) == mid]
    tgs = [g for g in every(elb, "describe_target_groups", "TargetGroups") if g["TargetGroupName"].startswith("carveout-")]
    tgs = [g for g in tgs if _tags(elb.describe_tags(ResourceArns=[g["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]).get(TAG) == mid]
    sources = [i for r in ec2s.describe_instances(InstanceIds=plan["source"]["instanceIds"])["Reservations"]
               for i in r["Instances"]]
    return {
        "actions": actions, "rules": rules, "peerings": pcxs, "images": images, "instances": instances,
        "securityGroups": groups, "targetGroups": tgs, "sources": sources,
        "clients": {"ec2n": ec2n, "elb": elb, "ec2t": ec2t, "ec2s": ec2s},
    }


def counts(state: dict[str, Any]) -> dict[str, int]:
    keys = ["peerings", "images", "instances", "securityGroups", "targetGroups"]
    return {k: len(state[k]) for k in keys} | {"rules": len(state["rules"])}


def untagged(endpoint: str, plan: dict[str, Any], created: list[dict[str, str]]) -> list[str]:
    """The created resources (as listed in an execution output) that lack the migration tag."""
    mid, region = plan["migrationId"], plan["region"]
    missing = []
    for res in created:
        s = session(endpoint, res["accountId"], region)
        ec2, elb = s.client("ec2", endpoint_url=endpoint), s.client("elbv2", endpoint_url=endpoint)
        kind, rid = res["kind"], res["id"]
        if kind in ("target-group", "listener-rule"):
            tags = elb.describe_tags(ResourceArns=[rid])["TagDescriptions"][0]["Tags"]
        elif kind == "ram-resource-share":
            share = every(s.client("ram", endpoint_url=endpoint), "get_resource_shares", "resourceShares", resourceOwner="SELF")
            tags = [{"Key": t["key"], "Value": t["value"]} for x in share if x["resourceShareArn"] == rid for t in x.get("tags", [])]
        else:
            tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
        if _tags(tags).get(TAG) != mid:
            missing.append(f"{kind} {rid}")
    return missing


def check(endpoint: str, plan: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Every acceptance point of a successful migration, each (what, ok, detail)."""
    st = end_state(endpoint, plan)
    c = st["clients"]
    results: list[tuple[str, bool, str]] = []

    def ok(what: str, cond: bool, detail: str = "") -> None:
        results.append((what, bool(cond), detail))

    ok("exactly one peering", len(st["peerings"]) == 1, str([p["VpcPeeringConnectionId"] for p in st["peerings"]]))
    pcx = st["peerings"][0] if st["peerings"] else {}
    pcx_id = pcx.get("VpcPeeringConnectionId")
    ok("peering active", pcx.get("Status", {}).get("Code") == "active", str(pcx.get("Status")))
    n_cidr, t_cidr = pcx.get("RequesterVpcInfo", {}).get("CidrBlock"), pcx.get("AccepterVpcInfo", {}).get("CidrBlock")
    for client, vpc, cidr, side in [(c["ec2n"], pcx.get("RequesterVpcInfo", {}).get("VpcId"), t_cidr, "network"),
                                    (c["ec2t"], pcx.get("AccepterVpcInfo", {}).get("VpcId"), n_cidr, "target")]:
        tables = every(client, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc or "none"]}])
        via = [t["RouteTableId"] for t in tables for r in t["Routes"]
               if r.get("DestinationCidrBlock") == cidr and r.get("VpcPeeringConnectionId") == pcx_id]
        ok(f"route to {cidr} via the peering on the {side} side", len(via) >= 1, str(via))

    options = plan.get("options") or {}
    key = options.get("kmsKeyId")
    # stop-source: the pre-image taken while the source served (options.preImage, default on).
    pre = plan.get("consistency") == "stop-source" and options.get("preImage", True) is not False
    per_instance = (2 if key else 1) + (1 if pre else 0)  # kmsKeyId: and its re-encrypted copy
    ok("one image per source instance" + (" and its re-encrypted copy" if key else "")
       + (" and its pre-image" if pre else ""),
       len(st["images"]) == per_instance * len(plan["source"]["instanceIds"]),
       str([i["ImageId"] for i in st["images"]]))
    launched_from = {i["ImageId"] for i in st["instances"]}
    ok("no instance launched from a pre-image",
       not any(i["ImageId"] in launched_from for i in st["images"] if i.get("Name", "").endswith("-pre")),
       str(sorted(launched_from)))
    for image in st["images"]:
        if image["ImageId"] not in launched_from:
            continue
        perms = c["ec2s"].describe_image_attribute(ImageId=image["ImageId"], Attribute="launchPermission")
        users = [p.get("UserId") for p in perms["LaunchPermissions"]]
        ok(f"{image['ImageId']} shared with the target account", plan["target"]["accountId"] in users, str(users))
        if key:
            snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
            keys = {s.get("KmsKeyId") for s in every(c["ec2s"], "describe_snapshots", "Snapshots", SnapshotIds=snaps)}
            ok(f"{image['ImageId']} re-encrypted with options.kmsKeyId", keys == {key}, str(keys))

    ok("one new instance per source instance", len(st["instances"]) == len(plan["source"]["instanceIds"]),
       str([i["InstanceId"] for i in st["instances"]]))
    image_ids = {i["ImageId"] for i in st["images"]}
    alb_sgs = set(c["elb"].describe_load_balancers(
        LoadBalancerArns=[c["elb"].describe_listeners(ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["LoadBalancerArn"]]
    )["LoadBalancers"][0]["SecurityGroups"])
    ips = []
    for inst in st["instances"]:
        iid = inst["InstanceId"]
        ips.append(inst["PrivateIpAddress"])
        ok(f"{iid} running", inst["State"]["Name"] == "running", inst["State"]["Name"])
        ok(f"{iid} in a target subnet", inst["SubnetId"] in plan["target"]["subnetIds"], inst["SubnetId"])
        ok(f"{iid} launched from the shared image", inst["ImageId"] in image_ids, inst["ImageId"])
        if key:
            vols = every(c["ec2t"], "describe_volumes", "Volumes",
                         Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])
            ok(f"{iid} volumes encrypted with options.kmsKeyId",
               bool(vols) and all(v.get("Encrypted") and v.get("KmsKeyId") == key for v in vols),
               str([(v["VolumeId"], v.get("KmsKeyId")) for v in vols]))
        sg_ids = [g["GroupId"] for g in inst["SecurityGroups"]]
        sgs = c["ec2t"].describe_security_groups(GroupIds=sg_ids)["SecurityGroups"]
        refs = {(p.get("UserId"), p.get("GroupId")) for g in sgs for perm in g["IpPermissions"]
                for p in perm.get("UserIdGroupPairs", [])}
        want = {(plan["service"]["accountId"], sg) for sg in alb_sgs}
        ok(f"{iid} ingress references the ALB's security group", want <= refs, str(refs))

    verify_same.instances(ok, plan, st["instances"], st["sources"], c["ec2t"], c["ec2s"])
    ok("one IP target group", len(st["targetGroups"]) == 1, str([g["TargetGroupArn"] for g in st["targetGroups"]]))
    tg = st["targetGroups"][0] if st["targetGroups"] else {}
    ok("target group is IP type", tg.get("TargetType") == "ip", str(tg.get("TargetType")))
    if tg:
        health = c["elb"].describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        registered = {h["Target"]["Id"]: h["TargetHealth"]["State"] for h in health}
        ok("target group holds the new private IPs", set(ips) == set(registered), str(registered))
        ok("targets healthy", all(v == "healthy" for v in registered.values()), str(registered))
        verify_same.target_group(ok, c["elb"], plan["service"]["targetGroupArn"], tg)
    forwards = [a.get("TargetGroupArn") for a in st["actions"]] + [
        g["TargetGroupArn"] for a in st["actions"] for g in a.get("ForwardConfig", {}).get("TargetGroups", [])]
    ok("listener forwards to the new target group", tg.get("TargetGroupArn") in forwards and
       plan["service"]["targetGroupArn"] not in forwards, str(set(forwards)))
    probes = [r for r in st["rules"] if any(cnd.get("Field") == "http-header" for cnd in r.get("Conditions", []))]
    ok("probe rule removed", not probes, str([r["RuleArn"] for r in probes]))
    # consistency stop-source leaves the source stopped (intact); otherwise it keeps running.
    expected = "stopped" if plan.get("consistency") == "stop-source" else "running"
    for src in st["sources"]:
        ok(f"source {src['InstanceId']} {expected}", src["State"]["Name"] == expected, src["State"]["Name"])
        ok(f"source {src['InstanceId']} carries no carveout tag", not any(k.startswith("carveout:") for k in _tags(src.get("Tags"))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--plan", help="a migration's plan")
    parser.add_argument("--output", help="the execution output, to compare with what exists")
    parser.add_argument("--program-plan", help="`carveout program plan --json`: every service of a program, checked")
    args = parser.parse_args()
    if args.program_plan:
        services = json.load(open(args.program_plan, encoding="utf-8"))["services"]
        results = [(f"{s['name']}: {what}", good, detail)
                   for s in services for what, good, detail in check(args.endpoint, s["plan"])]
    elif args.plan:
        results = check(args.endpoint, json.load(open(args.plan, encoding="utf-8")))
    else:
        parser.error("--plan or --program-plan")
    plan = json.load(open(args.plan, encoding="utf-8")) if args.plan else None
    if args.output and plan:
        out = json.load(open(args.output, encoding="utf-8"))
        st = end_state(args.endpoint, plan)
        results.append(("output names the instance that exists",
                        {i["instanceId"] for i in out.get("instances", [])} == {i["InstanceId"] for i in st["instances"]}, ""))
        results.append(("output names the target group that exists",
                        [out.get("targetGroupArn")] == [g["TargetGroupArn"] for g in st["targetGroups"]], ""))
    for what, good, detail in results:
        print(f"  {'ok  ' if good else 'FAIL'} {what}" + ("" if good else f"  ({detail})"))
    failed = [r for r in results if not r[1]]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
