"""RunInstances idempotency (ClientToken), AMI visibility on launch, launch phases.

- AWS answers a repeated RunInstances with the same ClientToken with the original
  reservation; moto launches again. Here the token is remembered per account and region.
- moto launches from any image id; AWS needs an image the caller can see (its own or one
  shared with it). This patch enforces that, so a missing ShareImage is caught here too.
- New instances can report `initializing` status checks for N DescribeInstanceStatus reads.
"""

import sys
from typing import Any

from moto.ec2.exceptions import InvalidAMIIdError
from moto.ec2.models.instances import Instance, InstanceBackend

from ..control import CONTROL
from ._util import once

# moto's response layer passes this when the request had no ClientToken.
MOTO_DEFAULT_TOKEN = "ABCDE"
LAUNCHED: set[str] = set()
INITIALIZING: set[str] = set()


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_run = InstanceBackend.run_instances
    original_status = InstanceBackend.describe_instance_status

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        token = kwargs.get("client_token")
        tokens: dict[str, Any] = self.__dict__.setdefault("_carveout_client_tokens", {})
        if token and token != MOTO_DEFAULT_TOKEN and token in tokens:
            return tokens[token]
        if image_id and image_id.startswith("ami-"):
            try:
                self.describe_images(ami_ids=[image_id])
            except InvalidAMIIdError:
                raise InvalidAMIIdError(image_id)
        reservation = original_run(
            self, image_id, count, user_data, security_group_names, **kwargs
        )
        for instance in reservation.instances:
            LAUNCHED.add(instance.id)
        if token and token != MOTO_DEFAULT_TOKEN:
            tokens[token] = reservation
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
