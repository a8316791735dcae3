"""Request recorder: one JSON line per AWS API request, for the IAM evaluation (tests/iam).

Enabled when `CARVEOUT_RECORD_REQUESTS` names a file. Each line holds what IAM would see
(calling account, principal, service, action, parameters) and what only the emulator
knows: for every resource id the request names, its owner account and tags *before* the
request, and afterwards the ids the request created (with their facts). Resolving a fact
never breaks a request: a failure is recorded as `{"error": ...}` for that id.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

ENV = "CARVEOUT_RECORD_REQUESTS"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_EC2_ID = re.compile(r"^(i|ami|snap|vol|sg|sgr|pcx|vpc|subnet|rtb|eni|igw)-[0-9a-f]+$")
_ARN = re.compile(r"^arn:aws:(elasticloadbalancing|ram|kms|iam|sts|ssm|states|sns):")
_KMS_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Ids a successful answer names as created, per service (XML element or JSON field).
_CREATED = {
    "ec2": re.compile(r"<(imageId|instanceId|groupId|vpcPeeringConnectionId|securityGroupRuleId)>([^<]+)<"),
    "elasticloadbalancing": re.compile(r"<(TargetGroupArn|RuleArn|ListenerArn)>([^<]+)<"),
    "ram": re.compile(r'"(resourceShareArn)"\s*:\s*"([^"]+)"'),
}
_CREATING = {"createimage", "copyimage", "runinstances", "createsecuritygroup", "createvpcpeeringconnection",
             "authorizesecuritygroupingress", "createtargetgroup", "createrule", "createresourceshare"}


def _safe(resolve: Callable[[], Any]) -> Any:
    try:
        return resolve()
    except Exception as err:  # noqa: BLE001 - a fact we cannot resolve is recorded, never raised
        return {"error": f"{type(err).__name__}: {err}"}


def parameters(environ: dict[str, Any], body: bytes, service: str) -> dict[str, Any]:
    """Query-protocol form parameters (ec2, elbv2, sts...) or the JSON body (ram, kms)."""
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        params.update(json.loads(text))
    elif text:
        params.update({k: v[0] for k, v in parse_qs(text).items()})
    return params


def principal(access_key: str) -> dict[str, Any]:
    """Role ARN and session name of assumed-role credentials, else the access key id."""
    from moto.iam.models import get_account_id_from
    from moto.sts.models import sts_backends

    account = get_account_id_from(access_key)
    role = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)
    if role is None:
        return {"accessKeyId": access_key, "account": account}
    return {"roleArn": role.role_arn, "sessionName": role.session_name, "account": account}


def referenced_ids(value: Any) -> list[str]:
    """Every EC2 id, ARN or KMS key id found in the parameters, in order, once."""
    found: list[str] = []

    def walk(item: Any, name: str) -> None:
        if isinstance(item, dict):
            for key, sub in item.items():
                if not str(key).lower().endswith("value"):  # a tag value names no resource
                    walk(sub, str(key))
        elif isinstance(item, list):
            for sub in item:
                walk(sub, name)
        elif isinstance(item, str) and item not in found and (
                _EC2_ID.match(item) or _ARN.match(item) or ("keyid" in name.lower() and _KMS_ID.match(item))):
            found.append(item)

    walk(value, "")
    return found


def _ec2_backends() -> Iterable[tuple[str, Any]]:
    from moto.ec2.models import ec2_backends

    for account in list(ec2_backends.keys()):
        yield account, ec2_backends[account]


def _ec2_object(backend: Any, rid: str) -> Any:
    kind = rid.split("-")[0]
    tables = {"ami": backend.amis, "snap": backend.snapshots, "vol": backend.volumes, "vpc": backend.vpcs,
              "pcx": backend.vpc_pcxs, "rtb": backend.route_tables, "eni": backend.enis, "igw": backend.internet_gateways}
    if kind in tables:
        return tables[kind].get(rid)
    lookups = {"i": backend.get_instance, "subnet": backend.get_subnet, "sg": backend.get_security_group_from_id}
    if kind in lookups:
        try:
            return lookups[kind](rid)
        except Exception:  # noqa: BLE001 - moto raises its NotFound errors
            return None
    if kind == "sgr":
        for groups in backend.groups.values():
            for group in groups.values():
                for rule in list(group.ingress_rules) + list(group.egress_rules):
                    if getattr(rule, "id", None) == rid:
                        return group
    return None


def _ec2_extra(obj: Any, rid: str) -> dict[str, Any]:
    """Relations the evaluation needs: an image's snapshots, a snapshot's key, a peering's VPCs."""
    kind = rid.split("-")[0]
    if kind == "ami":
        from .patches.encryption import devices

        return {"snapshots": [snap.id for _, snap in devices(obj) if snap is not None]}
    if kind == "snap":
        return {"encrypted": bool(obj.encrypted), "kmsKeyId": obj.kms_key_id}
    if kind == "vol":
        return {"encrypted": bool(obj.encrypted), "kmsKeyId": getattr(obj, "kms_key_id", None)}
    if kind == "pcx":
        return {"requesterVpc": obj.vpc.id, "requesterOwner": obj.vpc.owner_id,
                "accepterVpc": obj.peer_vpc.id, "accepterOwner": obj.peer_vpc.owner_id}
    if kind == "i":
        return {"volumes": [v.volume_id for _, v in obj.get_block_device_mapping],
                "networkInterfaces": [nic.id for nic in obj.nics.values()]}
    if kind == "sgr":
        return {"securityGroup": obj.id}
    return {}


def ec2_fact(rid: str, region: str) -> dict[str, Any]:
    """Owner, tags and relations of an EC2 id, looked up in every account's backend. A
    peering has a copy in each side's backend: the requester's holds the peering's tags,
    whichever account's backend moto happened to create first."""
    found = []
    for account, regional in _ec2_backends():
        if region not in regional:
            continue
        backend = regional[region]
        obj = _ec2_object(backend, rid)
        if obj is not None:
            found.append((account, backend, obj))
    if rid.startswith("pcx-"):
        found.sort(key=lambda f: str(f[2].vpc.owner_id) != f[0])
    for account, backend, obj in found[:1]:
        owner = getattr(obj, "owner_id", None) or account
        tag_id = obj.id if rid.startswith("sgr-") else rid
        return {"owner": str(owner), "region": region, "tags": dict(backend.tags.get(tag_id, {})),
                **_ec2_extra(obj, rid)}
    return {"error": "not found"}


def arn_fact(arn: str) -> dict[str, Any]:
    """Owner and tags of an ELBv2, RAM or KMS ARN."""
    parts = arn.split(":", 5)
    service, region, owner = parts[2], parts[3], parts[4]
    fact: dict[str, Any] = {"owner": owner, "region": region, "tags": {}}
    if service == "elasticloadbalancing":
        from moto.elbv2.models import elbv2_backends

        fact["tags"] = dict(elbv2_backends[owner][region].tagging_service.get_tag_dict_for_resource(arn))
    elif service == "ram":
        from moto.ram.models import ram_backends

        for share in ram_backends[owner][region].resource_shares:
            if share.arn == arn:
                fact["tags"] = {t["key"]: t["value"] for t in (getattr(share, "_carveout_tags", None) or [])}
    elif service == "kms":
        return kms_fact(arn.rsplit("/", 1)[-1], region)
    elif service == "iam":
        fact.update(iam_fact(arn, owner))
    return fact


def iam_fact(arn: str, owner: str) -> dict[str, Any]:
    """An instance profile's role (what RunInstances passes), a role's tags (PassRole's conditions)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[owner]["global"]
    kind, _, name = arn.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    if kind == "instance-profile":
        profile = backend.instance_profiles.get(name) or next(
            (p for p in backend.instance_profiles.values() if p.name == name), None)
        return {"role": profile.roles[0].arn} if profile is not None and profile.roles else {}
    if kind == "role":
        role = next((r for r in backend.roles.values() if r.name == name), None)
        tags = role.tags if role is not None else {}
        items = tags.values() if isinstance(tags, dict) else tags
        return {"tags": {t["Key"]: t["Value"] for t in items}}
    return {}


def kms_fact(key_id: str, region: str) -> dict[str, Any]:
    """Owner account and ARN of a KMS key id or ARN, in whichever account holds it."""
    from moto.kms.models import kms_backends

    key_id = key_id.rsplit("/", 1)[-1]
    for account in list(kms_backends.keys()):
        regional = kms_backends[account]
        if region in regional and key_id in regional[region].keys:
            key = regional[region].keys[key_id]
            return {"owner": account, "region": region, "tags": {}, "arn": key.arn,
                    "awsManaged": getattr(key, "key_manager", "CUSTOMER") == "AWS"}
    return {"error": "not found"}


def fact(rid: str, region: str) -> dict[str, Any]:
    if rid.startswith("arn:"):
        return _safe(lambda: arn_fact(rid))
    if _KMS_ID.match(rid):
        return _safe(lambda: kms_fact(rid, region))
    return _safe(lambda: ec2_fact(rid, region))


def with_relations(facts: dict[str, Any], region: str) -> dict[str, Any]:
    """Adds the facts of ids a fact points at (an image's snapshots, their keys, an instance's volumes)."""
    pending = list(facts)
    while pending:
        found = facts[pending.pop()]
        related = list(found.get("snapshots", [])) + list(found.get("volumes", [])) + list(
            found.get("networkInterfaces", [])) + ([found["role"]] if found.get("role") else [])
        if found.get("kmsKeyId"):
            related.append(found["kmsKeyId"])
        for rid in related:
            if rid not in facts:
                facts[rid] = fact(rid, region)
                pending.append(rid)
    return facts


def created_ids(service: str, action: str, status: int, answer: bytes) -> list[str]:
    if status >= 300 or action not in _CREATING or service not in _CREATED:
        return []
    ids: list[str] = []
    for _, value in _CREATED[service].findall(answer.decode("utf-8", "replace")):
        value = unquote(value)
        if value not in ids:
            ids.append(value)
    return ids


class Recorder:
    """Appends one JSON line per request to the file named by CARVEOUT_RECORD_REQUESTS."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.path)

    def around(self, environ: dict[str, Any], body: bytes, action: str, start_response: Any,
               serve: Callable[[Any], Iterable[bytes]]) -> list[bytes]:
        """Serves the request through `serve`, recording it with facts before and after."""
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region, service = match.groups() if match else ("", "", "")
        entry: dict[str, Any] = {"service": service, "action": action, "region": region,
                                 "method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
                                 "userAgent": environ.get("HTTP_USER_AGENT", "")}
        entry["principal"] = _safe(lambda: principal(access_key))
        entry["account"] = entry["principal"].get("account", "")
        entry["parameters"] = _safe(lambda: parameters(environ, body, service))
        ids = _safe(lambda: referenced_ids(entry["parameters"]))
        entry["before"] = _safe(lambda: with_relations({rid: fact(rid, region) for rid in ids}, region))
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        answer = b"".join(serve(capture))
        status = int(str(captured.get("status", "500")).split()[0])
        entry["status"] = status
        new = _safe(lambda: [i for i in created_ids(service, action.lower(), status, answer)
                             if i not in entry["before"]])
        entry["created"] = _safe(lambda: with_relations({rid: fact(rid, region) for rid in new}, region))
        self._append(entry)
        start_response(captured["status"], captured["headers"])
        return [answer]

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str, sort_keys=True)
        with self.lock, open(self.path or os.devnull, "a", encoding="utf-8") as out:
            out.write(line + "\n")


RECORDER = Recorder(os.environ.get(ENV) or None)
