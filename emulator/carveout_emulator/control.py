"""Runtime knobs of the emulator, set through `POST /_carveout/config`.

Phases make polling real: a resource stays in its transitional state for N reads
(describes) before it reaches its final state. Faults make failure paths testable: a
matching API call answers with an error (before or after moto has carried it out).
Counters are reset together with moto's state (`POST /moto-api/reset`).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PHASES = {
    # EC2 eventual consistency (consistency.py): an id carveout created, or an image just
    # shared, answers its NotFound error to this many of carveout's calls naming it. On by
    # default (tests, demo): AWS behaves so.
    "eventualConsistencyReads": 1,
    # After carveout's StopInstances / StartInstances, its next this-many DescribeInstances /
    # DescribeInstanceStatus calls naming the instance still show the state from before the
    # call (consistency.py). On by default: AWS behaves so.
    "stateChangeStaleReads": 1,
    # DescribeImages answers `pending` this many times for an image made by CreateImage.
    "imagePendingPolls": 0,
    # Snapshot duration from the changed blocks (0: off, the read-counted phase above):
    # each snapshot of an image takes its volume's changed MiB / this rate, in seconds of
    # wall clock; the image is available when its last snapshot completes. A volume's first
    # snapshot copies the whole volume; a later one only what changed since the previous
    # one, `snapshotChangedPercent` of the volume ("After the first snapshot, subsequent
    # snapshots are incremental: only blocks that changed since your last snapshot are
    # saved", https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html).
    "snapshotMiBPerSecond": 0,
    "snapshotChangedPercent": 2,
    # AcceptVpcPeeringConnection in the accepter account answers
    # InvalidVpcPeeringConnectionID.NotFound this many times (eventual consistency).
    "peeringAcceptNotFound": 0,
    # After acceptance, DescribeVpcPeeringConnections answers `provisioning` this many times.
    "peeringProvisioningPolls": 0,
    # GetResourceShareAssociations answers ASSOCIATING this many times per share.
    "shareAssociatingPolls": 0,
    # When true, a share's resource associations end FAILED (its principal ASSOCIATED).
    "shareResourceAssociationFails": False,
    # DescribeInstanceStatus answers `pending`/`initializing` this many times per new instance.
    "instancePendingPolls": 0,
    # DescribeTargetHealth answers `initial` this many times per target once its group is
    # used by a listener (before that: `unused` / Target.NotInUse, as on AWS).
    "targetInitialPolls": 0,
    # When true, targets end `unhealthy` (Target.Timeout) instead of `healthy`.
    "targetsUnhealthy": False,
    # When true, targets turn `unhealthy` once a listener's weighted forward sends their
    # group real traffic (a service that passes the probe and fails under load).
    "targetsUnhealthyUnderTraffic": False,
    # The target account as AWS may give it (verification.py, patches/marketplace.py,
    # patches/quotas.py). Each key's whole value is replaced by a configure call.
    # account id -> mutating EC2 calls of carveout's sessions still answered PendingVerification.
    "pendingVerification": {},
    # image id -> AWS Marketplace product codes the image carries (no public API sets them).
    "marketplaceImages": {},
    # account id -> product codes the account is subscribed to (RunInstances needs each code
    # of the image: OptInRequired otherwise).
    "marketplaceSubscriptions": {},
    # account id -> {quota code: vCPUs}: the account's applied On-Demand vCPU quotas
    # (Service Quotas GetServiceQuota); without one, the AWS default applies.
    "vcpuQuotas": {},
    # account id -> {quota code: value}: the account's applied VPC quotas (routes per route
    # table L-93826ACB, active peerings per VPC L-7E9ECCDB, outstanding peering requests
    # L-DC9F7029; patches/network_limits.py); without one, the AWS default applies.
    "vpcQuotas": {},
    # account id -> {"L-94D7AB7D": value}: the account's pending-snapshot quota (AWS: 100, not
    # adjustable; lowered here so a test reaches it without a hundred snapshots).
    "ebsQuotas": {},
    # DescribeVolumeStatus of a volume launched from an image (patches/volume_initialization.py):
    # this many looks answer no initialization details yet (AWS: up to 5 minutes), then
    # `volumeInitializationLooks` answer `initializing`, then `completed`.
    "volumeInitializationUnreportedLooks": 1,
    "volumeInitializationLooks": 2,
    # Paginated operations (pagination.py) answer at most this many items a page (fewer if
    # the request's MaxResults / PageSize is smaller), with the continuation token while more
    # remain. AWS: "An API operation can return fewer results than the maximum even when
    # there are more results available. You should check NextToken after every operation"
    # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#api-pagination).
    # On by default with 2: the seed's lists then span several pages, so code that reads
    # only the first page fails. 0 answers whole lists, as moto does.
    "pageSize": 2,
}


@dataclass
class Fault:
    """One injected failure: the `count` calls of `action` after the first `skip` fail."""

    action: str
    code: str = "InternalError"
    message: str = "injected by the carveout emulator"
    status: int = 500
    count: int = 1
    skip: int = 0
    # "before": moto never sees the call. "after": moto carries it out, then the caller
    # gets the error (a lost response: the worst case for idempotency and rollback).
    when: str = "before"
    # Seconds to hold the answer first. With `code` "" the call then answers normally: a
    # slow call, not a failure (a step whose function runs out of time, with the call done).
    delay: float = 0.0
    seen: int = 0

    def take(self) -> bool:
        self.seen += 1
        return self.skip < self.seen <= self.skip + self.count


@dataclass
class Control:
    phases: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_PHASES))
    faults: list[Fault] = field(default_factory=list)
    # Poll counters keyed by (kind, resource id); see polls().
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    # Calls seen per API action, for tests and the benchmark.
    calls: dict[str, int] = field(default_factory=dict)
    # MiB each snapshot of a CreateImage copied (the whole volume, or what changed since the
    # volume's previous snapshot), while snapshotMiBPerSecond is on.
    snapshot_mib: dict[str, float] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def configure(self, body: dict[str, Any]) -> None:
        with self.lock:
            unknown = set(body) - set(DEFAULT_PHASES) - {"faults"}
            if unknown:
                raise ValueError(f"unknown emulator settings: {sorted(unknown)}")
            for key, value in body.items():
                if key != "faults":
                    self.phases[key] = value
            if "faults" in body:
                self.faults = [Fault(**f) for f in body["faults"]]

    def reset(self) -> None:
        with self.lock:
            self.phases = copy.deepcopy(DEFAULT_PHASES)
            self.faults = []
            self.counters = {}
            self.calls = {}
            self.snapshot_mib = {}

    def poll(self, kind: str, resource_id: str) -> int:
        """Counts one read of a resource in a transitional phase; returns the count so far."""
        with self.lock:
            key = (kind, resource_id)
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    def still_in_phase(self, setting: str, kind: str, resource_id: str) -> bool:
        """True while the resource has been read no more than `phases[setting]` times."""
        return self.poll(kind, resource_id) <= int(self.phases.get(setting) or 0)

    def fault_for(self, action: str, when: str) -> Fault | None:
        with self.lock:
            if when == "before":
                self.calls[action] = self.calls.get(action, 0) + 1
            for fault in self.faults:
                if fault.action == action and fault.when == when and fault.take():
                    return fault
            return None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "phases": dict(self.phases),
                "faults": [f.__dict__ for f in self.faults],
                "calls": dict(self.calls),
                "snapshotMiB": dict(self.snapshot_mib),
            }


CONTROL = Control()
