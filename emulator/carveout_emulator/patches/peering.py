"""VPC peering phases: accept's eventual consistency and `provisioning` after accept.

On AWS a just-created peering can be unknown to the accepter for a moment
(InvalidVpcPeeringConnectionID.NotFound) and goes pending-acceptance -> provisioning ->
active. moto is `active` at once. Both phases are counted in reads (see control.py).
"""

import sys

from moto.ec2.exceptions import InvalidVPCPeeringConnectionIdError
from moto.ec2.models.vpc_peering_connections import (
    PeeringConnectionStatus,
    VPCPeeringConnectionBackend,
)

from ..control import CONTROL
from ._util import once


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_accept = VPCPeeringConnectionBackend.accept_vpc_peering_connection
    original_describe = VPCPeeringConnectionBackend.describe_vpc_peering_connections

    def accept(self, vpc_pcx_id):  # type: ignore[no-untyped-def]
        pcx = self.vpc_pcxs.get(vpc_pcx_id)
        if (
            pcx is not None
            and pcx.vpc.owner_id != self.account_id
            and CONTROL.still_in_phase("peeringAcceptNotFound", "pcx-accept", vpc_pcx_id)
        ):
            raise InvalidVPCPeeringConnectionIdError(vpc_pcx_id)
        return original_accept(self, vpc_pcx_id)

    def status_accept(self):  # type: ignore[no-untyped-def]
        if int(CONTROL.phases.get("peeringProvisioningPolls") or 0) > 0:
            self.code = "provisioning"
            self.message = "Provisioning"
        else:
            self.code = "active"
            self.message = "Active"

    def describe(self, vpc_peering_ids=None):  # type: ignore[no-untyped-def]
        found = original_describe(self, vpc_peering_ids)
        for pcx in found:
            if pcx._status.code == "provisioning" and not CONTROL.still_in_phase(
                "peeringProvisioningPolls", "pcx", pcx.id
            ):
                pcx._status.code = "active"
                pcx._status.message = "Active"
        return found

    VPCPeeringConnectionBackend.accept_vpc_peering_connection = accept
    VPCPeeringConnectionBackend.describe_vpc_peering_connections = describe
    PeeringConnectionStatus.accept = status_accept
