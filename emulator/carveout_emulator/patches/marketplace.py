"""AWS Marketplace product codes: carried from image to instance to image; a launch needs a
subscription.

AWS:

- A Marketplace image carries product codes (DescribeImages `ProductCodes`,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-paid-amis-finding-paid-ami.html),
  and so does an instance launched from it (DescribeInstances `ProductCodes`,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/get-product-code.html).
- "To launch instances from AWS Marketplace products, you must be [...] subscribed to the
  product" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/paid-amis.html); "If any of
  the AMIs have a product code attached for which the user has not subscribed, the request
  fails" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html):
  `OptInRequired` (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html),
  HTTP 401, "In order to use this AWS Marketplace product you need to accept terms and
  subscribe. To do so please visit https://aws.amazon.com/marketplace/pp?sku=<code>".
- An image made from such an instance keeps the codes, and "an AMI that was directly or
  indirectly derived from an AWS Marketplace AMI, you cannot copy it across accounts.
  Instead, launch an EC2 instance using the AWS Marketplace AMI and then create an AMI from
  the instance" (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/CopyingAMIs.html):
  CopyImage of one's own image keeps the codes; of another account's image with codes it
  answers InvalidRequest "Images from AWS Marketplace cannot be copied to another AWS account".

moto keeps an image's codes as a set of strings that DescribeImages renders as `[]`, gives
an instance no codes, and launches anything. Here an image's codes are its own plus those
setting `marketplaceImages` (image id -> codes) gives it (no public API sets codes); setting
`marketplaceSubscriptions` (account id -> codes) says what each account is subscribed to,
for every principal of the account. Both render as AWS does, and moto's `product-code`
filters keep working.
"""

import sys
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import Instance, InstanceBackend

from ..control import CONTROL
from ._util import once

SUBSCRIBE = ("In order to use this AWS Marketplace product you need to accept terms and subscribe. "
             "To do so please visit https://aws.amazon.com/marketplace/pp?sku={code}")


class OptInRequiredError(EC2ClientError):
    """HTTP 401 on AWS; moto answers 400 and the middleware sets the status (middleware._AWS_STATUS)."""

    def __init__(self, code: str):
        super().__init__("OptInRequired", SUBSCRIBE.format(code=code))


def image_codes(image: Any) -> set[str]:
    """An image's product codes: its own (carried from an instance or a copy) and those the
    `marketplaceImages` setting gives it."""
    own = image.__dict__.get("_carveout_product_codes") or set()
    marked = (CONTROL.phases.get("marketplaceImages") or {}).get(image.id) or []
    return set(own) | set(marked)


def _set_image_codes(image: Any, codes: Any) -> None:
    image.__dict__["_carveout_product_codes"] = set(codes or ())


def subscriptions(account: str) -> set[str]:
    return set((CONTROL.phases.get("marketplaceSubscriptions") or {}).get(account) or [])


def rendered(codes: Any) -> list[dict[str, str]]:
    """`ProductCodes` as DescribeImages and DescribeInstances answer it."""
    return [{"ProductCodeId": code, "ProductCodeType": "marketplace"} for code in sorted(codes)]


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_run = InstanceBackend.run_instances
    original_create = AmiBackend.create_image
    original_copy = AmiBackend.copy_image

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):  # type: ignore[no-untyped-def]
        codes: set[str] = set()
        if image_id and image_id.startswith("ami-"):
            codes = self.describe_images(ami_ids=[image_id])[0].product_codes
        missing = sorted(codes - subscriptions(self.account_id))
        if missing:
            raise OptInRequiredError(missing[0])
        reservation = original_run(self, image_id, count, user_data, security_group_names, **kwargs)
        for instance in reservation.instances:
            instance.product_codes = sorted(codes)
        return reservation

    def create_image(self, instance_id, name, description, tag_specifications):  # type: ignore[no-untyped-def]
        image = original_create(self, instance_id, name, description, tag_specifications)
        image.product_codes = set(self.get_instance(instance_id).product_codes)
        return image

    def copy_image(self, source_image_id, source_region, name=None, description=None):  # type: ignore[no-untyped-def]
        from moto.ec2.models import ec2_backends

        source = ec2_backends[self.account_id][source_region].describe_images(ami_ids=[source_image_id])[0]
        codes = source.product_codes
        if codes and source.owner_id != self.account_id:
            raise EC2ClientError("InvalidRequest", "Images from AWS Marketplace cannot be copied to another AWS account")
        copy = original_copy(self, source_image_id, source_region, name, description)
        copy.product_codes = set(codes)
        return copy

    InstanceBackend.run_instances = run_instances
    AmiBackend.create_image = create_image
    AmiBackend.copy_image = copy_image
    Ami.product_codes = property(image_codes, _set_image_codes)
    Ami.ProductCodes = property(lambda self: rendered(self.product_codes))
    Instance.ProductCodes = property(lambda self: rendered(self.product_codes))
