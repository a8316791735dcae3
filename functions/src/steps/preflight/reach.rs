//! Preflight, reaching the new targets: the ALB's egress to the target subnets on every
//! port it uses, and target addresses the ALB accepts as IP targets of another VPC.

use aws_sdk_ec2::types::SecurityGroup;

use crate::aws::ec2::cidr_contains;
use crate::error::StepError;
use crate::state::SubnetFacts;

use super::check::Verdict;

/// The new instances' addresses are IP targets outside the target group's VPC: AWS
/// accepts those only from 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) and
/// 100.64.0.0/10 (RFC 6598)
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html>).
pub(super) fn registrable_addresses(subnets: &[SubnetFacts]) -> Verdict {
    for s in subnets {
        if !IP_TARGET_RANGES.iter().any(|r| cidr_contains(r, &s.cidr)) {
            return Err(StepError::invalid_plan(format!(
                "target subnet {} ({}) is outside the ranges an ALB accepts for IP targets in another VPC ({}): RegisterTargets would refuse the new instances' addresses; use subnets of a private range",
                s.subnet_id,
                s.cidr,
                IP_TARGET_RANGES.join(", ")
            )));
        }
    }
    Ok(format!(
        "the target subnets' addresses can be registered as IP targets ({})",
        subnets
            .iter()
            .map(|s| s.cidr.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The ALB sends requests and health checks to the new addresses: its security groups
/// must allow that egress on every port it uses (traffic and health check), to the whole of
/// each target subnet. carveout refuses rather than adding a rule: the ALB's groups are
/// shared by every service behind it and are not the migration's to change (a rule there
/// would outlive the migration and need a grant on a resource carveout did not create).
/// Rules naming a prefix list or a group are not read as covering the subnets.
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-update-security-groups.html>)
pub(super) fn alb_egress(
    groups: &[SecurityGroup],
    subnets: &[SubnetFacts],
    ports: &[i32],
) -> Verdict {
    let covers = |g: &SecurityGroup, cidr: &str, port: i32| {
        g.ip_permissions_egress().iter().any(|p| {
            let proto = p.ip_protocol().unwrap_or_default();
            let port_ok = proto == "-1"
                || (matches!(proto, "tcp" | "6")
                    && p.from_port().is_some_and(|f| f <= port)
                    && p.to_port().is_some_and(|t| t >= port));
            port_ok
                && p.ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip())
                    .any(|r| cidr_contains(r, cidr))
        })
    };
    for s in subnets {
        for &port in ports {
            if !groups.iter().any(|g| covers(g, &s.cidr, port)) {
                return Err(StepError::invalid_plan(format!(
                    "the ALB's security groups ({}) allow no egress to target subnet {} ({}) on tcp {port}: the load balancer could not reach the new instances; add an outbound rule for tcp {port} to {} to one of them (carveout does not change the ALB's groups: every service behind it shares them)",
                    groups
                        .iter()
                        .filter_map(|g| g.group_id())
                        .collect::<Vec<_>>()
                        .join(", "),
                    s.subnet_id,
                    s.cidr,
                    s.cidr
                )));
            }
        }
    }
    Ok(format!(
        "the ALB's security groups allow egress to the target subnets on tcp {}",
        ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The ranges AWS accepts for IP targets outside the target group's VPC.
pub(super) const IP_TARGET_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_albs_egress_must_reach_every_target_subnet_on_every_port() {
        use aws_sdk_ec2::types::{IpPermission, IpRange};
        let subnet = SubnetFacts {
            subnet_id: "subnet-1".into(),
            availability_zone: "ap-northeast-1a".into(),
            cidr: "10.1.10.0/24".into(),
        };
        let group = |proto: &str, ports: (i32, i32), cidr: &str| {
            SecurityGroup::builder()
                .group_id("sg-alb")
                .ip_permissions_egress(
                    IpPermission::builder()
                        .ip_protocol(proto)
                        .from_port(ports.0)
                        .to_port(ports.1)
                        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                        .build(),
                )
                .build()
        };
        let all = [group("-1", (0, 0), "0.0.0.0/0")];
        assert!(alb_egress(&all, std::slice::from_ref(&subnet), &[80, 8080]).is_ok());
        let own_vpc_only = [group("tcp", (0, 65535), "10.0.0.0/16")];
        let err = alb_egress(&own_vpc_only, std::slice::from_ref(&subnet), &[80]).unwrap_err();
        assert!(err.to_string().contains("sg-alb"), "{err}");
        assert!(err.to_string().contains("tcp 80 to 10.1.10.0/24"), "{err}");
        let traffic_only = [group("tcp", (80, 80), "10.1.0.0/16")];
        let err = alb_egress(&traffic_only, &[subnet], &[80, 8080]).unwrap_err();
        assert!(err.to_string().contains("on tcp 8080"), "{err}");
    }

    #[test]
    fn public_target_subnets_cannot_hold_ip_targets_of_another_vpc() {
        let subnet = |cidr: &str| SubnetFacts {
            subnet_id: "subnet-1".into(),
            availability_zone: "ap-northeast-1a".into(),
            cidr: cidr.into(),
        };
        assert!(registrable_addresses(&[subnet("10.1.1.0/24"), subnet("100.64.3.0/24")]).is_ok());
        let err = registrable_addresses(&[subnet("11.1.1.0/24")]).unwrap_err();
        assert!(err.to_string().contains("11.1.1.0/24"), "{err}");
    }
}
