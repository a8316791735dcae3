"""EC2's eventual consistency, as carveout's own requests meet it.

AWS: "Eventual consistency means that the result of an API command you run that affects
your Amazon EC2 resources might not be immediately visible to all subsequent commands you
run" (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). A
resource just created, or an image just shared, may answer its `*.NotFound` error to a
call that names it.

moto shows everything at once. Here an id created by carveout (RunInstances,
CreateSecurityGroup, CreateImage, CopyImage, CreateVpcPeeringConnection), or an image just
shared with another account (ModifyImageAttribute adding a launch permission: in that
account), answers its NotFound error to the next `eventualConsistencyReads` EC2 calls of
carveout's roles (sessions named `carveout-…`) that name it, then behaves normally. Test
setup (other principals) is unaffected. Describe calls by filter see the resource at
once: only calls naming the id are delayed.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .control import CONTROL, Fault

_CREATED = {
    "runinstances": re.compile(r"<instanceId>(i-[0-9a-f]+)<"),
    "createsecuritygroup": re.compile(r"<groupId>(sg-[0-9a-f]+)<"),
    "createimage": re.compile(r"<imageId>(ami-[0-9a-f]+)<"),
    "copyimage": re.compile(r"<imageId>(ami-[0-9a-f]+)<"),
    "createvpcpeeringconnection": re.compile(r"<vpcPeeringConnectionId>(pcx-[0-9a-f]+)<"),
}
_NOT_FOUND = {
    "i-": ("InvalidInstanceID.NotFound", "The instance ID '{id}' does not exist"),
    "sg-": ("InvalidGroup.NotFound", "The security group '{id}' does not exist"),
    "ami-": ("InvalidAMIID.NotFound", "The image id '[{id}]' does not exist"),
    "pcx-": ("InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '{id}' does not exist"),
}
_SHARED_WITH = re.compile(r"^LaunchPermission\.Add\.\d+\.UserId$")


def is_carveout(principal: dict[str, Any]) -> bool:
    return str(principal.get("sessionName", "")).startswith("carveout-")


class Consistency:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (account, id) -> reads still answered NotFound
        self.fresh: dict[tuple[str, str], int] = {}

    def reset(self) -> None:
        with self.lock:
            self.fresh = {}

    def _reads(self) -> int:
        return int(CONTROL.phases.get("eventualConsistencyReads") or 0)

    def watches(self, action: str) -> bool:
        """Whether the answer of `action` must be read (it creates or shares)."""
        return action in _CREATED or action == "modifyimageattribute"

    def before(self, account: str, action: str, ids: list[str]) -> Fault | None:
        """The NotFound answer for a call naming a still-invisible id, or None (creating calls
        too: RunInstances naming a new group or a just-shared image fails so on AWS)."""
        with self.lock:
            for rid in ids:
                left = self.fresh.get((account, rid), 0)
                if left > 0:
                    self.fresh[(account, rid)] = left - 1
                    code, message = next(v for k, v in _NOT_FOUND.items() if rid.startswith(k))
                    return Fault(action=action, code=code, message=message.format(id=rid), status=400)
        return None

    def after(self, account: str, action: str, params: dict[str, Any], status: int, answer: bytes) -> None:
        """Marks what a successful create or share made."""
        reads = self._reads()
        if status >= 300 or reads <= 0:
            return
        marked: list[tuple[str, str]] = []
        if action in _CREATED:
            marked = [(account, rid) for rid in _CREATED[action].findall(answer.decode("utf-8", "replace"))]
        elif action == "modifyimageattribute" and str(params.get("ImageId", "")).startswith("ami-"):
            marked = [(str(v), params["ImageId"]) for k, v in params.items() if _SHARED_WITH.match(k)]
        with self.lock:
            for key in marked:
                self.fresh[key] = reads


CONSISTENCY = Consistency()
