"""RunInstances idempotency (ClientToken), AMI visibility on launch, launch phases.

- AWS answers a repeated RunInstances with the same ClientToken with the original
  reservation (terminated or not), and the same token with other parameters with
  `IdempotentParameterMismatch`; moto launches again. Here the token is remembered per
  account and region with what it launched.
- moto launches from any image id; AWS needs an image the caller can see (its own or one
  shared with it). This patch enforces that, so a missing ShareImage is caught here too.
- New instances can report `initializing` status checks for N DescribeInstanceStatus reads.
- moto launches any type anywhere. AWS refuses a type the subnet's Availability Zone does
  not offer (`Unsupported`,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-type-availability.html)
  and a type whose architecture is not the image's (`InvalidParameterValue`); the
  offerings are moto's own copy of AWS's per-zone data.
"""

import sys
from typing import Any

from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError
from moto.ec2.models.instances import Instance, InstanceBackend

from ..control import CONTROL
from ._util import once

# moto's response layer passes this when the request had no ClientToken.
MOTO_DEFAULT_TOKEN = "ABCDE"
LAUNCHED: set[str] = set()
INITIALIZING: set[str] = set()


def _check_type(backend: Any, instance_type: str, subnet_id: str | None, image: Any) -> None:
    if subnet_id:
        zone = backend.get_subnet(subnet_id).availability_zone
        offered = backend.describe_instance_type_offerings(
            "availability-zone", {"instance-type": [instance_type], "location": [zone]})
        if not offered:
            raise EC2ClientError(
                "Unsupported",
                f"Your requested instance type ({instance_type}) is not supported in your requested "
                f"Availability Zone ({zone}). Please retry your request by not specifying an Availability Zone "
                "or choosing another one.")
    arch = getattr(image, "architecture", None)
    if arch:
        try:
            info = backend.describe_instance_types([instance_type])[0]
        except Exception:  # an unknown type: moto's own answer elsewhere
            return
        supported = (info.get("ProcessorInfo") or {}).get("SupportedArchitectures") or []
        if supported and arch not in supported:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"The architecture '{'/'.join(supported)}' of the specified instance type does not match the "
                f"architecture '{arch}' of the specified AMI.")


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_run = InstanceBackend.run_instances
    original_status = InstanceBackend.describe_instance_status

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        token = kwargs.get("client_token")
        tokens: dict[str, Any] = self.__dict__.setdefault("_carveout_client_tokens", {})
        # What a token stands for: the same token with other parameters is refused
        # (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
        launch = (image_id, kwargs.get("instance_type"), kwargs.get("subnet_id"), count)
        if token and token != MOTO_DEFAULT_TOKEN and token in tokens:
            reservation, original = tokens[token]
            if original != launch:
                raise EC2ClientError(
                    "IdempotentParameterMismatch",
                    "Arguments on this idempotent request are inconsistent with arguments used in previous "
                    "request(s).")
            return reservation
        image = None
        if image_id and image_id.startswith("ami-"):
            try:
                image = self.describe_images(ami_ids=[image_id])[0]
            except InvalidAMIIdError:
                raise InvalidAMIIdError(image_id)
        _check_type(self, kwargs.get("instance_type") or "m1.small", kwargs.get("subnet_id"), image)
        reservation = original_run(
            self, image_id, count, user_data, security_group_names, **kwargs
        )
        for instance in reservation.instances:
            LAUNCHED.add(instance.id)
        if token and token != MOTO_DEFAULT_TOKEN:
            tokens[token] = (reservation, launch)
        return reservation

    def describe_instance_status(self, instance_ids, include_all_instances, filters):  # type: ignore[no-untyped-def]
        instances = original_status(self, instance_ids, include_all_instances, filters)
        for instance in instances:
            if instance.id in LAUNCHED and CONTROL.still_in_phase(
                "instancePendingPolls", "instance", instance.id
            ):
                INITIALIZING.add(instance.id)
            else:
                INITIALIZING.discard(instance.id)
        return instances

    def checks(original: Any) -> Any:
        def status(self: Any) -> dict[str, Any]:
            if self.id in INITIALIZING:
                return {
                    "Details": [{"Name": "reachability", "Status": "initializing"}],
                    "Status": "initializing",
                }
            return original.fget(self)

        return property(status)

    InstanceBackend.run_instances = run_instances
    InstanceBackend.describe_instance_status = describe_instance_status
    Instance.instance_status = checks(Instance.instance_status)
    Instance.system_status = checks(Instance.system_status)
