"""Cross-account AMI and snapshot visibility, image `pending` phase (counted in reads, or
timed from the changed blocks), AMI checks on launch, and DeregisterImage's
DeleteAssociatedSnapshots.

moto keeps an AMI shared by launch permission (and a snapshot shared by
createVolumePermission) invisible to the account it was shared with. On AWS that account
can describe it by id and launch from it, which is what carveout's target account does.

moto ignores DeregisterImage's `DeleteAssociatedSnapshots`. On AWS it deletes the image's
snapshots with it, "if a snapshot is associated with multiple AMIs, it won't be deleted
[...], although the AMI will still be deregistered", and answers a result per snapshot
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html).
Each snapshot is deleted with the caller's own DeleteSnapshot permission, else its result is
`missing-permissions` (API_DeleteSnapshotReturnCode). carveout's member role may delete only
snapshots tagged `carveout:migration-id` (templates/member-role.yaml): for carveout's
sessions an untagged snapshot answers `missing-permissions` and stays.
"""

import sys
import time
from typing import Any

from moto.ec2.exceptions import InvalidAMIIdError, InvalidSnapshotIdError
from moto.ec2.models.amis import AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.responses.amis import AmisResponse
from moto.core.responses import ActionResult
from moto.ec2.utils import generic_filter

from .. import caller
from ..control import CONTROL
from ._util import once, other_backends

MIGRATION_TAG = "carveout:migration-id"

# Ids of images made by CreateImage: only those go through the `pending` phase.
CREATED_IMAGES: set[str] = set()
# Timed images (snapshotMiBPerSecond on): image id -> when CreateImage made it, and then
# {snapshot id: seconds} (filled at the first read: the snapshots are made after this patch's
# create_image returns, by encryption.py's).
TIMED: dict[str, tuple[float, float, dict[str, float] | None]] = {}


def _ec2_backends() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends


def shared_images(backend: Any) -> list[Any]:
    """Images other accounts of this region shared with `backend`'s account by UserId."""
    grant = {"UserId": backend.account_id}
    found = []
    for other in other_backends(backend, _ec2_backends()):
        found.extend(a for a in list(other.amis.values()) if grant in a.launch_permissions)
    return found


def _apply_image_phase(images: list[Any]) -> list[Any]:
    """A created image is `pending` for `imagePendingPolls` reads, its snapshots `pending`
    with a Progress that grows with each read (EBS reports whole percents; the image is
    available once every snapshot is complete), then `available` with `completed`
    snapshots at 100 %."""
    from .encryption import devices  # encryption wraps this module's patches

    phase = int(CONTROL.phases.get("imagePendingPolls") or 0)
    for image in images:
        if image.id in TIMED and image.state in ("pending", "available"):
            _apply_timed(image, devices(image))
        elif image.id in CREATED_IMAGES and image.state in ("pending", "available"):
            reads = CONTROL.poll("image", image.id)
            pending = reads <= phase
            image.state = "pending" if pending else "available"
            for _, snap in devices(image):
                if snap is None:
                    continue
                snap.status = "pending" if pending else "completed"
                snap._carveout_progress = f"{min(99, 100 * reads // (phase + 1))}%" if pending else "100%"
    return images


def _apply_timed(image: Any, devices: Any) -> None:
    """Each snapshot pending until its changed MiB are copied at snapshotMiBPerSecond, its
    Progress the share of that time gone (whole percents, 99 at most until completed); the
    image available once every snapshot is."""
    created, rate, seconds = TIMED[image.id]
    if seconds is None:
        seconds = _durations(image, rate)
        TIMED[image.id] = (created, rate, seconds)
    gone = time.monotonic() - created
    pending = False
    for _, snap in devices:
        if snap is None:
            continue
        need = seconds.get(snap.id, 0.0)
        done = gone >= need
        pending = pending or not done
        snap.status = "completed" if done else "pending"
        snap._carveout_progress = "100%" if done else f"{min(99, int(100 * gone / need))}%"
    image.state = "pending" if pending else "available"


def _durations(image: Any, rate: float) -> dict[str, float]:
    """Seconds each snapshot of `image` takes: its volume's changed MiB (all of it on the
    volume's first snapshot) at `rate` (snapshotMiBPerSecond when CreateImage ran)."""
    from .encryption import devices  # encryption wraps this module's patches

    changed = float(CONTROL.phases.get("snapshotChangedPercent") or 0) / 100
    seconds = {}
    for _, snap in devices(image):
        if snap is None or snap.volume is None:
            continue
        backend = snap.ec2_backend
        earlier = [s for s in list(backend.snapshots.values())
                   if s.id != snap.id and s.volume is not None and s.volume.id == snap.volume.id
                   and s.start_time < snap.start_time]
        mib = snap.volume.size * 1024 * (changed if earlier else 1.0)
        CONTROL.snapshot_mib[snap.id] = mib
        seconds[snap.id] = mib / rate
    return seconds


def pending_snapshots(backend: Any) -> int:
    """The snapshots `backend`'s account owns that are still pending, their status brought
    up to date first (timed images by the clock; a counted image's snapshots are pending
    while it is, without counting a read)."""
    from .encryption import devices  # encryption wraps this module's patches

    _refresh_status(backend)
    ids = {s.id for s in list(backend.snapshots.values()) if s.status == "pending"}
    for image in list(backend.amis.values()):
        if image.state == "pending" and image.id in CREATED_IMAGES:
            ids |= {snap.id for _, snap in devices(image) if snap is not None}
    return len(ids)


def _refresh_status(backend: Any) -> None:
    from .encryption import devices  # encryption wraps this module's patches

    for image in list(backend.amis.values()):
        if image.id in TIMED and image.state in ("pending", "available"):
            _apply_timed(image, devices(image))
        elif image.id in CREATED_IMAGES and image.state == "pending":
            for _, snap in devices(image):
                if snap is not None and snap.status != "pending":
                    snap.status = "pending"
                    snap._carveout_progress = "0%"


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_describe = AmiBackend.describe_images
    original_create = AmiBackend.create_image
    original_snapshots = EBSBackend.describe_snapshots

    def describe_images(self, ami_ids=None, filters=None, exec_users=None, owners=None):  # type: ignore[no-untyped-def]
        try:
            own = original_describe(self, ami_ids, filters, exec_users, owners)
        except InvalidAMIIdError:
            own = []
        shared = shared_images(self)
        if ami_ids:
            shared = [a for a in shared if a.id in ami_ids]
        else:
            if owners:
                wanted = {self.account_id if o == "self" else o for o in owners}
                shared = [a for a in shared if a.owner_id in wanted]
            if filters:
                shared = generic_filter(filters, shared)
        seen = {a.id for a in own}
        result = own + [a for a in shared if a.id not in seen]
        if ami_ids and not result and not any(i in self.deleted_amis for i in ami_ids):
            raise InvalidAMIIdError(ami_ids)
        return _apply_image_phase(result)

    def create_image(self, instance_id, name, description, tag_specifications):  # type: ignore[no-untyped-def]
        image = original_create(self, instance_id, name, description, tag_specifications)
        CREATED_IMAGES.add(image.id)
        if int(CONTROL.phases.get("imagePendingPolls") or 0) > 0:
            image.state = "pending"
        rate = float(CONTROL.phases.get("snapshotMiBPerSecond") or 0)
        if rate > 0:
            TIMED[image.id] = (time.monotonic(), rate, None)
            image.state = "pending"
        return image

    def describe_snapshots(self, snapshot_ids=None, filters=None):  # type: ignore[no-untyped-def]
        _refresh_status(self)  # a `status` filter sees pending snapshots as pending
        own = list(self.snapshots.values())
        shared = []
        for other in other_backends(self, _ec2_backends()):
            shared.extend(
                s
                for s in list(other.snapshots.values())
                if self.account_id in s.create_volume_permission_userids
            )
        if not snapshot_ids:
            return original_snapshots(self, snapshot_ids, filters)
        matches = [s for s in own + shared if s.id in snapshot_ids]
        if len(matches) < len(set(snapshot_ids)):
            raise InvalidSnapshotIdError()
        return generic_filter(filters, matches) if filters else matches

    original_deregister = AmisResponse.deregister_image

    def deregister_image(self):  # type: ignore[no-untyped-def]
        if str(self._get_param("DeleteAssociatedSnapshots")).lower() != "true":
            return original_deregister(self)
        from .encryption import devices  # encryption wraps this module's patches

        backend, ami_id = self.ec2_backend, self._get_param("ImageId")
        ami = backend.amis.get(ami_id)
        snapshots = [snap.id for _, snap in devices(ami)] if ami is not None else []
        original_deregister(self)  # raises for an unknown or deregistered image
        in_use = {snap.id for other in backend.amis.values() for _, snap in devices(other)}
        results = []
        for snapshot_id in snapshots:
            snap = backend.snapshots.get(snapshot_id)
            tags = backend.describe_tags(filters={"resource-id": [snapshot_id]}) if snap is not None else []
            if snapshot_id in in_use:
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
            elif caller.is_carveout_call() and not any(t["key"] == MIGRATION_TAG for t in tags):
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "missing-permissions"})
            elif backend.snapshots.pop(snapshot_id, None) is not None:
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
        return ActionResult({"Return": True, "DeleteSnapshotResults": results})

    Snapshot.progress = property(lambda snap: getattr(snap, "_carveout_progress", "100%"))
    AmisResponse.deregister_image = deregister_image
    AmiBackend.describe_images = describe_images
    AmiBackend.create_image = create_image
    EBSBackend.describe_snapshots = describe_snapshots
