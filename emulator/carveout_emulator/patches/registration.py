"""RegisterTargets as AWS checks IP targets.

moto registers any id. AWS, for a target group of type `ip`
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html):
an address inside the target group's VPC is fine; one outside it must be in 10.0.0.0/8,
172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10 (RFC 6598), else
`InvalidTarget`; and it must name `AvailabilityZone=all`, else `ValidationError` ("The
Availability Zone is required for IP address … because it is not in the VPC").
"""

import ipaddress
import sys
from typing import Any

from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend

from ._util import once

OUTSIDE_VPC_RANGES = [ipaddress.ip_network(n) for n in
                      ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def vpc_networks(backend: Any, vpc_id: str) -> list[Any]:
    vpc = backend.ec2_backend.vpcs.get(vpc_id)
    if vpc is None:
        return []
    blocks = {vpc.cidr_block} | {a["cidr_block"] for a in vpc.cidr_block_association_set if a.get("cidr_block")}
    return [ipaddress.ip_network(b) for b in blocks]


def check(backend: Any, group: Any, targets: list[dict[str, Any]]) -> None:
    if getattr(group, "target_type", "instance") != "ip":
        return
    inside = vpc_networks(backend, group.vpc_id)
    for target in targets:
        ip = ipaddress.ip_address(target["Id"])
        if any(ip in n for n in inside):
            continue
        if not any(ip in n for n in OUTSIDE_VPC_RANGES):
            raise ELBClientError("InvalidTarget", f"The IP address '{ip}' is not in the VPC of the target group and "
                                 "not in a range allowed for targets outside it (RFC 1918, RFC 6598)")
        if target.get("AvailabilityZone") != "all":
            raise ELBClientError("ValidationError", f"The Availability Zone is required for IP address '{ip}' "
                                 "because it is not in the VPC; it must be 'all'")


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original = ELBv2Backend.register_targets

    def register_targets(self, target_group_arn, instances):  # type: ignore[no-untyped-def]
        group = self.target_groups.get(target_group_arn)
        if group is not None:
            check(self, group, instances)
        return original(self, target_group_arn, instances)

    ELBv2Backend.register_targets = register_targets
