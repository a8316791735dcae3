"""The request recorder (carveout_emulator.recorder) writes what the IAM evaluation needs.

Runs against the emulator scripts/test.sh starts with CARVEOUT_RECORD_REQUESTS; the same
variable tells this test where the recording is.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from carveout_emulator.testing import client, reset

N, T = "111111111111", "222222222222"
RECORDING = os.environ.get("CARVEOUT_RECORD_REQUESTS")
pytestmark = pytest.mark.skipif(not RECORDING, reason="the emulator records only with CARVEOUT_RECORD_REQUESTS")


def _lines_since(offset: int) -> list[dict[str, Any]]:
    with Path(RECORDING or "").open(encoding="utf-8") as recording:
        recording.seek(offset)
        return [json.loads(line) for line in recording.read().splitlines()]


def _offset() -> int:
    path = Path(RECORDING or "")
    return path.stat().st_size if path.exists() else 0


def test_records_principal_facts_before_and_created_ids_after():
    """A tagged image's ModifyImageAttribute carries the image's tags as they were before
    the call; RunInstances from it carries the image's snapshots and lists the new
    instance, its volume and network interface; the principal is the assumed role."""
    reset()
    marker = uuid.uuid4().hex
    ec2 = client("ec2", N)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.0.0/24")["Subnet"]["SubnetId"]
    base = ec2.register_image(Name="base", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                              BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    ec2.create_tags(Resources=[base], Tags=[{"Key": "marker", "Value": marker}])
    start = _offset()
    ec2.modify_image_attribute(ImageId=base, LaunchPermission={"Add": [{"UserId": T}]})
    run = ec2.run_instances(InstanceType="t3.small", ImageId=base, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    lines = _lines_since(start)

    modify = next(e for e in lines if e["action"] == "ModifyImageAttribute")
    assert modify["account"] == N and modify["service"] == "ec2" and modify["status"] == 200
    assert modify["principal"]["roleArn"] == f"arn:aws:iam::{N}:role/CarveOutExecutionRole"
    assert modify["principal"]["sessionName"] == "test-setup"
    assert modify["before"][base]["tags"] == {"marker": marker}
    assert modify["before"][base]["owner"] == N

    launch = next(e for e in lines if e["action"] == "RunInstances")
    snapshots = launch["before"][base]["snapshots"]
    assert snapshots and all(s in launch["before"] for s in snapshots)
    created = launch["created"]
    assert run in created
    assert set(created[run]["volumes"]) <= set(created) and set(created[run]["networkInterfaces"]) <= set(created)
    assert launch["before"][subnet]["owner"] == N


def test_records_base_credentials_and_ram_rest_calls_and_failures():
    """sts:AssumeRole with base credentials records the access key; RAM's REST calls record
    the JSON body and the created share; a refused request is recorded with its status."""
    reset()
    start = _offset()
    ram = client("ram", N)
    share = ram.create_resource_share(name="rec", principals=[T], allowExternalPrincipals=False,
                                      tags=[{"key": "carveout:migration-id", "value": "rec"}])
    arn = share["resourceShare"]["resourceShareArn"]
    with pytest.raises(Exception):
        client("ec2", N).describe_images(ImageIds=["ami-00000000000000000"])
    lines = _lines_since(start)

    assume = next(e for e in lines if e["action"] == "AssumeRole")
    assert assume["principal"]["accessKeyId"] == "test" and assume["account"] == "123456789012"
    create = next(e for e in lines if e["service"] == "ram")
    assert create["parameters"]["allowExternalPrincipals"] is False
    assert create["created"][arn]["tags"] == {"carveout:migration-id": "rec"}
    refused = next(e for e in lines if e["action"] == "DescribeImages")
    assert refused["status"] >= 400
