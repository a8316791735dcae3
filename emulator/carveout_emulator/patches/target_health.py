"""ELBv2 target health as AWS reports it, with an `initial` phase and the network path.

moto answers `healthy` for every registered target at once. On AWS a target group that
no listener or rule forwards to reports `unused` / Target.NotInUse (health is unknown
until it is attached), a newly attached target is `initial` until it passed
`HealthyThresholdCount` checks, and a target the load balancer cannot reach (security
groups, routes, peering, network ACLs: `network_path.py`) is `unhealthy` /
Target.Timeout. carveout's health gate depends on all three.
"""

import sys
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeHealthStatus

import logging

from ..control import CONTROL
from ._util import once
from .network_path import blocked

LOG = logging.getLogger(__name__)


def _forwards_to(action: Any, arn: str) -> bool:
    data = getattr(action, "data", action) or {}
    if data.get("TargetGroupArn") == arn:
        return True
    groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
    return any(g.get("TargetGroupArn") == arn and int(g.get("Weight", 1)) >= 0 for g in groups)


def in_use(backend: Any, arn: str) -> bool:
    return bool(load_balancers_of(backend, arn))


def load_balancers_of(backend: Any, arn: str) -> list[Any]:
    """The load balancers with a listener or rule forwarding to the group."""
    found = []
    for lb in list(backend.load_balancers.values()):
        for listener in list(lb.listeners.values()):
            actions = list(listener.default_actions or [])
            for rule in list(listener.rules.values()):
                actions.extend(rule.actions or [])
            if any(_forwards_to(a, arn) for a in actions):
                found.append(lb)
                break
    return found


def unreachable(backend: Any, group: Any, status: Any) -> str | None:
    """Why no load balancer forwarding to `group` can reach the target, or None."""
    target = status.instance_id
    ip = target
    if not target[0].isdigit():
        inst = backend.ec2_backend.get_instance_by_id(target)
        ip = getattr(inst, "private_ip", None)
        if not ip:
            return f"instance {target} has no address"
    port = int(status.port)
    hc = group.health_check_port
    ports = sorted({port, port if hc in (None, "traffic-port") else int(hc)})
    for lb in load_balancers_of(backend, group.arn):
        why = blocked(backend, lb, ip, ports)
        if why:
            return why
    return None


def _is_probe(rule: Any) -> bool:
    return any((c.get("Field") if isinstance(c, dict) else getattr(c, "field", None)) == "http-header"
               for c in (rule.conditions or []))


def real_traffic(backend: Any, arn: str) -> bool:
    """Whether a weighted forward outside a probe rule gives the group a share of traffic."""
    for lb in list(backend.load_balancers.values()):
        for listener in list(lb.listeners.values()):
            actions = list(listener.default_actions or [])
            for rule in list(listener.rules.values()):
                if not _is_probe(rule):
                    actions.extend(rule.actions or [])
            for action in actions:
                data = getattr(action, "data", action) or {}
                groups = (data.get("ForwardConfig") or {}).get("TargetGroups") or []
                if len(groups) > 1 and any(
                        g.get("TargetGroupArn") == arn and int(g.get("Weight", 1)) > 0 for g in groups):
                    return True
    return False


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original = ELBv2Backend.describe_target_health

    def describe_target_health(self, target_group_arn, targets):  # type: ignore[no-untyped-def]
        statuses = original(self, target_group_arn, targets)
        group = self.target_groups[target_group_arn]
        used = in_use(self, target_group_arn)
        adjusted = []
        for status in statuses:
            if status.status != "healthy":
                adjusted.append(status)
                continue
            if not used:
                state, reason, text = "unused", "Target.NotInUse", (
                    "Target group is not configured to receive traffic from the load balancer"
                )
            elif CONTROL.still_in_phase(
                "targetInitialPolls", "target", f"{target_group_arn}|{status.instance_id}"
            ):
                state, reason, text = "initial", "Elb.RegistrationInProgress", (
                    "Target registration is in progress"
                )
            elif CONTROL.phases.get("targetsUnhealthy") or (
                    CONTROL.phases.get("targetsUnhealthyUnderTraffic") and real_traffic(self, target_group_arn)):
                state, reason, text = "unhealthy", "Target.Timeout", "Request timed out"
            elif why := unreachable(self, group, status):
                # AWS says only "Request timed out"; the log says which hop stopped it.
                LOG.warning("target %s of %s is unreachable: %s", status.instance_id, target_group_arn, why)
                state, reason, text = "unhealthy", "Target.Timeout", "Request timed out"
            else:
                adjusted.append(status)
                continue
            adjusted.append(
                FakeHealthStatus(
                    status.instance_id, status.port, group.health_check_port, state, reason, text
                )
            )
        return adjusted

    ELBv2Backend.describe_target_health = describe_target_health
