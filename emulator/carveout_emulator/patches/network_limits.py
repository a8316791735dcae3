"""The shared limits a program runs into (issue 17), held as AWS holds them.

AWS (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html): routes per
route table 50 (Service Quotas vpc L-93826ACB, up to 1,000); active VPC peering
connections per VPC 50 (L-7E9ECCDB, up to 125); outstanding VPC peering connection
requests 25 (L-DC9F7029). Past them EC2 answers `RouteLimitExceeded`,
`ActiveVpcPeeringConnectionPerVpcLimitExceeded` and
`OutstandingVpcPeeringConnectionLimitExceeded`
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html). An
Application Load Balancer uses at most 100 target groups and 100 rules, not counting the
defaults (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html);
DescribeAccountLimits reports both, and CreateRule answers `TooManyTargetGroups` and
`TooManyRules` past them. An account holds at most 100 pending snapshots, not adjustable
(Service Quotas ebs L-94D7AB7D, https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html);
past it EC2 answers `PendingSnapshotLimitExceeded` (errors-overview above).

moto 5.2.5 holds none of these, and its DescribeAccountLimits lacks
`target-groups-per-application-load-balancer`. Here:

- CreateRoute (not the VPC's own local route) answers RouteLimitExceeded when the table
  already has its quota of routes (propagated routes do not count; moto has none).
- CreateVpcPeeringConnection answers OutstandingVpcPeeringConnectionLimitExceeded when the
  requester account has its quota of requests pending acceptance; AcceptVpcPeeringConnection
  answers ActiveVpcPeeringConnectionPerVpcLimitExceeded when either VPC has its quota of
  active connections.
- Service Quotas GetServiceQuota for these three codes answers the applied value of setting
  `vpcQuotas` (account id -> {quota code: value}), else AWS's default.
- CreateImage and CopyImage answer PendingSnapshotLimitExceeded when the account's pending
  snapshots and one per EBS volume of the instance (per snapshot of the image copied)
  would pass its quota: 100, or setting `ebsQuotas`
  (account id -> {"L-94D7AB7D": value}) so a test reaches it without a hundred snapshots;
  GetServiceQuota ebs L-94D7AB7D answers that value.
- CreateRule answers TooManyRules when the load balancer has its 100 rules, and
  TooManyTargetGroups when the rule's forward would bring it past 100 target groups.
"""

import copy
import sys
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import AmiBackend
from moto.ec2.models.route_tables import RouteBackend
from moto.ec2.models.vpc_peering_connections import VPCPeeringConnectionBackend
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend
from moto.elbv2.responses import ELBV2Response
from moto.servicequotas.models import ServiceQuotasBackend

from ..control import CONTROL
from ._util import once

ROUTES, ACTIVE, OUTSTANDING = "L-93826ACB", "L-7E9ECCDB", "L-DC9F7029"
DEFAULTS = {ROUTES: 50, ACTIVE: 50, OUTSTANDING: 25}
PER_ALB = 100
PENDING_SNAPSHOTS, PENDING_SNAPSHOTS_DEFAULT = "L-94D7AB7D", 100


def ebs_quota(account: str) -> int:
    """The account's pending-snapshot quota: setting ebsQuotas, else AWS's 100."""
    applied = (CONTROL.phases.get("ebsQuotas") or {}).get(account, {}).get(PENDING_SNAPSHOTS)
    return int(applied) if applied is not None else PENDING_SNAPSHOTS_DEFAULT


def vpc_quota(account: str, code: str) -> int:
    """The account's applied value of VPC quota `code` (setting vpcQuotas), else AWS's default."""
    applied = (CONTROL.phases.get("vpcQuotas") or {}).get(account, {}).get(code)
    return int(applied) if applied is not None else DEFAULTS[code]


def _peerings(region: str) -> list[Any]:
    """Every peering of the region, once (moto copies a cross-account one into both accounts)."""
    seen: dict[str, Any] = {}
    for account in list(ec2_backends.keys()):
        backend = ec2_backends[account].get(region) if region in ec2_backends[account] else None
        for pcx in (backend.vpc_pcxs.values() if backend else []):
            seen.setdefault(pcx.id, pcx)
    return list(seen.values())


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_route = RouteBackend.create_route
    original_create_pcx = VPCPeeringConnectionBackend.create_vpc_peering_connection
    original_accept = VPCPeeringConnectionBackend.accept_vpc_peering_connection
    original_quota = ServiceQuotasBackend.get_service_quota
    original_rule = ELBv2Backend.create_rule
    original_limits = ELBV2Response.describe_account_limits
    original_image = AmiBackend.create_image
    original_copy = AmiBackend.copy_image

    def hold_pending_snapshots(backend, adding, what):  # type: ignore[no-untyped-def]
        from .amis import pending_snapshots

        pending, quota = pending_snapshots(backend), ebs_quota(backend.account_id)
        if pending + adding > quota:
            raise EC2ClientError("PendingSnapshotLimitExceeded",
                                 f"The maximum number of pending snapshots ({quota}) has been reached: "
                                 f"{pending} pending, {what} needs {adding} more.")

    def create_route(self, route_table_id, destination_cidr_block, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not kwargs.get("local"):
            table = self.get_route_table(route_table_id)
            quota = vpc_quota(self.account_id, ROUTES)
            if len(table.routes) >= quota:
                raise EC2ClientError("RouteLimitExceeded",
                                     f"The maximum number of routes ({quota}) has been reached for {route_table_id}.")
        return original_route(self, route_table_id, destination_cidr_block, *args, **kwargs)

    def create_pcx(self, vpc, peer_vpc, tags=None):  # type: ignore[no-untyped-def]
        pending = sum(1 for p in _peerings(self.region_name)
                      if p._status.code == "pending-acceptance" and p.vpc.owner_id == self.account_id)
        quota = vpc_quota(self.account_id, OUTSTANDING)
        if pending >= quota:
            raise EC2ClientError("OutstandingVpcPeeringConnectionLimitExceeded",
                                 f"You have reached the limit of {quota} outstanding VPC peering connection requests.")
        return original_create_pcx(self, vpc, peer_vpc, tags)

    def accept(self, vpc_pcx_id):  # type: ignore[no-untyped-def]
        pcx = self.vpc_pcxs.get(vpc_pcx_id)
        if pcx is not None and pcx._status.code == "pending-acceptance":
            for vpc in (pcx.vpc, pcx.peer_vpc):
                active = sum(1 for p in _peerings(self.region_name) if p._status.code in ("active", "provisioning")
                             and vpc.id in (p.vpc.id, p.peer_vpc.id))
                quota = vpc_quota(vpc.owner_id, ACTIVE)
                if active >= quota:
                    raise EC2ClientError("ActiveVpcPeeringConnectionPerVpcLimitExceeded",
                                         f"VPC {vpc.id} has reached its limit of {quota} active VPC peering connections.")
        return original_accept(self, vpc_pcx_id)

    def create_image(self, instance_id, name, description, tag_specifications):  # type: ignore[no-untyped-def]
        instance = self.get_instance(instance_id)
        adding = sum(1 for _ in instance.get_block_device_mapping)
        hold_pending_snapshots(self, adding, f"the image of {instance_id}")
        return original_image(self, instance_id, name, description, tag_specifications)

    def copy_image(self, source_image_id, source_region, name=None, description=None):  # type: ignore[no-untyped-def]
        from .encryption import devices

        source = self.describe_images(ami_ids=[source_image_id])[0]
        adding = sum(1 for _, snap in devices(source) if snap is not None)
        hold_pending_snapshots(self, adding, f"the copy of {source_image_id}")
        return original_copy(self, source_image_id, source_region, name, description)

    def get_quota(self, service_code, quota_code):  # type: ignore[no-untyped-def]
        if service_code == "ebs" and quota_code == PENDING_SNAPSHOTS:
            return {"ServiceCode": "ebs", "ServiceName": "Amazon Elastic Block Store (Amazon EBS)",
                    "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ebs/{quota_code}",
                    "QuotaCode": quota_code, "QuotaName": "Pending snapshots per account",
                    "Value": float(ebs_quota(self.account_id)), "Unit": "None",
                    "Adjustable": False, "GlobalQuota": False}
        quota = original_quota(self, service_code, quota_code)
        if service_code == "vpc" and quota_code in DEFAULTS:
            quota = copy.deepcopy(quota)
            quota["Value"] = float(vpc_quota(self.account_id, quota_code))
        return quota

    def create_rule(self, listener_arn, conditions, priority, actions, tags=None):  # type: ignore[no-untyped-def]
        listeners = self.describe_listeners(None, [listener_arn])
        if listeners:
            lb_arn = listeners[0].load_balancer_arn
            lb = self.load_balancers.get(lb_arn)
            rules = sum(1 for lst in (lb.listeners.values() if lb else []) for r in lst.rules.values()
                        if not r.is_default)
            if rules >= PER_ALB:
                raise ELBClientError("TooManyRules", "You've reached the limit on the number of rules per load balancer.")
            used = {tg.arn for tg in self.target_groups.values() if lb_arn in tg.load_balancer_arns}
            new = {arn for a in actions if a.get("Type") == "forward"
                   for arn in self._get_target_group_arns_from(action_data=a)}
            if len(used | new) > PER_ALB:
                raise ELBClientError("TooManyTargetGroups",
                                     "You've reached the limit on the number of target groups per load balancer.")
        return original_rule(self, listener_arn, conditions, priority, actions, tags)

    def describe_account_limits(self):  # type: ignore[no-untyped-def]
        result = original_limits(self)
        limits = result.result["Limits"] if hasattr(result, "result") else None
        if limits is not None and not any(x["Name"] == "target-groups-per-application-load-balancer" for x in limits):
            limits.append({"Name": "target-groups-per-application-load-balancer", "Max": PER_ALB})
        return result

    AmiBackend.create_image = create_image
    AmiBackend.copy_image = copy_image
    RouteBackend.create_route = create_route
    VPCPeeringConnectionBackend.create_vpc_peering_connection = create_pcx
    VPCPeeringConnectionBackend.accept_vpc_peering_connection = accept
    ServiceQuotasBackend.get_service_quota = get_quota
    ELBv2Backend.create_rule = create_rule
    ELBV2Response.describe_account_limits = describe_account_limits
