"""The patches for EBS encryption, images and their snapshots (split from test_patches.py,
whose conventions it follows): the AWS-managed default key, encryption kept through
CreateImage and CopyImage, snapshots tagged on create and deleted with their image. Each
shows the gap in moto 5.2.5 is filled the way AWS behaves (and fails without the patch)."""

import botocore.exceptions
import pytest

from carveout_emulator.testing import REGION, client, every, reset

N, T = "111111111111", "222222222222"


@pytest.fixture(autouse=True)
def clean():
    reset()
    yield
    reset()


def _vpc(ec2, cidr):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def _encrypted_instance(ec2, kms_key_id=None):
    """An instance whose root volume is encrypted (default key unless `kms_key_id`) and
    whose data volume is not."""
    image = ec2.register_image(Name="base", RootDeviceName="/dev/sda1", VirtualizationType="hvm")["ImageId"]
    subnet = ec2.create_subnet(VpcId=_vpc(ec2, "10.9.0.0/16"), CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    ebs = {"VolumeSize": 20, "Encrypted": True, **({"KmsKeyId": kms_key_id} if kms_key_id else {})}
    inst = ec2.run_instances(InstanceType="t3.small", ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
                             BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": ebs},
                                                  {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 50}}])["Instances"][0]
    return inst["InstanceId"], subnet


def _key_shared_with(kms, account):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{N}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:CreateGrant", "kms:ReEncrypt*",
                    "kms:GenerateDataKeyWithoutPlaintext"], "Resource": "*"}]}
    import json
    return kms.create_key(Policy=json.dumps(policy), Description="carveout test")["KeyMetadata"]["Arn"]


def test_ebs_default_key_is_aws_managed_and_not_usable_by_another_account():
    n_kms, t_kms = client("kms", N), client("kms", T)
    n_ec2 = client("ec2", N)
    _encrypted_instance(n_ec2)
    default = n_kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert default["KeyManager"] == "AWS"
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
        t_kms.describe_key(KeyId=default["Arn"])
    cmk = _key_shared_with(n_kms, T)
    meta = n_kms.describe_key(KeyId=cmk)["KeyMetadata"]
    assert (meta["KeyManager"], meta["KeyUsage"]) == ("CUSTOMER", "ENCRYPT_DECRYPT")
    assert t_kms.describe_key(KeyId=cmk)["KeyMetadata"]["Arn"] == cmk
    private = n_kms.create_key(Description="not shared")["KeyMetadata"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDeniedException"):
        t_kms.describe_key(KeyId=private)
    with pytest.raises(botocore.exceptions.ClientError, match="NotFoundException"):
        t_kms.describe_key(KeyId=private.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000")


def test_images_keep_volume_encryption_and_default_key_images_cannot_be_shared():
    n = client("ec2", N)
    inst, _ = _encrypted_instance(n)
    ami = n.create_image(InstanceId=inst, Name="enc", NoReboot=True)["ImageId"]
    mappings = n.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"]
    assert {m["DeviceName"] for m in mappings} == {"/dev/sda1", "/dev/sdf"}
    encrypted = [m for m in mappings if m["Ebs"]["Encrypted"]]
    assert [m["DeviceName"] for m in encrypted] == ["/dev/sda1"]
    snap = n.describe_snapshots(SnapshotIds=[encrypted[0]["Ebs"]["SnapshotId"]])["Snapshots"][0]
    assert snap["Encrypted"] and snap["KmsKeyId"].endswith(
        client("kms", N).describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidParameter.*AWS Managed CMK"):
        n.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": T}]})
    with pytest.raises(botocore.exceptions.ClientError, match="OperationNotPermitted"):
        n.modify_snapshot_attribute(SnapshotId=snap["SnapshotId"], Attribute="createVolumePermission",
                                    OperationType="add", UserIds=[T])


def test_create_image_tags_its_snapshots_from_tag_specifications():
    """CreateImage's TagSpecifications with ResourceType=snapshot tag every new snapshot, so
    nothing is ever tagged after the fact (moto raises NotImplementedError for it).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html"""
    n = client("ec2", N)
    inst, _ = _encrypted_instance(n)
    tags = [{"Key": "carveout:migration-id", "Value": "m"}]
    ami = n.create_image(InstanceId=inst, Name="tagged", NoReboot=True,
                         TagSpecifications=[{"ResourceType": "image", "Tags": tags},
                                            {"ResourceType": "snapshot", "Tags": tags}])["ImageId"]
    image = n.describe_images(ImageIds=[ami])["Images"][0]
    assert tags[0] in image["Tags"]
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    assert len(snaps) == 2
    assert all(tags[0] in s.get("Tags", []) for s in every(n, "describe_snapshots", "Snapshots", SnapshotIds=snaps))


def test_deregister_image_deletes_its_snapshots_when_asked_and_only_then():
    """DeregisterImage with DeleteAssociatedSnapshots deletes the image's snapshots with it
    and answers a result per snapshot; without it they stay (moto ignores the parameter).
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html"""
    n = client("ec2", N)
    inst, _ = _encrypted_instance(n)
    kept = n.create_image(InstanceId=inst, Name="kept", NoReboot=True)["ImageId"]
    gone = n.create_image(InstanceId=inst, Name="gone", NoReboot=True)["ImageId"]

    def snapshots(ami):
        return [m["Ebs"]["SnapshotId"] for m in n.describe_images(ImageIds=[ami])["Images"][0]["BlockDeviceMappings"]]

    kept_snaps, gone_snaps = snapshots(kept), snapshots(gone)
    n.deregister_image(ImageId=kept)
    assert len(every(n, "describe_snapshots", "Snapshots", SnapshotIds=kept_snaps)) == len(kept_snaps)
    answer = n.deregister_image(ImageId=gone, DeleteAssociatedSnapshots=True)
    assert sorted(r["SnapshotId"] for r in answer["DeleteSnapshotResults"]) == sorted(gone_snaps)
    assert {r["ReturnCode"] for r in answer["DeleteSnapshotResults"]} == {"success"}
    left = {s["SnapshotId"] for s in every(n, "describe_snapshots", "Snapshots", OwnerIds=["self"])}
    assert not left & set(gone_snaps)


def test_copy_image_reencrypts_with_the_key_is_idempotent_and_launches_encrypted():
    n, t = client("ec2", N), client("ec2", T)
    cmk = _key_shared_with(client("kms", N), T)
    inst, _ = _encrypted_instance(n)
    ami = n.create_image(InstanceId=inst, Name="enc", NoReboot=True)["ImageId"]
    args = dict(SourceImageId=ami, SourceRegion=REGION, Name="enc-cmk", Encrypted=True,
                KmsKeyId=cmk, ClientToken="tok-1",
                TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "k", "Value": "v"}]},
                                   {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    copy = n.copy_image(**args)["ImageId"]
    assert n.copy_image(**args)["ImageId"] == copy
    image = n.describe_images(ImageIds=[copy])["Images"][0]
    assert {"Key": "k", "Value": "v"} in image["Tags"]
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    described = every(n, "describe_snapshots", "Snapshots", SnapshotIds=snaps)
    assert all(s["Encrypted"] and s["KmsKeyId"] == cmk for s in described)
    assert all({"Key": "k", "Value": "v"} in s["Tags"] for s in described)
    n.modify_image_attribute(ImageId=copy, LaunchPermission={"Add": [{"UserId": T}]})
    for s in snaps:
        n.modify_snapshot_attribute(SnapshotId=s, Attribute="createVolumePermission",
                                    OperationType="add", UserIds=[T])
    t_subnet = t.create_subnet(VpcId=_vpc(t, "10.1.0.0/16"), CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    launched = t.run_instances(InstanceType="t3.small", ImageId=copy, MinCount=1, MaxCount=1, SubnetId=t_subnet)["Instances"][0]
    volumes = every(t, "describe_volumes", "Volumes", Filters=[{"Name": "attachment.instance-id", "Values": [launched["InstanceId"]]}])
    assert volumes and all(v["Encrypted"] and v["KmsKeyId"] == cmk for v in volumes)


def test_volumes_launched_from_an_image_initialize_at_the_rate_asked_and_report_it():
    # https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html and
    # ebs-initialize-monitor.html: moto raises NotImplemented for DescribeVolumeStatus.
    from carveout_emulator.testing import configure

    configure(volumeInitializationUnreportedLooks=1, volumeInitializationLooks=2)
    ec2 = client("ec2", N)
    iid, subnet = _encrypted_instance(ec2)
    ami = ec2.create_image(InstanceId=iid, Name="cold", NoReboot=True)["ImageId"]
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidParameterValue"):
        ec2.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
                          BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeInitializationRate": 50}}])
    new = ec2.run_instances(InstanceType="t3.small", ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
                            BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeInitializationRate": 200}}]
                            )["Instances"][0]["InstanceId"]
    volumes = every(ec2, "describe_volumes", "Volumes", Filters=[{"Name": "attachment.instance-id", "Values": [new]}])
    data = next(v for v in volumes if v["Attachments"][0]["Device"] == "/dev/sdf")
    root = next(v for v in volumes if v["Attachments"][0]["Device"] == "/dev/sda1")
    assert data["VolumeInitializationRate"] == 200 and data["Size"] == 50
    assert "VolumeInitializationRate" not in root

    def look(volume_id):
        item = ec2.describe_volume_status(VolumeIds=[volume_id])["VolumeStatuses"][0]
        state = {d["Name"]: d["Status"] for d in item["VolumeStatus"]["Details"]}.get("initialization-state")
        return state, item.get("InitializationStatusDetails")

    seen = [look(data["VolumeId"]) for _ in range(4)]
    assert seen[0] == (None, None), "not reported at first (up to 5 minutes on AWS)"
    assert seen[1][0] == "initializing" and seen[1][1]["InitializationType"] == "provisioned-rate"
    assert 0 < seen[1][1]["Progress"] < seen[2][1]["Progress"] < 100
    assert seen[1][1]["EstimatedTimeToCompleteInSeconds"] > seen[2][1]["EstimatedTimeToCompleteInSeconds"] > 0
    assert seen[3] == ("completed", {"InitializationType": "provisioned-rate", "Progress": 100,
                                     "EstimatedTimeToCompleteInSeconds": 0})
    [look(root["VolumeId"]) for _ in range(3)]
    assert look(root["VolumeId"]) == ("completed", {"InitializationType": "default", "Progress": 100})
    # The source's own volumes were not created from a snapshot: nothing to initialize.
    src = every(ec2, "describe_volumes", "Volumes", Filters=[{"Name": "attachment.instance-id", "Values": [iid]}])
    assert look(src[0]["VolumeId"])[0] is None


def test_a_snapshot_takes_the_time_of_what_it_copies_and_later_ones_copy_only_the_changed_blocks():
    # EBS: "After the first snapshot, subsequent snapshots are incremental"
    # (https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html). moto
    # makes every image available at once; with snapshotMiBPerSecond the emulator times each
    # snapshot by the MiB it copies. 20 + 50 GiB at 71,680 MiB/s: the first image 1 s.
    import time

    from carveout_emulator.testing import configure

    configure(snapshotMiBPerSecond=71680, snapshotChangedPercent=2)
    ec2 = client("ec2", N)
    instance, _ = _encrypted_instance(ec2)
    first = ec2.create_image(InstanceId=instance, Name="first", NoReboot=True)["ImageId"]
    image = ec2.describe_images(ImageIds=[first])["Images"][0]
    assert image["State"] == "pending"
    snaps = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    progress = [s["Progress"] for s in ec2.describe_snapshots(SnapshotIds=snaps)["Snapshots"]]
    assert all(p.endswith("%") and int(p[:-1]) < 100 for p in progress), progress
    time.sleep(1.1)
    assert ec2.describe_images(ImageIds=[first])["Images"][0]["State"] == "available"
    second = ec2.create_image(InstanceId=instance, Name="second", NoReboot=True)["ImageId"]
    later = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[second])["Images"][0]["BlockDeviceMappings"]
             if "Ebs" in m]
    copied = configure()["snapshotMiB"]
    assert sorted(copied[s] for s in snaps) == [20 * 1024, 50 * 1024]
    assert sorted(copied[s] for s in later) == [20 * 1024 * 0.02, 50 * 1024 * 0.02]
    time.sleep(0.05)
    assert ec2.describe_images(ImageIds=[second])["Images"][0]["State"] == "available"
