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

A state change is eventually consistent too: right after StopInstances or StartInstances,
a read may still show the state from before the call. moto changes the state at once (its
StopInstances answers `stopping` and the instance already reads `stopped`). Here, after a
successful StopInstances / StartInstances of carveout's, its next `stateChangeStaleReads`
DescribeInstances / DescribeInstanceStatus calls in that account naming the instance show
the instance's previous state (the answer's `previousState`: `running`, code 16, after a
stop; `stopped`, code 80, after a start); nothing else in the answer changes.
DescribeInstanceStatus without IncludeAllInstances lists only instances that read
`running`, stale ones included.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

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
_STATE_CHANGES = ("stopinstances", "startinstances")
_STATE_READS = ("describeinstances", "describeinstancestatus")
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15"


def is_carveout(principal: dict[str, Any]) -> bool:
    return str(principal.get("sessionName", "")).startswith("carveout-")


def _tag(name: str) -> str:
    return f"{{{EC2_NS}}}{name}"


@dataclass
class StaleView:
    """What one DescribeInstances / DescribeInstanceStatus answer must show instead:
    instance id -> (state code, state name) from before the last stop or start."""

    states: dict[str, tuple[str, str]]
    # DescribeInstanceStatus without IncludeAllInstances: moto is asked for every state (a
    # stale `running` instance that is stopped must still be listed), the answer keeps
    # only what reads `running`.
    running_only: bool = False

    def request_body(self, body: bytes) -> bytes:
        if not self.running_only:
            return body
        pairs = [(k, v) for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True)
                 if k != "IncludeAllInstances"]
        return urlencode(pairs + [("IncludeAllInstances", "true")]).encode()

    def rewrite(self, answer: bytes) -> bytes:
        root = ET.fromstring(answer)
        for parent in list(root.iter()):
            for item in list(parent):
                state = item.find(_tag("instanceState"))
                iid = item.findtext(_tag("instanceId"))
                if item.tag != _tag("item") or state is None or iid is None:
                    continue
                if iid in self.states:
                    code, name = self.states[iid]
                    state.find(_tag("code")).text, state.find(_tag("name")).text = code, name  # type: ignore[union-attr]
                if self.running_only and state.findtext(_tag("name")) != "running":
                    parent.remove(item)
        namespace = EC2_NS if root.tag.startswith(_tag("")) else None
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                       default_namespace=namespace)


class Consistency:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (account, id) -> reads still answered NotFound
        self.fresh: dict[tuple[str, str], int] = {}
        # (account, instance id) -> [reads still stale, previous state code, previous state name]
        self.stale: dict[tuple[str, str], list[Any]] = {}

    def reset(self) -> None:
        with self.lock:
            self.fresh = {}
            self.stale = {}

    def _reads(self) -> int:
        return int(CONTROL.phases.get("eventualConsistencyReads") or 0)

    def _stale_reads(self) -> int:
        return int(CONTROL.phases.get("stateChangeStaleReads") or 0)

    def watches(self, action: str) -> bool:
        """Whether the answer of `action` must be read (it creates, shares, stops or starts)."""
        return action in _CREATED or action == "modifyimageattribute" or action in _STATE_CHANGES

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

    def stale_view(self, account: str, action: str, params: dict[str, Any], ids: list[str]) -> StaleView | None:
        """For a state read naming instances just stopped or started: the states it must
        still show (each such read uses one up), or None."""
        if action not in _STATE_READS or self._stale_reads() <= 0:
            return None
        states: dict[str, tuple[str, str]] = {}
        with self.lock:
            for iid in ids:
                entry = self.stale.get((account, iid))
                if entry and entry[0] > 0:
                    entry[0] -= 1
                    states[iid] = (entry[1], entry[2])
        if not states:
            return None
        running_only = (action == "describeinstancestatus"
                        and str(params.get("IncludeAllInstances", "")).lower() != "true")
        return StaleView(states, running_only)

    def after(self, account: str, action: str, params: dict[str, Any], status: int, answer: bytes) -> None:
        """Marks what a successful create, share, stop or start made."""
        if status >= 300:
            return
        if action in _STATE_CHANGES:
            self._mark_previous_states(account, answer)
            return
        reads = self._reads()
        if reads <= 0:
            return
        marked: list[tuple[str, str]] = []
        if action in _CREATED:
            marked = [(account, rid) for rid in _CREATED[action].findall(answer.decode("utf-8", "replace"))]
        elif action == "modifyimageattribute" and str(params.get("ImageId", "")).startswith("ami-"):
            marked = [(str(v), params["ImageId"]) for k, v in params.items() if _SHARED_WITH.match(k)]
        with self.lock:
            for key in marked:
                self.fresh[key] = reads

    def _mark_previous_states(self, account: str, answer: bytes) -> None:
        reads = self._stale_reads()
        if reads <= 0:
            return
        marked = {}
        for item in ET.fromstring(answer).iter(_tag("item")):
            iid, previous = item.findtext(_tag("instanceId")), item.find(_tag("previousState"))
            if iid and previous is not None:
                marked[(account, iid)] = [reads, previous.findtext(_tag("code")), previous.findtext(_tag("name"))]
        with self.lock:
            self.stale.update(marked)


CONSISTENCY = Consistency()
