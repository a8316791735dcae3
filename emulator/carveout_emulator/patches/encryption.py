"""Encrypted volumes through images: CreateImage, CopyImage, sharing and launching.

moto gives every image one fresh, unencrypted 15 GiB snapshot whatever the instance had,
ignores CopyImage's Encrypted/KmsKeyId/ClientToken/TagSpecifications, and shares
anything. AWS (and this patch):

- CreateImage snapshots each EBS volume of the instance; a snapshot keeps its volume's
  encryption and key, and gets the tags of TagSpecifications ResourceType=snapshot.
  DescribeImages shows every device and whether it is encrypted.
- CopyImage copies those snapshots; `Encrypted` with `KmsKeyId` re-encrypts them with
  that key (the caller's account must be allowed to use it), `Encrypted` alone uses the
  account's EBS default key. A repeated ClientToken answers the first copy. Tags from
  TagSpecifications land on the image and its snapshots. The copy goes through the same
  `pending` phase as created images.
- A snapshot encrypted with an AWS managed key (`aws/ebs`) cannot be shared:
  ModifyImageAttribute answers `InvalidParameter`, ModifySnapshotAttribute
  `OperationNotPermitted`, with AWS's messages.
- A volume launched from an image snapshot keeps the snapshot's encryption and key.
"""

import sys
from typing import Any

from moto.ec2.exceptions import EC2ClientError, InvalidParameterValueError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.amis import AmisResponse
from moto.core.responses import ActionResult
from moto.ec2.utils import random_snapshot_id

from ..control import CONTROL
from . import amis as amis_patch
from ._util import once
from .kms import find_key, key_allows


class InvalidParameterError(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameter", message)


class OperationNotPermittedError(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("OperationNotPermitted", message)


# What EBS does with the launching account's permissions to create a volume from a snapshot
# under a customer managed key
# (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).
EBS_LAUNCH_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext")


def _fail_launch(instance: Any) -> None:
    """As AWS ends a launch whose volumes' key the account may not use: the instance goes
    `terminated` with state reason Client.InternalError
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-internal)."""
    from moto.ec2.models.instances import StateReason

    instance._state.name, instance._state.code = "terminated", 48
    instance._reason = "Server.InternalError"
    instance.state_reason = StateReason("Client.InternalError: Client error on launch", "Client.InternalError")


def _is_aws_managed(snapshot: Any) -> bool:
    if not snapshot.encrypted or not snapshot.kms_key_id:
        return False
    key = find_key(snapshot.kms_key_id, snapshot.ec2_backend.region_name)
    return key is not None and key.key_manager == "AWS"


def devices(ami: Any) -> list[tuple[str, Any]]:
    """(device name, snapshot) of an image: its recorded devices, else moto's one."""
    return list(getattr(ami, "_carveout_devices", None) or [(ami.root_device_name, ami.ebs_snapshot)])


def _snapshot(backend: Any, volume: Any, description: str, ami_id: str, encrypted: bool,
              kms_key_id: str | None) -> Any:
    # Built directly: the volume may belong to another account or be gone (a copy).
    snap = Snapshot(backend, random_snapshot_id(), volume, description, encrypted=encrypted,
                    kms_key_id=kms_key_id if encrypted else None, from_ami=ami_id)
    backend.snapshots[snap.id] = snap
    return snap


def _drop_placeholder(backend: Any, ami: Any) -> None:
    # moto's own snapshot of a volume that never existed; the real ones replace it.
    backend.snapshots.pop(ami.ebs_snapshot.id, None)


def _record(backend: Any, ami: Any, pairs: list[tuple[str, Any]]) -> None:
    _drop_placeholder(backend, ami)
    ami._carveout_devices = pairs
    root = dict(pairs).get(ami.root_device_name) or pairs[0][1]
    ami.ebs_snapshot = root


def _mappings(original: Any) -> Any:
    def mappings(self: Any) -> list[dict[str, Any]]:
        if not getattr(self, "_carveout_devices", None):
            return original.fget(self)
        return _recorded_mappings(self)

    return property(mappings)


def _recorded_mappings(self: Any) -> list[dict[str, Any]]:
    return [
        {
            "DeviceName": name,
            "Ebs": {
                "SnapshotId": snap.id,
                "VolumeSize": snap.volume.size,
                "DeleteOnTermination": True,
                "VolumeType": snap.volume.volume_type or "gp3",
                "Encrypted": bool(snap.encrypted),
            },
        }
        for name, snap in devices(self)
    ]


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_create = AmiBackend.create_image
    original_modify_image = AmiBackend.modify_image_attribute
    original_add_cvp = EBSBackend.add_create_volume_permission
    original_run = InstanceBackend.run_instances

    def create_image(self, instance_id, name, description, tag_specifications):  # type: ignore[no-untyped-def]
        # AWS tags the new snapshots from TagSpecifications ResourceType=snapshot; moto
        # raises NotImplementedError for them, so they are applied here.
        # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html
        snapshot_tags = [t for s in tag_specifications if s["ResourceType"] == "snapshot" for t in s["Tags"]]
        others = [s for s in tag_specifications if s["ResourceType"] != "snapshot"]
        image = original_create(self, instance_id, name, description, others)
        instance = self.get_instance(instance_id)
        pairs = []
        for device, block in instance.get_block_device_mapping:
            volume = self.get_volume(block.volume_id)
            pairs.append((device, _snapshot(
                self, volume, f"Created by CreateImage({instance_id}) for {image.id}",
                image.id, volume.encrypted, volume.kms_key_id)))
        if pairs:
            image.root_device_name = instance.root_device_name
            _record(self, image, pairs)
        for _, snap in pairs:
            for tag in snapshot_tags:
                snap.add_tag(tag["Key"], tag["Value"])
        return image

    def copy_image(self):  # type: ignore[no-untyped-def]
        backend = self.ec2_backend
        token = self._get_param("ClientToken")
        tokens: dict[str, Any] = backend.__dict__.setdefault("_carveout_copy_tokens", {})
        if token and token in tokens and tokens[token] in backend.amis:
            return ActionResult({"ImageId": tokens[token]})
        encrypted = str(self._get_param("Encrypted", False)).lower() == "true"
        kms_key_id = self._get_param("KmsKeyId")
        if kms_key_id and not encrypted:
            raise InvalidParameterValueError("KmsKeyId requires Encrypted")
        if kms_key_id:
            key = find_key(kms_key_id, backend.region_name)
            if key is None or key.key_state != "Enabled":
                raise InvalidParameterValueError(f"Invalid KMS key {kms_key_id}")
            if not key_allows(key, backend.account_id, "kms:GenerateDataKeyWithoutPlaintext"):
                raise OperationNotPermittedError(
                    f"The KMS key {kms_key_id} is not usable by account {backend.account_id}")
        tags = self._parse_tag_specification()
        self.error_on_dryrun()
        source = backend.describe_images(ami_ids=[self._get_param("SourceImageId")])[0]
        copy = backend.copy_image(
            source.id, self._get_param("SourceRegion"), self._get_param("Name"),
            self._get_param("Description"))
        copy.root_device_name = source.root_device_name
        pairs = []
        for device, snap in devices(source):
            if kms_key_id:
                key_arn = find_key(kms_key_id, backend.region_name).arn
            elif snap.encrypted:
                key_arn = snap.kms_key_id
            elif encrypted:
                key_arn = backend.default_kms_key_id or backend._create_default_encryption_key()
            else:
                key_arn = None
            pairs.append((device, _snapshot(
                backend, snap.volume, f"Copied for DestinationAmi {copy.id} from SourceAmi {source.id}",
                copy.id, key_arn is not None, key_arn)))
        _record(backend, copy, pairs)
        for key, value in tags.get("image", {}).items():
            copy.add_tag(key, value)
        for _, snap in pairs:
            for key, value in tags.get("snapshot", {}).items():
                snap.add_tag(key, value)
        amis_patch.CREATED_IMAGES.add(copy.id)
        if int(CONTROL.phases.get("imagePendingPolls") or 0) > 0:
            copy.state = "pending"
        if token:
            tokens[token] = copy.id
        return ActionResult({"ImageId": copy.id})

    def modify_image_attribute(self, ami_id, launch_permissions_to_add, launch_permissions_to_remove):  # type: ignore[no-untyped-def]
        if launch_permissions_to_add:
            ami = self.describe_images(ami_ids=[ami_id])[0]
            if any(_is_aws_managed(snap) for _, snap in devices(ami)):
                raise InvalidParameterError(
                    "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.")
        return original_modify_image(self, ami_id, launch_permissions_to_add, launch_permissions_to_remove)

    def add_create_volume_permission(self, snapshot_id, user_ids, groups):  # type: ignore[no-untyped-def]
        if (user_ids or groups) and _is_aws_managed(self.get_snapshot(snapshot_id)):
            raise OperationNotPermittedError("Encrypted snapshots with EBS default key cannot be shared")
        return original_add_cvp(self, snapshot_id, user_ids, groups)

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        reservation = original_run(self, image_id, count, user_data, security_group_names, **kwargs)
        image = None
        if image_id and image_id.startswith("ami-"):
            image = self.describe_images(ami_ids=[image_id])[0]
        by_device = dict(devices(image)) if image is not None else {}
        for instance in reservation.instances:
            for device, block in instance.get_block_device_mapping:
                snap = by_device.get(device) or (
                    by_device.get(image.root_device_name) if device == instance.root_device_name and image else None)
                if snap is not None and snap.encrypted:
                    volume = self.get_volume(block.volume_id)
                    volume.encrypted = True
                    volume.kms_key_id = snap.kms_key_id
                    key = find_key(snap.kms_key_id or "", self.region_name)
                    if key is not None and not all(key_allows(key, self.account_id, a) for a in EBS_LAUNCH_ACTIONS):
                        _fail_launch(instance)
        return reservation

    AmiBackend.create_image = create_image
    AmiBackend.modify_image_attribute = modify_image_attribute
    EBSBackend.add_create_volume_permission = add_create_volume_permission
    InstanceBackend.run_instances = run_instances
    AmisResponse.copy_image = copy_image
    Ami.block_device_mappings = _mappings(Ami.block_device_mappings)
