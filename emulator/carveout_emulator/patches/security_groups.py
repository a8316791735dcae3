"""Security-group rules that reference another account's group across a VPC peering.

On AWS an ingress rule may name (UserId=<other account>, GroupId=sg-…) when the two VPCs
are peered (active connection, same region). moto only looks in the caller's account and
answers InvalidGroup.NotFound. This patch resolves such a pair in the owner's account and,
like AWS, refuses it unless an active peering joins the two VPCs.
"""

import sys
from typing import Any

from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError
from moto.ec2.models.security_groups import SecurityGroupBackend

from ._util import once


def _foreign_group(backend: Any, account_id: str, group_id: str) -> Any:
    from moto.ec2.models import ec2_backends

    if account_id not in ec2_backends or backend.region_name not in ec2_backends[account_id]:
        return None
    return ec2_backends[account_id][backend.region_name].get_security_group_from_id(group_id)


def _peered(backend: Any, foreign_vpc_id: str) -> bool:
    own_vpcs = set(backend.vpcs.keys())
    for pcx in backend.vpc_pcxs.values():
        if pcx._status.code != "active":
            continue
        ends = {pcx.vpc.id, pcx.peer_vpc.id}
        if foreign_vpc_id in ends and ends & own_vpcs:
            return True
    return False


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original = SecurityGroupBackend._add_source_group

    def _add_source_group(self, source_groups, vpc_id):  # type: ignore[no-untyped-def]
        local, foreign = [], []
        for item in source_groups or []:
            owner = item.get("UserId")
            if owner and owner != self.account_id and "GroupId" in item:
                foreign.append(item)
            else:
                local.append(item)
        resolved = original(self, local, vpc_id)
        for item in foreign:
            group = _foreign_group(self, item["UserId"], item["GroupId"])
            if group is None or not _peered(self, group.vpc_id):
                raise InvalidSecurityGroupNotFoundError(item["GroupId"])
            item.setdefault("OwnerId", item["UserId"])
            resolved.append(item)
        return resolved

    SecurityGroupBackend._add_source_group = _add_source_group
