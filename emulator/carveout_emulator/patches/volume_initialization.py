"""Volume initialization: volumes launched from an image are cold until every block is read.

AWS: a volume created from a snapshot downloads its blocks from S3 and is slow until it is
initialized; RunInstances' `Ebs.VolumeInitializationRate` (100-300 MiB/s, only for volumes
created from snapshots) provisions a predictable rate
(https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html).
DescribeVolumeStatus reports it: the `initialization-state` detail (`initializing`,
`completed`) and InitializationStatusDetails (type, progress, and for a provisioned rate the
seconds left); "it can take up to 5 minutes for the volume initialization information to be
updated" (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-initialize-monitor.html).
moto raises NotImplemented for DescribeVolumeStatus and drops the rate.

Modelled: the rate is validated at launch (InvalidParameterValue outside 100-300, or for a
device not created from a snapshot), kept on the volume (DescribeVolumes
`VolumeInitializationRate`); each DescribeVolumeStatus naming a volume launched from an
image is one look, counted per volume: the first `volumeInitializationUnreportedLooks`
answer no initialization details, the next `volumeInitializationLooks` answer
`initializing` with growing progress (and an ETA from size and rate), then `completed`.
Looks count, not time, as every phase of the emulator does.
"""

import sys
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidParameterValueError
from moto.ec2.responses.elastic_block_store import ElasticBlockStore

from ..control import CONTROL
from ._util import once

RATE_RANGE = (100, 300)


def check_rates(devices: dict[str, dict[str, Any]], from_snapshot: set[str]) -> dict[str, int]:
    """The launch's rate per device, as RunInstances checks it."""
    rates = {}
    for device, ebs in devices.items():
        rate = ebs.get("VolumeInitializationRate")
        if rate is None:
            continue
        rate = int(rate)
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise InvalidParameterValueError(
                f"VolumeInitializationRate {rate} for {device}: the valid range is {RATE_RANGE[0]}-{RATE_RANGE[1]} MiB/s")
        if device not in from_snapshot:
            raise InvalidParameterValueError(
                f"VolumeInitializationRate for {device}: supported only for volumes created from snapshots")
        rates[device] = rate
    return rates


def mark_cold(volume: Any, rate: int | None) -> None:
    """A volume just created from a snapshot: cold until its looks are done."""
    volume._carveout_cold = True
    volume.volume_initialization_rate = rate


def _status(volume: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "VolumeId": volume.id,
        "AvailabilityZone": volume.zone.name if getattr(volume, "zone", None) else None,
        "Actions": [], "Events": [], "AttachmentStatuses": [],
    }
    details = [{"Name": "io-enabled", "Status": "passed"}, {"Name": "io-performance", "Status": "not-applicable"}]
    if not getattr(volume, "_carveout_cold", False):
        item["VolumeStatus"] = {"Status": "ok", "Details": details}
        return item
    look = CONTROL.poll("volumeInitialization", volume.id)
    unreported = int(CONTROL.phases.get("volumeInitializationUnreportedLooks") or 0)
    looks = int(CONTROL.phases.get("volumeInitializationLooks") or 0)
    rate = getattr(volume, "volume_initialization_rate", None)
    kind = "provisioned-rate" if rate else "default"
    if look <= unreported:
        item["VolumeStatus"] = {"Status": "ok", "Details": details}
        return item
    done_looks = look - unreported
    if done_looks > looks:
        info = {"InitializationType": kind, "Progress": 100}
        if rate:
            info["EstimatedTimeToCompleteInSeconds"] = 0
        item["VolumeStatus"] = {"Status": "ok", "Details": details + [
            {"Name": "initialization-state", "Status": "completed"}]}
        item["InitializationStatusDetails"] = info
        return item
    progress = int(100 * done_looks / (looks + 1))
    info = {"InitializationType": kind, "Progress": progress}
    if rate:
        left_mib = volume.size * 1024 * (100 - progress) / 100
        info["EstimatedTimeToCompleteInSeconds"] = int(left_mib / rate)
    item["VolumeStatus"] = {"Status": "ok", "Details": details + [
        {"Name": "initialization-state", "Status": "initializing"}]}
    item["InitializationStatusDetails"] = info
    return item


def apply() -> None:
    if not once(sys.modules[__name__]):
        return

    def describe_volume_status(self):  # type: ignore[no-untyped-def]
        ids = self._get_param("VolumeIds", [])
        volumes = self.ec2_backend.describe_volumes(volume_ids=ids or None,
                                                    filters=self._filters_from_querystring())
        return ActionResult({"VolumeStatuses": [_status(v) for v in volumes]})

    ElasticBlockStore.describe_volume_status = describe_volume_status
