"""EC2 request throttling with AWS's published token buckets, for the benchmark's scale
runs (`bench/`): per account and region, per API action, buckets sized and refilled as in
"Request throttling for the Amazon EC2 API" (EC2 developer guide, request and resource
token bucket tables), scaled by `throttling.scale` (1.0 = an otherwise idle account;
0.1 = an account whose other workloads use 90 % of every bucket; never below one token).

Only the EC2 actions carveout calls are listed; an unknown EC2 action uses its category.
A throttled call answers 503 RequestLimitExceeded, as EC2 does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

# (capacity, refill per second)
NON_MUTATING = (100, 20)
MUTATING = (50, 5)
RESOURCE_INTENSIVE = (50, 5)
RESOURCE_INTENSIVE_ACTIONS = {
    "acceptvpcpeeringconnection", "authorizesecuritygroupingress", "createvpcpeeringconnection",
    "deletevpcpeeringconnection", "rejectvpcpeeringconnection", "revokesecuritygroupingress",
}
UNCATEGORIZED = {
    "createtags": (100, 10),
    "deletesnapshot": (100, 5),
    "deregisterimage": (100, 5),
    "modifyimageattribute": (100, 5),
    "modifysnapshotattribute": (100, 5),
    "runinstances": (5, 2),
    "terminateinstances": (100, 5),
    "copyimage": (100, 1),
}
# Resource rate limiting (instances, not requests).
RESOURCE_BUCKETS = {"runinstances": (1000, 2), "terminateinstances": (1000, 20)}


def request_bucket(action: str) -> tuple[float, float]:
    if action in UNCATEGORIZED:
        return UNCATEGORIZED[action]
    if action in RESOURCE_INTENSIVE_ACTIONS:
        return RESOURCE_INTENSIVE
    if action.startswith(("describe", "get", "list", "search")):
        return NON_MUTATING
    return MUTATING


@dataclass
class Bucket:
    capacity: float
    refill: float
    tokens: float
    at: float

    def take(self, n: float, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.refill)
        self.at = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class Throttling:
    def __init__(self) -> None:
        self.scale: float | None = None
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.throttled: dict[str, int] = {}
        self.lock = threading.Lock()

    def configure(self, scale: float | None) -> None:
        with self.lock:
            self.scale = scale
            self.buckets = {}
            self.throttled = {}

    def _bucket(self, key: tuple[str, str, str], size: tuple[float, float], now: float) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            assert self.scale is not None
            # A bucket always holds at least one token: a scaled bucket below one could
            # never admit a call, which is not a busy account but a closed one.
            cap, refill = max(1.0, size[0] * self.scale), size[1] * self.scale
            bucket = self.buckets[key] = Bucket(cap, refill, cap, now)
        return bucket

    def admit(self, account: str, action: str, instances: int = 1) -> bool:
        """False when the call must be answered RequestLimitExceeded."""
        with self.lock:
            if self.scale is None:
                return True
            now = time.monotonic()
            ok = self._bucket((account, "request", action), request_bucket(action), now).take(1, now)
            if ok and action in RESOURCE_BUCKETS:
                ok = self._bucket((account, "resource", action), RESOURCE_BUCKETS[action], now).take(instances, now)
            if not ok:
                self.throttled[action] = self.throttled.get(action, 0) + 1
            return ok

    def snapshot(self) -> dict:
        with self.lock:
            return {"scale": self.scale, "throttled": dict(self.throttled)}


THROTTLING = Throttling()
