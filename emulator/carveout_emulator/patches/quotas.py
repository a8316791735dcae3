"""EC2 On-Demand vCPU quotas: Service Quotas answers them, RunInstances is held to them.

AWS: "On-Demand Instance quotas are managed in terms of the number of virtual central
processing units (vCPUs) that your running On-Demand Instances are using [...]. Each quota
type specifies the maximum number of vCPUs for one or more instance families", per account
and Region; the page lists the quotas below with their defaults, Standard 5 and every other
0 (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html#ec2-on-demand-instances-limits).
A launch past the quota answers `VcpuLimitExceeded`, "You've reached the limit on the
number of vCPUs [...] assigned to the running instances in your account"
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), with the
message "You have requested more vCPU capacity than your current vCPU limit of N allows for
the instance bucket that the specified instance type belongs to. [...]". Service Quotas
gives the AWS default of a quota (GetAWSDefaultServiceQuota) and the account's applied value
(GetServiceQuota), but "For some quotas, only the default values are available. If the
applied quota value is not available for a quota, the quota is not retrieved"
(https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html):
a caller falls back to the default.

moto 5.2.5's Service Quotas knows only `vpc` (and has no GetAWSDefaultServiceQuota), and
RunInstances launches any number of anything. Here, for ServiceCode `ec2`:

- GetAWSDefaultServiceQuota answers each quota of BUCKETS with its AWS default.
- GetServiceQuota answers the applied value setting `vcpuQuotas` (account id -> {quota
  code: vCPUs}) gives the account, else NoSuchResourceException.
- RunInstances by one of carveout's sessions (`carveout-…`) answers VcpuLimitExceeded when
  the vCPUs of the account's running instances of the type's bucket in the Region, plus
  those of the new ones, pass the quota (applied, else default). Running ones only:
  "Instances that are in the pending, stopping, stopped, and hibernated states do not count
  towards your On-Demand Instance quotas" (same page; moto's instances run from launch on).
  vCPUs are moto's copy of AWS's instance type data (DefaultVCpus). Test setup is not
  limited: it builds the world as it was. moto launches MinCount instances (not MaxCount):
  those count.
"""

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instance_types import INSTANCE_TYPES
from moto.ec2.models.instances import InstanceBackend
from moto.servicequotas.models import ServiceQuotasBackend
from moto.servicequotas.responses import ServiceQuotasResponse

from .. import caller
from ..control import CONTROL
from ._util import once

SERVICE_NAME = "Amazon Elastic Compute Cloud (Amazon EC2)"
LIMIT = ("You have requested more vCPU capacity than your current vCPU limit of {limit} allows for the "
         "instance bucket that the specified instance type belongs to. Please visit "
         "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.")


@dataclass(frozen=True)
class Bucket:
    code: str
    name: str
    default: int  # vCPUs, AWS default value
    families: tuple[str, ...]  # the letters an instance type's family starts with


# The one table of instance families -> On-Demand vCPU quota (carveout's Rust side,
# functions/src/steps/preflight/target_account.rs, mirrors it). An instance type belongs to
# the bucket whose `families` holds the letters its name starts with: t3.small -> "t",
# trn1n.32xlarge -> "trn", inf2.xlarge -> "inf", dl1.24xlarge -> "dl", hpc7g.4xlarge ->
# "hpc", u-6tb1.metal and u7i-12tb.224xlarge -> "u" (High Memory), gr6.4xlarge -> "gr" (a
# G type). Whole letter groups, not prefixes: "i" (standard) is not "inf", "t" is not
# "trn", "d" is not "dl", "h" is not "hpc". Any other family (a, c, d, h, i, im, is, m, r,
# t, z; mac runs on Dedicated Hosts only) is Standard. Codes, names and defaults as AWS
# publishes them (module docstring).
STANDARD = Bucket("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5, ())
BUCKETS: tuple[Bucket, ...] = (
    STANDARD,
    Bucket("L-6E869C2A", "Running On-Demand DL instances", 0, ("dl",)),
    Bucket("L-74FC7D96", "Running On-Demand F instances", 0, ("f",)),
    Bucket("L-DB2E81BA", "Running On-Demand G and VT instances", 0, ("g", "gr", "vt")),
    Bucket("L-F7808C92", "Running On-Demand HPC instances", 0, ("hpc",)),
    Bucket("L-43DA4232", "Running On-Demand High Memory instances", 0, ("u",)),
    Bucket("L-1945791B", "Running On-Demand Inf instances", 0, ("inf",)),
    Bucket("L-417A185B", "Running On-Demand P instances", 0, ("p",)),
    Bucket("L-2C3B7624", "Running On-Demand Trn instances", 0, ("trn",)),
    Bucket("L-7295265B", "Running On-Demand X instances", 0, ("x",)),
)
_BY_CODE = {b.code: b for b in BUCKETS}
_BY_FAMILY = {family: b for b in BUCKETS for family in b.families}
_LETTERS = re.compile(r"[a-z]*")


def bucket(instance_type: str) -> Bucket:
    """The On-Demand vCPU quota an instance type counts against (pure: the table above)."""
    letters = _LETTERS.match(instance_type.lower()).group()  # type: ignore[union-attr]
    return _BY_FAMILY.get(letters, STANDARD)


def quota_code(instance_type: str) -> str:
    """The quota code of an instance type's bucket: quota_code("t3.small") == "L-1216C47A"."""
    return bucket(instance_type).code


def vcpus(instance_type: str) -> int:
    """Default vCPUs of a type (moto's copy of AWS's data); 0 for a type moto does not know."""
    return int(((INSTANCE_TYPES.get(instance_type) or {}).get("VCpuInfo") or {}).get("DefaultVCpus") or 0)


def applied(account: str, code: str) -> float | None:
    value = ((CONTROL.phases.get("vcpuQuotas") or {}).get(account) or {}).get(code)
    return None if value is None else float(value)


def limit(account: str, code: str) -> float:
    """The quota in force: the applied value, else the AWS default."""
    value = applied(account, code)
    return float(_BY_CODE[code].default) if value is None else value


def _quota(b: Bucket, region: str, account: str, value: float) -> dict[str, Any]:
    # The default's ARN has no account, an applied quota's has one, as AWS answers them
    # (https://docs.aws.amazon.com/cli/latest/reference/service-quotas/get-aws-default-service-quota.html).
    return {
        "ServiceCode": "ec2", "ServiceName": SERVICE_NAME,
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:ec2/{b.code}",
        "QuotaCode": b.code, "QuotaName": b.name, "Value": value, "Unit": "None",
        "Adjustable": True, "GlobalQuota": False,
    }


class NoSuchQuota(JsonRESTError):
    """Service Quotas' NoSuchResourceException ("The specified resource does not exist.")."""

    def __init__(self) -> None:
        super().__init__("NoSuchResourceException", "The specified resource does not exist.")


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_get = ServiceQuotasBackend.get_service_quota
    original_run = InstanceBackend.run_instances

    def get_aws_default_service_quota(self, service_code, quota_code):  # type: ignore[no-untyped-def]
        if service_code == "ec2":
            if quota_code not in _BY_CODE:
                raise NoSuchQuota()
            b = _BY_CODE[quota_code]
            return _quota(b, self.region_name, "", float(b.default))
        return original_get(self, service_code, quota_code)  # moto's vpc defaults

    def get_service_quota(self, service_code, quota_code):  # type: ignore[no-untyped-def]
        if service_code == "ec2":
            value = applied(self.account_id, quota_code) if quota_code in _BY_CODE else None
            if value is None:
                raise NoSuchQuota()
            return _quota(_BY_CODE[quota_code], self.region_name, self.account_id, value)
        return original_get(self, service_code, quota_code)

    def get_aws_default_service_quota_response(self):  # type: ignore[no-untyped-def]
        params = json.loads(self.body)
        quota = self.backend.get_aws_default_service_quota(str(params.get("ServiceCode")),
                                                           str(params.get("QuotaCode")))
        return json.dumps({"Quota": quota})

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        if caller.is_carveout_call():
            instance_type = kwargs.get("instance_type") or "m1.small"
            b = bucket(instance_type)
            used = sum(vcpus(i.instance_type) for i in self.all_instances()
                       if i.state == "running" and bucket(i.instance_type) == b)
            allowed = limit(self.account_id, b.code)
            if used + vcpus(instance_type) * int(count) > allowed:
                raise EC2ClientError("VcpuLimitExceeded", LIMIT.format(limit=int(allowed)))
        return original_run(self, image_id, count, user_data, security_group_names, **kwargs)

    ServiceQuotasBackend.get_aws_default_service_quota = get_aws_default_service_quota
    ServiceQuotasBackend.get_service_quota = get_service_quota
    ServiceQuotasResponse.get_aws_default_service_quota = get_aws_default_service_quota_response
    InstanceBackend.run_instances = run_instances
