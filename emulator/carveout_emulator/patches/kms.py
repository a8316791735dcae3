"""AWS managed KMS keys and cross-account key use.

- moto creates the keys behind `alias/aws/*` (the EBS default key `alias/aws/ebs` among
  them) as ordinary customer keys. On AWS they are `KeyManager: AWS`: usable only by
  their own account, through its AWS services, and never shareable. carveout's
  Preflight decides "can this image be shared?" from that field, so it must be right.
- CreateKey without KeyUsage makes a key with no usage in moto; AWS defaults to
  ENCRYPT_DECRYPT (Preflight refuses keys that cannot encrypt).
- moto looks up a key ARN only in the caller's account (`NotFoundException` for any
  other). On AWS an account may use another account's key by ARN when the key policy
  allows it (and never an AWS managed key). Here DescribeKey by ARN reaches the owner's
  key and is allowed exactly when `key_allows` says so.
"""

import json
import sys
from typing import Any

from moto.kms.exceptions import AccessDeniedException, NotFoundException
from moto.kms.models import KmsBackend
from moto.kms.responses import KmsResponse

from ._util import once

AWS_MANAGED_PREFIX = "alias/aws/"


def _kms_backends() -> Any:
    from moto.kms.models import kms_backends

    return kms_backends


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def key_allows(key: Any, account_id: str, action: str) -> bool:
    """Whether `account_id` may perform `action` on `key`: its own account always (IAM
    decides there), another account only through an Allow in the key policy naming that
    account (its root or one of its principals) and the action. AWS managed keys are never
    usable by another account."""
    if key.account_id == account_id:
        return True
    if key.key_manager == "AWS" or not key.policy:
        return False
    try:
        policy = json.loads(key.policy)
    except ValueError:
        return False
    for statement in _as_list(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = _as_list(principal.get("AWS", []) if isinstance(principal, dict) else principal)
        if not any(
            n == account_id or str(n).startswith(f"arn:aws:iam::{account_id}:") for n in names
        ):
            continue
        actions = _as_list(statement.get("Action", []))
        if any(a in ("kms:*", action) for a in actions):
            return True
    return False


def find_key(key_arn: str, region: str) -> Any:
    """The key named by a key ARN, in its owner's account, or None."""
    if not key_arn.startswith("arn:") or ":key/" not in key_arn:
        return None
    owner = key_arn.split(":")[4]
    backends = _kms_backends()
    if owner not in backends or region not in backends[owner]:
        return None
    return backends[owner][region].keys.get(key_arn.split(":key/")[1])


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original_alias = KmsBackend.create_alias
    original_create = KmsBackend.create_key
    original_describe = KmsResponse.describe_key

    def create_alias(self, target_key_id, alias_name):  # type: ignore[no-untyped-def]
        alias = original_alias(self, target_key_id, alias_name)
        if alias_name.startswith(AWS_MANAGED_PREFIX):
            self.keys[self.get_key_id(target_key_id)].key_manager = "AWS"
        return alias

    def create_key(self, policy, key_usage, key_spec, description, tags, *args, **kwargs):  # type: ignore[no-untyped-def]
        return original_create(self, policy, key_usage or "ENCRYPT_DECRYPT", key_spec, description, tags,
                               *args, **kwargs)

    def describe_key(self):  # type: ignore[no-untyped-def]
        key_id = self._get_param("KeyId") or ""
        owner = key_id.split(":")[4] if key_id.startswith("arn:") and key_id.count(":") >= 5 else None
        if owner is None or owner == self.current_account:
            return original_describe(self)
        key = find_key(key_id, self.region)
        if key is None:
            raise NotFoundException(f"Key '{key_id}' does not exist")
        if not key_allows(key, self.current_account, "kms:DescribeKey"):
            raise AccessDeniedException(
                f"User: arn:aws:sts::{self.current_account}:assumed-role/carveout is not "
                f"authorized to perform: kms:DescribeKey on resource: {key.arn} because no "
                "resource-based policy allows the kms:DescribeKey action"
            )
        return json.dumps(key.to_dict())

    KmsBackend.create_alias = create_alias
    KmsBackend.create_key = create_key
    KmsResponse.describe_key = describe_key
