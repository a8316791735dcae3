"""What an instance is launched with beyond moto's model, and what its image records of it.

- CreateImage: AWS records in the image's block device mapping every EBS volume of the
  instance with its type, size, IOPS, throughput and the instance's DeleteOnTermination
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/creating-an-ami-ebs.html), and a
  launch from the image creates each of those volumes so. moto records one 15 GiB
  `standard` volume and launches one 8 GiB root volume, so a source with a data volume
  would lose it on the new side without a word.
- RunInstances: moto drops Placement.Tenancy and Placement.GroupName, CpuOptions,
  CreditSpecification, and the Throughput of a block device mapping; they are kept here
  and answered by DescribeInstances and DescribeInstanceCreditSpecifications (moto answers
  `standard` for every instance). moto has no placement groups at all (no
  CreatePlacementGroup, no DescribePlacementGroups): a launch into one is not modelled.
- CopyImage: the copy records the same volumes as its source image.
- Volumes launched from an image are cold, at the rate asked for (volume_initialization.py).
- MonitorInstances / UnmonitorInstances (not implemented by moto) turn detailed monitoring
  on and off (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_MonitorInstances.html).
"""

import sys
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse

from ._util import once

_REQUEST = threading.local()


def _request_settings(response: Any) -> dict[str, Any]:
    get = response._get_param
    return {
        "tenancy": get("Placement.Tenancy"),
        "group": get("Placement.GroupName"),
        "cpu": get("CpuOptions") or None,
        "credits": get("CreditSpecification.CpuCredits"),
        "devices": {m.get("DeviceName"): m.get("Ebs") or {} for m in get("BlockDeviceMappings", [])},
    }


# What a mapping may change of an image's device (the rest stays the image's).
_OVERRIDABLE = ("VolumeSize", "VolumeType", "Iops", "DeleteOnTermination", "Encrypted", "KmsKeyId")


def _image_devices(ami: Any) -> dict[str, dict[str, Any]]:
    return dict(getattr(ami, "_carveout_volume_settings", None) or {})


def _launch_mappings(ami: Any) -> list[dict[str, Any]]:
    """An image's recorded volumes as the block device mappings moto's launch creates."""
    from .encryption import devices

    settings = _image_devices(ami)
    out = []
    for device, snap in devices(ami):
        s = settings.get(device, {})
        # No SnapshotId: moto looks a snapshot up in the launching account only, and an
        # image shared from another account is the usual case; set after the launch.
        out.append({"DeviceName": device, "Ebs": {
            "VolumeSize": s.get("size") or snap.volume.size,
            # moto's launch creates volumes without IOPS, which it refuses for io1/io2:
            # those get their type (with IOPS) right after the launch.
            "VolumeType": "gp3" if s.get("type") in ("io1", "io2") else (s.get("type") or snap.volume.volume_type),
            "DeleteOnTermination": s.get("deleteOnTermination", True),
            "Encrypted": bool(snap.encrypted), "KmsKeyId": snap.kms_key_id,
            }})
    return out


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_response = InstanceResponse.run_instances
    original_run = InstanceBackend.run_instances
    original_create_image = AmiBackend.create_image
    original_mappings = Ami.block_device_mappings
    original_copy = AmisResponse.copy_image
    original_validate = InstanceResponse._validate_block_device_mapping
    from .encryption import devices

    def run_instances_response(self):  # type: ignore[no-untyped-def]
        _REQUEST.settings = _request_settings(self)
        try:
            found = self.ec2_backend.describe_images(ami_ids=[self._get_param("ImageId")])
        except Exception:  # the launch itself answers the image's error
            found = []
        _REQUEST.image_devices = {d for d, _ in devices(found[0])} if found else set()
        try:
            return original_response(self)
        finally:
            _REQUEST.settings = None
            _REQUEST.image_devices = set()

    def validate_mapping(device_mapping):  # type: ignore[no-untyped-def]
        # AWS: a mapping naming one of the image's devices changes only what it gives
        # (size, type, DeleteOnTermination, the initialization rate); the rest is the
        # image's. moto requires a size or snapshot in every mapping.
        if device_mapping.get("DeviceName") in (getattr(_REQUEST, "image_devices", None) or set()):
            return
        original_validate(device_mapping)

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        asked = getattr(_REQUEST, "settings", None) or {}
        image = self.amis.get(image_id) if image_id else None
        if image is None and image_id:
            found = self.describe_images(ami_ids=[image_id])
            image = found[0] if found else None
        if image is not None and _image_devices(image):
            mappings = {m["DeviceName"]: m for m in _launch_mappings(image)}
            for m in kwargs.get("block_device_mappings") or []:
                base = mappings.get(m["DeviceName"])
                if base is None:
                    mappings[m["DeviceName"]] = m
                    continue
                raw = asked.get("devices", {}).get(m["DeviceName"], {})
                given = {k: m["Ebs"][k] for k in _OVERRIDABLE if k in raw and m["Ebs"].get(k) is not None}
                mappings[m["DeviceName"]] = {**base, "Ebs": {**base["Ebs"], **given}}
            kwargs["block_device_mappings"] = list(mappings.values())
        from .volume_initialization import check_rates, mark_cold

        image_settings = _image_devices(image) if image is not None else {}
        snapshots = dict(devices(image)) if image_settings else {}
        rates = check_rates(asked.get("devices", {}), set(snapshots))
        reservation = original_run(self, image_id, count, user_data, security_group_names, **kwargs)
        for instance in reservation.instances:
            if asked.get("tenancy"):
                instance.placement.tenancy = asked["tenancy"]
            if asked.get("group"):
                instance.placement.group_name = asked["group"]
            if asked.get("cpu"):
                instance.cpu_options = {k: int(v) for k, v in asked["cpu"].items()}
            if asked.get("credits"):
                instance._carveout_cpu_credits = asked["credits"]
            for device, block in instance.get_block_device_mapping:
                volume = self.get_volume(block.volume_id)
                if device in snapshots:
                    volume.snapshot_id = snapshots[device].id
                    mark_cold(volume, rates.get(device))
                wanted = {**image_settings.get(device, {}), **{
                    k: v for k, v in {"iops": asked.get("devices", {}).get(device, {}).get("Iops"),
                                      "throughput": asked.get("devices", {}).get(device, {}).get("Throughput")}.items()
                    if v is not None}}
                if wanted.get("type"):
                    volume.volume_type = wanted["type"]
                if wanted.get("iops") is not None:
                    volume.iops = int(wanted["iops"])
                if wanted.get("throughput") is not None:
                    volume.throughput = int(wanted["throughput"])
        return reservation

    def create_image(self, instance_id, name, description, tag_specifications):  # type: ignore[no-untyped-def]
        image = original_create_image(self, instance_id, name, description, tag_specifications)
        instance = self.get_instance(instance_id)
        recorded = {}
        for device, block in instance.get_block_device_mapping:
            volume = self.get_volume(block.volume_id)
            recorded[device] = {"type": volume.volume_type, "size": volume.size, "iops": volume.iops,
                                "throughput": volume.throughput,
                                "deleteOnTermination": bool(block.delete_on_termination)}
        image._carveout_volume_settings = recorded
        return image

    def mappings(self: Any) -> list[dict[str, Any]]:
        out = original_mappings.fget(self)
        settings = _image_devices(self)
        for m in out:
            s = settings.get(m.get("DeviceName"))
            if s:
                ebs = m.setdefault("Ebs", {})
                ebs.update({"VolumeSize": s["size"], "VolumeType": s["type"],
                            "DeleteOnTermination": s["deleteOnTermination"]})
                if s.get("iops") is not None:
                    ebs["Iops"] = s["iops"]
                if s.get("throughput") is not None:
                    ebs["Throughput"] = s["throughput"]
        return out

    def describe_instance_credit_specifications(self):  # type: ignore[no-untyped-def]
        ids = self._get_param("InstanceIds", [])
        instances = self.ec2_backend.describe_instance_credit_specifications(ids)
        return ActionResult({"InstanceCreditSpecifications": [
            {"InstanceId": i.id, "CpuCredits": getattr(i, "_carveout_cpu_credits", None) or (
                "unlimited" if i.instance_type.startswith(("t3", "t4g")) else "standard")}
            for i in instances]})

    InstanceResponse.run_instances = run_instances_response
    InstanceResponse._validate_block_device_mapping = staticmethod(validate_mapping)
    InstanceBackend.run_instances = run_instances
    AmiBackend.create_image = create_image
    Ami.block_device_mappings = property(mappings)
    InstanceResponse.describe_instance_credit_specifications = describe_instance_credit_specifications

    def copy_image(self):  # type: ignore[no-untyped-def]
        result = original_copy(self)
        answer = result.result if isinstance(result, ActionResult) else None
        copy_id = answer.get("ImageId") if isinstance(answer, dict) else None
        source = self.ec2_backend.describe_images(ami_ids=[self._get_param("SourceImageId")])
        copy = self.ec2_backend.amis.get(copy_id) if copy_id else None
        if copy is not None and source:
            copy._carveout_volume_settings = _image_devices(source[0])
        return result

    AmisResponse.copy_image = copy_image

    def monitoring(state: str) -> Any:
        def handler(self):  # type: ignore[no-untyped-def]
            found = self.ec2_backend.get_multi_instances_by_id(self._get_param("InstanceIds", []))
            for instance in found:
                instance.monitoring_state = state
            return ActionResult({"InstanceMonitorings": [
                {"InstanceId": i.id, "Monitoring": {"State": state}} for i in found]})
        return handler

    from moto.ec2.responses.monitoring import Monitoring

    Monitoring.monitor_instances = monitoring("enabled")
    Monitoring.unmonitor_instances = monitoring("disabled")
