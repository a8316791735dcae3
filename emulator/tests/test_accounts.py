"""The account as AWS gives it to carveout, one test per behaviour the emulator adds to moto
5.2.5: reads that lag a stop or start, an account still being verified, Marketplace product
codes and subscriptions, On-Demand vCPU quotas. Each fails without its patch."""

import botocore.exceptions
import pytest

from carveout_emulator.patches.quotas import BUCKETS, quota_code
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, REGION, carveout_client, client, configure, reset

N, T = "111111111111", "222222222222"
CODE = "8fkdqbo2f7bzbvjpn4nf0n1aa"


@pytest.fixture(autouse=True)
def clean():
    reset()
    yield
    reset()


def _world(ec2, cidr="10.9.0.0/16"):
    """An image and a subnet of `ec2`'s account."""
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24"))["Subnet"]["SubnetId"]
    return image, subnet


def _launch(ec2, image, subnet, instance_type="t3.small", count=1):
    return [i["InstanceId"] for i in ec2.run_instances(ImageId=image, InstanceType=instance_type, MinCount=count,
                                                       MaxCount=count, SubnetId=subnet)["Instances"]]


def _error(call):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_reads_show_the_state_before_a_stop_or_start_for_a_while():
    """https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html: a state
    change is not at once visible to every read. After carveout's StopInstances its next
    reads naming the instance still show `running` (moto: `stopped` at once), after
    StartInstances `stopped`; test setup and other instances see the state as it is."""
    configure(stateChangeStaleReads=2)
    ec2, c = client("ec2", N), carveout_client("ec2", N)
    image, subnet = _world(ec2)
    iid, other = _launch(ec2, image, subnet, count=2)

    def state(reader, instance=iid):
        return reader.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]

    def status(**kwargs):
        return [(s["InstanceId"], s["InstanceState"]["Name"]) for s in c.describe_instance_status(
            InstanceIds=[iid, other], **kwargs)["InstanceStatuses"]]

    assert c.stop_instances(InstanceIds=[iid, other])["StoppingInstances"][0]["PreviousState"]["Name"] == "running"
    assert state(ec2)["Name"] == "stopped"
    assert state(c) == {"Code": 16, "Name": "running"}
    assert status() == [(iid, "running"), (other, "running")]  # only `running` ones are listed
    assert state(c) == {"Code": 80, "Name": "stopped"}
    assert status() == [(other, "running")]  # each instance's own reads
    c.start_instances(InstanceIds=[iid])
    assert status(IncludeAllInstances=True)[0] == (iid, "stopped")
    assert state(c) == {"Code": 80, "Name": "stopped"}
    assert state(c) == {"Code": 16, "Name": "running"}


def test_an_account_being_verified_refuses_mutating_calls_until_its_count_is_used_up():
    """PendingVerification is a client error every EC2 action can return while AWS verifies
    the account (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
    Mutating calls of carveout's sessions, DryRun ones too, answer it while the count lasts;
    reads and test setup work. Then a DryRun answers DryRunOperation, as for any account."""
    configure(pendingVerification={T: 2})
    t, c = client("ec2", T), carveout_client("ec2", T)
    vpc = t.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    create = lambda: c.create_security_group(GroupName="g", Description="g", VpcId=vpc, DryRun=True)  # noqa: E731
    assert _error(create) == ("PendingVerification", 400)
    assert c.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert carveout_client("ec2", N).create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]  # another account
    with pytest.raises(botocore.exceptions.ClientError, match="pending verification"):
        c.create_vpc(CidrBlock="10.3.0.0/16")
    assert configure()["phases"]["pendingVerification"] == {T: 0}
    assert _error(create) == ("DryRunOperation", 412)


def test_a_marketplace_image_launches_only_in_a_subscribed_account_and_gives_instances_its_codes():
    """"If any of the AMIs have a product code attached for which the user has not
    subscribed, the request fails"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html):
    OptInRequired, HTTP 401, nothing launched. Launched, the instance carries the image's
    codes (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/get-product-code.html)."""
    ec2 = client("ec2", N)
    image, subnet = _world(ec2)
    configure(marketplaceImages={image: [CODE]})
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    assert described["ProductCodes"] == [{"ProductCodeId": CODE, "ProductCodeType": "marketplace"}]
    assert [i["ImageId"] for i in ec2.describe_images(
        Filters=[{"Name": "product-code", "Values": [CODE]}])["Images"]] == [image]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        _launch(ec2, image, subnet)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert err.value.response["Error"] == {
        "Code": "OptInRequired",
        "Message": "In order to use this AWS Marketplace product you need to accept terms and subscribe. "
                   f"To do so please visit https://aws.amazon.com/marketplace/pp?sku={CODE}"}
    assert not ec2.describe_instances()["Reservations"]
    configure(marketplaceSubscriptions={N: [CODE]})
    iid = _launch(ec2, image, subnet)[0]
    instance = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert instance["ProductCodes"] == [{"ProductCodeId": CODE, "ProductCodeType": "marketplace"}]


def test_product_codes_travel_into_created_images_and_own_copies_but_block_cross_account_copies():
    """An image made from a Marketplace instance keeps its codes, and "an AMI that was
    directly or indirectly derived from an AWS Marketplace AMI, you cannot copy it across
    accounts" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html)."""
    n, t = client("ec2", N), client("ec2", T)
    image, subnet = _world(n)
    configure(marketplaceImages={image: [CODE]}, marketplaceSubscriptions={N: [CODE]})
    made = n.create_image(InstanceId=_launch(n, image, subnet)[0], Name="made", NoReboot=True)["ImageId"]
    copy = n.copy_image(SourceImageId=made, SourceRegion=REGION, Name="copy")["ImageId"]
    for ami in (made, copy):
        assert [p["ProductCodeId"] for p in n.describe_images(ImageIds=[ami])["Images"][0]["ProductCodes"]] == [CODE]
    n.modify_image_attribute(ImageId=made, LaunchPermission={"Add": [{"UserId": T}]})
    with pytest.raises(botocore.exceptions.ClientError, match="cannot be copied to another AWS account") as err:
        t.copy_image(SourceImageId=made, SourceRegion=REGION, Name="theirs")
    assert err.value.response["Error"]["Code"] == "InvalidRequest"
    tsubnet = _world(t, "10.1.0.0/16")[1]
    assert _error(lambda: _launch(t, made, tsubnet)) == ("OptInRequired", 401)


def test_service_quotas_answer_the_ec2_vcpu_quotas_default_and_applied():
    """AWS defaults of the On-Demand vCPU quotas: Standard 5, every other 0
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html#ec2-on-demand-instances-limits).
    "If the applied quota value is not available for a quota, the quota is not retrieved"
    (https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html):
    NoSuchResourceException until the account has one. moto knows only `vpc`."""
    sq = client("service-quotas", T)
    defaults = {b.code: sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=b.code)["Quota"]["Value"]
                for b in BUCKETS}
    assert defaults == {"L-1216C47A": 5.0, "L-6E869C2A": 0.0, "L-74FC7D96": 0.0, "L-DB2E81BA": 0.0,
                        "L-F7808C92": 0.0, "L-43DA4232": 0.0, "L-1945791B": 0.0, "L-417A185B": 0.0,
                        "L-2C3B7624": 0.0, "L-7295265B": 0.0}
    standard = sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
    assert standard == {
        "ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": f"arn:aws:servicequotas:{REGION}::ec2/L-1216C47A", "QuotaCode": "L-1216C47A",
        "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "Value": 5.0,
        "Unit": "None", "Adjustable": True, "GlobalQuota": False}
    with pytest.raises(sq.exceptions.NoSuchResourceException):
        sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")
    configure(vcpuQuotas={T: {"L-1216C47A": 64}})
    applied = sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
    assert (applied["Value"], applied["QuotaArn"]) == (64.0, f"arn:aws:servicequotas:{REGION}:{T}:ec2/L-1216C47A")
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchResourceException"):
        client("service-quotas", N).get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")


def test_carveouts_launches_are_held_to_the_vcpu_quota_of_the_types_bucket():
    """A launch whose vCPUs, with those the account already runs in the bucket, pass the
    quota answers VcpuLimitExceeded
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html).
    Test setup builds the world unlimited; its instances count against carveout's launches."""
    t, c = client("ec2", T), carveout_client("ec2", T)
    image, subnet = _world(t, "10.1.0.0/16")
    running = _launch(t, image, subnet, count=3)  # 6 vCPUs: past the default of 5, test setup may
    with pytest.raises(botocore.exceptions.ClientError, match="current vCPU limit of 5 allows") as err:
        _launch(c, image, subnet)
    assert err.value.response["Error"]["Code"] == "VcpuLimitExceeded"
    assert _error(lambda: _launch(c, image, subnet, "g4dn.xlarge")) == ("VcpuLimitExceeded", 400)  # G: 0
    configure(vcpuQuotas={T: {"L-1216C47A": 10}})
    _launch(c, image, subnet, count=2)  # 6 + 4 = 10
    assert _error(lambda: _launch(c, image, subnet)) == ("VcpuLimitExceeded", 400)
    t.stop_instances(InstanceIds=running[:1])
    _launch(c, image, subnet)  # a stopped instance does not count


def test_instance_types_map_to_their_quota_bucket():
    """The family table of patches/quotas.py (the Rust side mirrors it): each quota counts
    some instance families
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html)."""
    cases = {"t3.small": "L-1216C47A", "m5d.large": "L-1216C47A", "im4gn.large": "L-1216C47A",
             "i4i.large": "L-1216C47A", "d3.xlarge": "L-1216C47A", "h1.2xlarge": "L-1216C47A",
             "g5.xlarge": "L-DB2E81BA", "gr6.4xlarge": "L-DB2E81BA", "vt1.3xlarge": "L-DB2E81BA",
             "p4d.24xlarge": "L-417A185B", "inf2.xlarge": "L-1945791B", "trn1n.32xlarge": "L-2C3B7624",
             "dl1.24xlarge": "L-6E869C2A", "f1.2xlarge": "L-74FC7D96", "x2idn.16xlarge": "L-7295265B",
             "hpc7g.4xlarge": "L-F7808C92", "u-6tb1.metal": "L-43DA4232", "u7i-12tb.224xlarge": "L-43DA4232"}
    assert {t: quota_code(t) for t in cases} == cases


def test_seed_marks_the_moved_instances_marketplace_and_sets_the_target_quota():
    """seed(product_codes=..., vcpu_quota=...): the moved instances carry the code, only the
    source account is subscribed, and the target's applied Standard quota is set (a launch
    needs a subscription: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/paid-amis.html)."""
    configure(marketplaceSubscriptions={"333333333333": ["other"]})
    plan = seed(ENDPOINT, product_codes=(CODE,), vcpu_quota=8)
    moved = client("ec2", N).describe_instances(InstanceIds=plan["source"]["instanceIds"])["Reservations"]
    assert [p["ProductCodeId"] for r in moved for i in r["Instances"] for p in i["ProductCodes"]] == [CODE]
    phases = configure()["phases"]
    assert phases["marketplaceSubscriptions"] == {"333333333333": ["other"], N: [CODE]}
    assert phases["vcpuQuotas"] == {T: {"L-1216C47A": 8}}
