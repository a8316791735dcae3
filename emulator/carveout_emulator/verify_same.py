"""The same service on the new side: every setting carveout carries, compared between each
new instance and its source (and the new target group and the original), with describe
calls of their own. Used by verify.check, so every end-to-end run checks it."""

from __future__ import annotations

from typing import Any, Callable

from .seed import every

Check = Callable[[str, bool, str], None]

# ELB refuses Lambda-only attributes on an IP group; carveout carries every other one.
NOT_CARRIED_ATTRIBUTES = ("lambda.",)
HEALTH_CHECK = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath", "HealthCheckIntervalSeconds",
                "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher",
                "Protocol", "ProtocolVersion")


def _volumes(ec2: Any, inst: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    ids = {m["Ebs"]["VolumeId"]: m for m in inst.get("BlockDeviceMappings", []) if "Ebs" in m}
    if not ids:
        return {}
    found = every(ec2, "describe_volumes", "Volumes", VolumeIds=list(ids))
    return {ids[v["VolumeId"]]["DeviceName"]: (v["VolumeType"], v["Size"], v.get("Iops"), v.get("Throughput"),
                                                bool(ids[v["VolumeId"]]["Ebs"].get("DeleteOnTermination")))
            for v in found}


def _attribute(ec2: Any, iid: str, name: str) -> Any:
    answer = ec2.describe_instance_attribute(InstanceId=iid, Attribute=name)
    key = name[0].upper() + name[1:]
    return (answer.get(key) or {}).get("Value")


def instances(ok: Check, plan: dict[str, Any], new: list[dict[str, Any]], sources: list[dict[str, Any]],
              ec2t: Any, ec2s: Any) -> None:
    options = plan.get("options") or {}
    by_id = {s["InstanceId"]: s for s in sources}
    for inst in new:
        iid = inst["InstanceId"]
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        src = by_id.get(tags.get("carveout:source-instance-id", ""))
        if src is None:
            ok(f"{iid} names its source", False, str(tags))
            continue
        # A key DescribeInstances leaves out has EC2's default value.
        defaults = {"HttpEndpoint": "enabled", "InstanceMetadataTags": "disabled"}
        want = defaults | dict(src.get("MetadataOptions") or {})
        got = defaults | dict(inst.get("MetadataOptions") or {})
        if options.get("requireImdsv2"):
            want["HttpTokens"] = "required"
        keys = ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags")
        ok(f"{iid} metadata options as the source's" + (" with IMDSv2 required" if options.get("requireImdsv2") else ""),
           {k: want.get(k) for k in keys} == {k: got.get(k) for k in keys}, f"{got} vs {want}")
        profile = (src.get("IamInstanceProfile") or {}).get("Arn")
        wanted_profile = options.get("instanceProfiles", {}).get(profile.rsplit("/", 1)[-1]) if profile else None
        got_profile = (inst.get("IamInstanceProfile") or {}).get("Arn")
        ok(f"{iid} instance profile mapped by the plan",
           (got_profile or "").rsplit("/", 1)[-1] == (wanted_profile or "") and
           (got_profile is None or f":{plan['target']['accountId']}:" in got_profile), str(got_profile))
        ok(f"{iid} monitoring as the source's", inst["Monitoring"]["State"] == src["Monitoring"]["State"],
           f"{inst['Monitoring']} vs {src['Monitoring']}")
        ok(f"{iid} EBS optimization as the source's", bool(inst.get("EbsOptimized")) == bool(src.get("EbsOptimized")), "")
        ok(f"{iid} source/destination check as the source's",
           inst.get("SourceDestCheck", True) == src.get("SourceDestCheck", True),
           f"{inst.get('SourceDestCheck')} vs {src.get('SourceDestCheck')}")
        if not options.get("instanceType"):
            ok(f"{iid} CPU options as the source's", inst.get("CpuOptions") == src.get("CpuOptions"),
               f"{inst.get('CpuOptions')} vs {src.get('CpuOptions')}")
        ok(f"{iid} shutdown behaviour as the source's",
           _attribute(ec2t, iid, "instanceInitiatedShutdownBehavior") ==
           _attribute(ec2s, src["InstanceId"], "instanceInitiatedShutdownBehavior"), "")
        has_user_data = bool(_attribute(ec2s, src["InstanceId"], "userData"))
        passed = bool(_attribute(ec2t, iid, "userData"))
        ok(f"{iid} user data passed only when the plan says so",
           passed == (has_user_data and bool(options.get("passUserData"))), f"passed={passed}")
        new_vols, src_vols = _volumes(ec2t, inst), _volumes(ec2s, src)
        ok(f"{iid} every EBS volume as the source's (type, size, IOPS, throughput, delete on termination)",
           new_vols == src_vols, f"{new_vols} vs {src_vols}")


def target_group(ok: Check, elb: Any, original_arn: str, new: dict[str, Any]) -> None:
    original = elb.describe_target_groups(TargetGroupArns=[original_arn])["TargetGroups"][0]
    for key in HEALTH_CHECK:
        ok(f"new target group {key} as the original's", new.get(key) == original.get(key),
           f"{new.get(key)} vs {original.get(key)}")

    def attrs(arn: str) -> dict[str, str]:
        return {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
                if not a["Key"].startswith(NOT_CARRIED_ATTRIBUTES)}

    want, got = attrs(original_arn), attrs(new["TargetGroupArn"])
    ok("new target group attributes as the original's", got == want,
       str({k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}))
