"""Route 53 private hosted zones shared with a VPC of another account.

AWS: to associate a VPC of one account with a private hosted zone of another, the zone's
account calls CreateVPCAssociationAuthorization (one per VPC), then the VPC's account calls
AssociateVPCWithHostedZone; without the authorization that call answers
NotAuthorizedException. A VPC already associated with another zone of the same name answers
ConflictingDomainExists, as does one already associated with this zone.
DeleteVPCAssociationAuthorization only prevents future
associations. Either account may call DisassociateVPCFromHostedZone, and
ListHostedZonesByVPC lists the zones of every account associated with the VPC, each with its
OwningAccount
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-associate-vpcs-different-accounts.html,
https://docs.aws.amazon.com/Route53/latest/APIReference/API_AssociateVPCWithHostedZone.html,
API_DisassociateVPCFromHostedZone.html, API_ListHostedZonesByVPC.html).

moto has no association authorizations at all, and looks a zone up in the caller's account
only: the VPC's account cannot associate, disassociate or list another account's zone.
"""

import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.route53 import urls as route53_urls
from moto.route53.exceptions import NoSuchHostedZone, Route53ClientError
from moto.route53.models import Route53Backend, route53_backends
from moto.route53.responses import Route53

from ._util import once, other_backends


class NotAuthorized(Route53ClientError):
    def __init__(self, zone_id: str, vpc_id: str) -> None:
        super().__init__("NotAuthorizedException",
                         f"The VPC {vpc_id} is not authorized to be associated with hosted zone {zone_id}")


class AuthorizationNotFound(Route53ClientError):
    def __init__(self, zone_id: str, vpc_id: str) -> None:
        super().__init__("VPCAssociationAuthorizationNotFound",
                         f"No authorization for VPC {vpc_id} on hosted zone {zone_id}")


class ConflictingDomain(Route53ClientError):
    def __init__(self, name: str, vpc_id: str) -> None:
        super().__init__("ConflictingDomainExists",
                         f"The VPC {vpc_id} is already associated with another hosted zone named {name}")


class InvalidVpc(Route53ClientError):
    def __init__(self, vpc_id: str) -> None:
        super().__init__("InvalidVPCId",
                         f"The VPC ID {vpc_id} is not valid or the current account is not authorized to access it")


def _all_backends(backend: Any) -> list[Any]:
    return [backend, *other_backends(backend, route53_backends)]


def _zone_anywhere(backend: Any, zone_id: str) -> tuple[Any, Any]:
    """(owning backend, zone) of a zone id in any account."""
    bare = zone_id.replace("/hostedzone/", "")
    for b in _all_backends(backend):
        if bare in b.zones:
            return b, b.zones[bare]
    raise NoSuchHostedZone(zone_id)


def _authorizations(zone: Any) -> set[tuple[str, str]]:
    if not hasattr(zone, "_carveout_authorizations"):
        zone._carveout_authorizations = set()
    return zone._carveout_authorizations


def _vpc_of_caller(backend: Any, vpc_id: str, region: str) -> None:
    from moto.ec2.models import ec2_backends

    try:
        ec2_backends[backend.account_id][region].get_vpc(vpc_id)
    except Exception as e:  # moto's InvalidVPCIdError
        raise InvalidVpc(vpc_id) from e


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_associate = Route53Backend.associate_vpc_with_hosted_zone
    original_disassociate = Route53Backend.disassociate_vpc_from_hosted_zone

    def associate(self, zone_id, vpcid, vpcregion):  # type: ignore[no-untyped-def]
        owner, zone = _zone_anywhere(self, zone_id)
        _vpc_of_caller(self, vpcid, vpcregion)
        if owner is not self and (vpcid, vpcregion) not in _authorizations(zone):
            raise NotAuthorized(zone.id, vpcid)
        for b in _all_backends(self):
            for other in b.zones.values():
                if other is not zone and other.private_zone and other.name == zone.name and any(
                        v.get("vpc_id") == vpcid for v in other.vpcs):
                    raise ConflictingDomain(zone.name, vpcid)
        if any(v.get("vpc_id") == vpcid for v in zone.vpcs):
            # AWS answers a VPC already associated with the zone so too.
            raise ConflictingDomain(zone.name, vpcid)
        return original_associate(owner, zone.id, vpcid, vpcregion)

    def disassociate(self, zone_id, vpcid):  # type: ignore[no-untyped-def]
        owner, zone = _zone_anywhere(self, zone_id)
        if owner is not self:
            # The VPC's account may disassociate another account's zone: check it owns the VPC.
            region = next((v.get("vpc_region") for v in zone.vpcs if v.get("vpc_id") == vpcid), None)
            if region is None:
                raise Route53ClientError("VPCAssociationNotFound", f"{vpcid} is not associated with {zone.id}")
            _vpc_of_caller(self, vpcid, region)
        if not any(v.get("vpc_id") == vpcid for v in zone.vpcs):
            raise Route53ClientError("VPCAssociationNotFound", f"{vpcid} is not associated with {zone.id}")
        return original_disassociate(owner, zone.id, vpcid)

    def list_by_vpc(self, vpc_id):  # type: ignore[no-untyped-def]
        return [{"HostedZoneId": z.resource_id, "Name": z.name, "Owner": {"OwningAccount": b.account_id}}
                for b in _all_backends(self) for z in b.zones.values()
                if z.private_zone and any(v.get("vpc_id") == vpc_id for v in z.vpcs)]

    Route53Backend.associate_vpc_with_hosted_zone = associate
    Route53Backend.disassociate_vpc_from_hosted_zone = disassociate
    Route53Backend.list_hosted_zones_by_vpc = list_by_vpc

    def authorization(create: bool) -> Any:
        def handler(self):  # type: ignore[no-untyped-def]
            zone = self.backend.get_hosted_zone(self._get_param("HostedZoneId") or self.path.split("/")[3])
            vpc_id, region = self._get_param("VPC.VPCId"), self._get_param("VPC.VPCRegion")
            if create:
                _authorizations(zone).add((vpc_id, region))
                return ActionResult({"HostedZoneId": zone.id, "VPC": {"VPCId": vpc_id, "VPCRegion": region}})
            if (vpc_id, region) not in _authorizations(zone):
                raise AuthorizationNotFound(zone.id, vpc_id)
            _authorizations(zone).discard((vpc_id, region))
            return ActionResult({})
        return handler

    def list_authorizations(self):  # type: ignore[no-untyped-def]
        zone = self.backend.get_hosted_zone(self._get_param("HostedZoneId") or self.path.split("/")[3])
        return ActionResult({"HostedZoneId": zone.id, "VPCs": [
            {"VPCId": v, "VPCRegion": r} for v, r in sorted(_authorizations(zone))]})

    Route53.create_vpc_association_authorization = authorization(True)
    Route53.delete_vpc_association_authorization = authorization(False)
    Route53.list_vpc_association_authorizations = list_authorizations
    base = r"{0}/(?P<api_version>[\d_-]+)/hostedzone/(?P<zone_id>[^/]+)/"
    for path in ("authorizevpcassociation/?$", "deauthorizevpcassociation/?$"):
        route53_urls.url_paths[base + path] = Route53.dispatch
