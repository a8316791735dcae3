"""Whether an ALB can reach a target, from the network as it is configured.

moto knows nothing of packets. AWS's health checks reach a target only when every hop
lets them through
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html,
"Target.Timeout"; https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-update-security-groups.html):

- the ALB's security groups allow egress to the target's address on the traffic port and
  the health-check port;
- the target's security groups allow ingress on both ports from one of the ALB's groups
  (also across an active peering, by account and group id) or from a CIDR holding the
  ALB's subnets;
- outside the ALB's VPC, the route tables of the ALB's subnets send the target's address,
  and the target subnet's table sends the ALB's subnets, through one active peering of
  the two VPCs (longest prefix wins,
  https://docs.aws.amazon.com/vpc/latest/userguide/route-tables-priority.html);
- the network ACLs of both subnets allow the request one way and the reply (ephemeral
  ports 1024-65535) the other, first matching rule by number
  (https://docs.aws.amazon.com/vpc/latest/userguide/nacl-rules.html).

`blocked()` answers the first hop that stops the health check, in words, or None.
"""

from __future__ import annotations

import ipaddress
from typing import Any

EPHEMERAL = (1024, 65535)


def _backends(region: str) -> list[Any]:
    from moto.ec2.models import ec2_backends

    return [ec2_backends[a][region] for a in list(ec2_backends.keys()) if region in ec2_backends[a]]


def _net(cidr: str) -> Any:
    return ipaddress.ip_network(cidr, strict=False)


def _covers(rule: Any, port: int) -> bool:
    proto = str(rule.ip_protocol)
    if proto == "-1":
        return True
    return proto in ("tcp", "6") and rule.from_port is not None and rule.from_port <= port <= rule.to_port


def _cidr_of(rule: Any) -> str | None:
    return (rule.ip_range or {}).get("CidrIp")


def _group_of(rule: Any) -> str | None:
    return (rule.source_group or {}).get("GroupId")


def _subnet(backends: list[Any], subnet_id: str) -> tuple[Any, Any] | tuple[None, None]:
    for b in backends:
        for subnets in b.subnets.values():
            if subnet_id in subnets:
                return b, subnets[subnet_id]
    return None, None


def _route_table(backend: Any, subnet: Any) -> Any:
    tables = [t for t in backend.route_tables.values() if t.vpc_id == subnet.vpc_id]
    for t in tables:
        if subnet.id in t._associations.values():
            return t
    return next((t for t in tables if t.main_association_id is not None), None)


def _next_hop(table: Any, ip: Any) -> Any:
    """The route AWS picks for `ip` (longest prefix), or None."""
    best, best_len = None, -1
    for route in table._routes.values():
        if not route.destination_cidr_block:
            continue
        net = _net(route.destination_cidr_block)
        if ip in net and net.prefixlen > best_len:
            best, best_len = route, net.prefixlen
    return best


def _nacl_allows(backend: Any, subnet: Any, egress: bool, cidr_ip: Any, ports: tuple[int, int]) -> str | None:
    """None when the subnet's network ACL lets TCP on `ports` to/from `cidr_ip` through."""
    acls = [a for a in backend.network_acls.values() if a.vpc_id == subnet.vpc_id]
    acl = next((a for a in acls if any(x.subnet_id == subnet.id for x in a._associations.values())), None)
    acl = acl or next((a for a in acls if a.default), None)
    if acl is None:
        return None
    entries = sorted((e for e in acl.network_acl_entries if str(e.egress).lower() == str(egress).lower()),
                     key=lambda e: int(e.rule_number))
    for port in {ports[0], ports[1]}:
        for e in entries:
            if not e.cidr_block or cidr_ip not in _net(e.cidr_block):
                continue
            proto = str(e.protocol)
            if proto not in ("-1", "6", "tcp"):
                continue
            if proto != "-1" and not (int(e.port_range_from) <= port <= int(e.port_range_to)):
                continue
            if e.rule_action == "deny":
                return f"network ACL {acl.id} rule {e.rule_number} denies {'outbound' if egress else 'inbound'} tcp {port}"
            break
        else:
            return f"network ACL {acl.id} has no rule allowing {'outbound' if egress else 'inbound'} tcp {port}"
    return None


def blocked(elb_backend: Any, lb: Any, target_ip: str, ports: list[int]) -> str | None:
    """Why the ALB `lb` cannot reach `target_ip` on `ports`, or None when every hop allows it."""
    region = elb_backend.region_name
    backends = _backends(region)
    ip = ipaddress.ip_address(target_ip)
    found = None
    for b in backends:
        for reservation in b.reservations.values():
            for inst in reservation.instances:
                if inst.private_ip == target_ip and inst._state.name in ("pending", "running"):
                    found = (b, inst)
    if found is None:
        return f"no running instance has the address {target_ip}"
    tb, inst = found
    _, t_subnet = _subnet([tb], inst.subnet_id)
    lb_subnets = [s if not isinstance(s, str) else _subnet(backends, s)[1] for s in lb.subnets]
    lb_subnets = [s for s in lb_subnets if s is not None]
    nb = elb_backend.ec2_backend
    lb_groups = [nb.get_security_group_from_id(g) for g in lb.security_groups]
    lb_groups = [g for g in lb_groups if g is not None]

    for port in ports:
        if not any(_covers(r, port) and _cidr_of(r) and ip in _net(_cidr_of(r))
                   for g in lb_groups for r in g.egress_rules):
            return f"the ALB's security groups ({', '.join(g.id for g in lb_groups)}) allow no egress to {ip} on tcp {port}"
        lb_ids = {g.id for g in lb_groups}
        if not any(_covers(r, port) and (_group_of(r) in lb_ids or (
                _cidr_of(r) and lb_subnets and all(_net(s.cidr_block).subnet_of(_net(_cidr_of(r))) for s in lb_subnets)))
                for g in inst.security_groups for r in g.ingress_rules):
            return (f"the target's security groups ({', '.join(g.id for g in inst.security_groups)}) allow no "
                    f"ingress on tcp {port} from the ALB's groups or subnets")

    if t_subnet is not None and t_subnet.vpc_id != lb.vpc_id:
        for s in lb_subnets:
            table = _route_table(nb, s)
            hop = _next_hop(table, ip) if table else None
            pcx = getattr(hop, "vpc_pcx", None)
            if pcx is None or pcx._status.code != "active" or {pcx.vpc.id, pcx.peer_vpc.id} != {lb.vpc_id, t_subnet.vpc_id}:
                return (f"route table {table.id if table else '(none)'} of the ALB's subnet {s.id} does not send "
                        f"{ip} through an active peering of the two VPCs")
        table = _route_table(tb, t_subnet)
        for s in lb_subnets:
            back = ipaddress.ip_address(_net(s.cidr_block).network_address + 1)
            hop = _next_hop(table, back) if table else None
            pcx = getattr(hop, "vpc_pcx", None)
            if pcx is None or pcx._status.code != "active":
                return (f"route table {table.id if table else '(none)'} of the target's subnet {t_subnet.id} does not "
                        f"send the ALB's subnet {s.cidr_block} back through an active peering")

    for s in lb_subnets:
        for port in ports:
            why = (_nacl_allows(nb, s, True, ip, (port, port))
                   or _nacl_allows(nb, s, False, ip, EPHEMERAL))
            if why:
                return f"{why} (ALB subnet {s.id})"
    if t_subnet is not None:
        for s in lb_subnets:
            src = ipaddress.ip_address(_net(s.cidr_block).network_address + 1)
            for port in ports:
                why = (_nacl_allows(tb, t_subnet, False, src, (port, port))
                       or _nacl_allows(tb, t_subnet, True, src, EPHEMERAL))
                if why:
                    return f"{why} (target subnet {t_subnet.id})"
    return None
