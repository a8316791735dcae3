"""Accounts AWS is still verifying: PendingVerification.

AWS lists `PendingVerification` among the client errors every EC2 action can return: "Your
account is pending verification. Until the verification process is complete, you may not
be able to carry out requests with this account. If you have questions, contact AWS
Support." (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html,
common client error codes). A new target account meets it on its first launches, and it
ends by itself once AWS is done.

Here setting `pendingVerification` (account id -> calls left) makes every mutating EC2 call
of carveout's sessions (`carveout-…`) in that account answer HTTP 400 PendingVerification,
DryRun calls included, each such call using up one; at zero the account behaves normally,
so a bounded wait ends. Reads (Describe*, Get*, List*) and test setup are not affected.
In the field, RunInstances also answers PendingVerification with another message ("Your
request for accessing resources in this region is being validated…"); the code is what
callers match.
"""

from __future__ import annotations

from .control import CONTROL, Fault

MESSAGE = (
    "Your account is pending verification. Until the verification process is complete, you may not be "
    "able to carry out requests with this account. If you have questions, contact AWS Support."
)
_READS = ("describe", "get", "list")


def is_mutating(action: str) -> bool:
    """An EC2 action that changes something (`action` lowercased, as the middleware has it)."""
    return not action.startswith(_READS)


def pending_verification(account: str, action: str) -> Fault | None:
    """The PendingVerification answer for this call of a carveout session, or None."""
    if not is_mutating(action):
        return None
    with CONTROL.lock:
        left = dict(CONTROL.phases.get("pendingVerification") or {})
        calls = int(left.get(account) or 0)
        if calls <= 0:
            return None
        left[account] = calls - 1
        CONTROL.phases["pendingVerification"] = left
    return Fault(action=action, code="PendingVerification", message=MESSAGE, status=400)
