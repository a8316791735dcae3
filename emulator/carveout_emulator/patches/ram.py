"""RAM: security-group shares, association phases and the receiving side.

moto refuses security-group ARNs (fixed list of shareable types), reports every
association ASSOCIATED at once and has no receiving side. This patch:
- accepts `ec2:…:security-group/sg-…` ARNs;
- answers ASSOCIATING for N GetResourceShareAssociations reads per share, and FAILED
  for resource associations when `shareResourceAssociationFails` is set;
- implements GetResourceShares(resourceOwner=OTHER-ACCOUNTS) and ListResources, so the
  account a group was shared with can see it (inside an organization shares are accepted
  automatically, as with RAM sharing enabled for AWS Organizations);
- makes CreateResourceShare idempotent on clientToken and keeps its tags.
"""

import json
import sys
from typing import Any

from moto.ram import urls as ram_urls
from moto.ram.models import ResourceAccessManagerBackend, ResourceShare
from moto.ram.responses import ResourceAccessManagerResponse

from ..control import CONTROL
from ._util import once, other_backends


def _ram_backends() -> Any:
    from moto.ram.models import ram_backends

    return ram_backends


def _shares_for(backend: Any) -> list[Any]:
    """Active shares of other accounts whose principals include this account."""
    found = []
    for other in other_backends(backend, _ram_backends()):
        for share in other.resource_shares:
            if share.status == "ACTIVE" and backend.account_id in share.principals:
                found.append(share)
    return found


def _associated(share: Any) -> bool:
    return not CONTROL.still_in_phase("shareAssociatingPolls", "share", share.arn)


def _resource_type(arn: str) -> str:
    # arn:aws:ec2:region:account:security-group/sg-… -> ec2:SecurityGroup
    service, rest = arn.split(":")[2], arn.split(":", 5)[5]
    kind = rest.split("/")[0]
    return f"{service}:{''.join(p.capitalize() for p in kind.split('-'))}"


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    if "security-group" not in ResourceShare.SHAREABLE_RESOURCES:
        ResourceShare.SHAREABLE_RESOURCES.append("security-group")

    original_create = ResourceAccessManagerBackend.create_resource_share
    original_get = ResourceAccessManagerBackend.get_resource_shares
    original_assoc = ResourceAccessManagerBackend.get_resource_share_associations

    def create_resource_share(self, **kwargs):  # type: ignore[no-untyped-def]
        tokens = self.__dict__.setdefault("_carveout_tokens", {})
        token = kwargs.get("clientToken")
        if token and token in tokens:
            return tokens[token]
        response = original_create(self, **kwargs)
        share = self.resource_shares[-1]
        share._carveout_tags = list(kwargs.get("tags") or [])
        response["resourceShare"]["tags"] = share._carveout_tags
        if token:
            tokens[token] = response
        return response

    def get_resource_shares(self, resource_owner):  # type: ignore[no-untyped-def]
        if resource_owner == "OTHER-ACCOUNTS":
            shares = [s for s in _shares_for(self)]
        else:
            shares = list(self.resource_shares)
            original_get(self, resource_owner)  # keeps moto's parameter validation
        described = []
        for share in shares:
            entry = share.describe()
            entry["tags"] = getattr(share, "_carveout_tags", [])
            described.append(entry)
        return {"resourceShares": described}

    def get_resource_share_associations(self, association_type, association_status, resource_share_arns, resource_arn, principal):  # type: ignore[no-untyped-def]
        result = original_assoc(
            self, association_type, None, resource_share_arns, resource_arn, principal
        )
        shares = {s.arn: s for s in self.resource_shares}
        kept = []
        for assoc in result["resourceShareAssociations"]:
            share = shares.get(assoc["resourceShareArn"])
            if share is not None and share.status == "DELETED":
                assoc["status"] = "DISASSOCIATED"
            elif share is not None and not _associated(share):
                assoc["status"] = "ASSOCIATING"
            elif assoc.get("associationType") == "RESOURCE" and CONTROL.phases.get("shareResourceAssociationFails"):
                # RAM reports a resource it cannot share as a FAILED resource association
                # while the principal association is ASSOCIATED.
                # https://docs.aws.amazon.com/ram/latest/APIReference/API_ResourceShareAssociation.html
                assoc["status"] = "FAILED"
                assoc["statusMessage"] = "The resource could not be associated with the resource share."
            if association_status is None or assoc["status"] == association_status:
                kept.append(assoc)
        return {"resourceShareAssociations": kept}

    def list_resources(self, resource_owner, principal=None, resource_arns=None):  # type: ignore[no-untyped-def]
        if resource_owner == "OTHER-ACCOUNTS":
            shares = _shares_for(self)
        else:
            shares = [s for s in self.resource_shares if s.status == "ACTIVE"]
            if principal:
                shares = [s for s in shares if principal in s.principals]
        resources = []
        for share in shares:
            for arn in share.resource_arns:
                if resource_arns and arn not in resource_arns:
                    continue
                resources.append(
                    {
                        "arn": arn,
                        "type": _resource_type(arn),
                        "resourceShareArn": share.arn,
                        "status": "AVAILABLE",
                        "regionScope": "REGIONAL",
                    }
                )
        return {"resources": resources}

    def list_resources_response(self):  # type: ignore[no-untyped-def]
        return json.dumps(
            self.ram_backend.list_resources(
                self._get_param("resourceOwner"),
                self._get_param("principal"),
                self._get_param("resourceArns"),
            )
        )

    ResourceAccessManagerBackend.create_resource_share = create_resource_share
    ResourceAccessManagerBackend.get_resource_shares = get_resource_shares
    ResourceAccessManagerBackend.get_resource_share_associations = get_resource_share_associations
    ResourceAccessManagerBackend.list_resources = list_resources
    ResourceAccessManagerResponse.list_resources = list_resources_response
    ram_urls.url_paths["{0}/listresources$"] = ResourceAccessManagerResponse.dispatch
