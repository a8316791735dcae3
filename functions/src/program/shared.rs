//! Reads what the program's services share, and what exists on it now, into the uses of
//! [`super::limits`]: read-only (Describe/Get/List), in the accounts the services name.
//!
//! Counted once where services share a thing: several services into one target VPC share
//! its peering and its routes; services on one ALB each add a target group (kept until
//! finalize) but only a probe rule while they are in flight (the peak of the waves).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::VpcPeeringConnection;

use super::limits::{
    ACTIVE_PEERINGS, OUTSTANDING_REQUESTS, ROUTES, RULES, TARGET_GROUPS, Use, VCPUS,
};
use super::{PENDING_VPC, Wave};
use crate::accounts::{AccountClients, Accounts};
use crate::aws::ec2::{PEERING_TERMINAL, filter, peering_status};
use crate::aws::quotas::quota_value;
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;
use crate::state::Facts;

/// AWS's defaults where a limit is not reported (the emulator reports no
/// `target-groups-per-application-load-balancer`).
const DEFAULT_TARGET_GROUPS_PER_ALB: u64 = 100;
const DEFAULT_RULES_PER_ALB: u64 = 100;
const TARGET_GROUPS_LIMIT: &str = "target-groups-per-application-load-balancer";

/// One service as Preflight resolved it.
pub struct Resolved<'a> {
    pub name: &'a str,
    pub plan: &'a Plan,
    pub facts: &'a Facts,
}

/// Every shared-limit use of the program: peerings per VPC (network and target side),
/// outstanding requests per requester account, routes per route table (both sides),
/// target groups and rules per ALB, and vCPUs per target account receiving several
/// services. Errors: AccessDenied, ResourceFailed from a read.
pub async fn uses(
    accounts: &Accounts,
    services: &[Resolved<'_>],
    waves: &[Wave],
) -> Result<Vec<Use>, StepError> {
    let mut out = Vec::new();
    let peak = |pick: &dyn Fn(&Resolved) -> bool| -> u64 {
        waves
            .iter()
            .map(|w| {
                services
                    .iter()
                    .filter(|s| w.services.iter().any(|n| n == s.name) && pick(s))
                    .count() as u64
            })
            .max()
            .unwrap_or(0)
    };
    let resolved: Vec<&Resolved> = services
        .iter()
        .filter(|s| s.facts.target.vpc_id != PENDING_VPC)
        .collect();

    // Peerings: per network VPC, the target VPCs not yet peered with it.
    let mut networks: BTreeMap<(String, String), Vec<&Resolved>> = BTreeMap::new();
    for s in &resolved {
        let key = (
            s.plan.service.account_id.clone(),
            s.facts.network.vpc_id.clone(),
        );
        networks.entry(key).or_default().push(s);
    }
    for ((account, vpc), on) in &networks {
        let net = accounts.get(account).await?;
        let existing = peerings_of(&net, vpc).await?;
        let peers: BTreeSet<String> = existing.iter().filter_map(|p| other_side(p, vpc)).collect();
        let targets: BTreeSet<&str> = on.iter().map(|s| s.facts.target.vpc_id.as_str()).collect();
        let new: Vec<&str> = targets
            .into_iter()
            .filter(|t| !peers.contains(*t))
            .collect();
        out.push(Use {
            limit: ACTIVE_PEERINGS,
            on: format!("VPC {vpc} in {account}"),
            now: existing.len() as u64,
            adding: new.len() as u64,
            max: quota_value(&net, "vpc", "L-7E9ECCDB").await? as u64,
            why: "one per target VPC not peered with it yet; active and pending counted".into(),
        });
        let pending = existing
            .iter()
            .filter(|p| {
                peering_status(p) == "pending-acceptance"
                    && p.requester_vpc_info().and_then(|v| v.owner_id()) == Some(account)
            })
            .count() as u64;
        let at_once = peak(&|s: &Resolved| {
            s.plan.service.account_id == *account && new.contains(&s.facts.target.vpc_id.as_str())
        });
        out.push(Use {
            limit: OUTSTANDING_REQUESTS,
            on: format!("account {account}"),
            now: pending,
            adding: at_once,
            max: quota_value(&net, "vpc", "L-DC9F7029").await? as u64,
            why: "one request per service in flight until its accept".into(),
        });
        for (target_vpc, target_account) in on
            .iter()
            .map(|s| {
                (
                    s.facts.target.vpc_id.as_str(),
                    s.plan.target.account_id.as_str(),
                )
            })
            .collect::<BTreeSet<_>>()
        {
            let tgt = accounts.get(target_account).await?;
            let there = peerings_of(&tgt, target_vpc).await?;
            out.push(Use {
                limit: ACTIVE_PEERINGS,
                on: format!("VPC {target_vpc} in {target_account}"),
                now: there.len() as u64,
                adding: u64::from(new.contains(&target_vpc)),
                max: quota_value(&tgt, "vpc", "L-7E9ECCDB").await? as u64,
                why: format!("its peering with {vpc}"),
            });
        }
    }

    // Routes: each table gets one route per peer CIDR it does not route yet.
    let mut tables: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for s in &resolved {
        for t in &s.facts.network.route_table_ids {
            let key = (s.plan.service.account_id.clone(), t.clone());
            tables
                .entry(key)
                .or_default()
                .extend(s.facts.target.cidrs.iter().cloned());
        }
        for t in &s.facts.target.route_table_ids {
            let key = (s.plan.target.account_id.clone(), t.clone());
            tables
                .entry(key)
                .or_default()
                .extend(s.facts.network.cidrs.iter().cloned());
        }
    }
    for ((account, table), cidrs) in &tables {
        let c = accounts.get(account).await?;
        let routes = route_destinations(&c, table).await?;
        out.push(Use {
            limit: ROUTES,
            on: format!("route table {table} in {account}"),
            now: routes.len() as u64,
            adding: cidrs.iter().filter(|d| !routes.contains(*d)).count() as u64,
            max: quota_value(&c, "vpc", "L-93826ACB").await? as u64,
            why: "one per peer VPC CIDR it does not route yet".into(),
        });
    }

    // Target groups and rules per ALB.
    let mut albs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in services {
        let key = (
            s.plan.service.account_id.clone(),
            s.facts.network.load_balancer_arn.clone(),
        );
        *albs.entry(key).or_default() += 1;
    }
    for ((account, lb), count) in &albs {
        let net = accounts.get(account).await?;
        let (groups, max_groups) = target_groups_of(&net, lb).await?;
        out.push(Use {
            limit: TARGET_GROUPS,
            on: format!("load balancer {lb}"),
            now: groups,
            adding: *count,
            max: max_groups,
            why: "one new target group per service; the old ones stay until finalize".into(),
        });
        let (rules, max_rules) = crate::steps::rules_in_use(&net, lb, "").await?;
        out.push(Use {
            limit: RULES,
            on: format!("load balancer {lb}"),
            now: rules as u64,
            adding: peak(&|s: &Resolved| s.facts.network.load_balancer_arn == *lb),
            max: max_rules.map_or(DEFAULT_RULES_PER_ALB, |m| m as u64),
            why: "one probe rule per service in flight, at the peak of the waves".into(),
        });
    }

    // vCPUs of a target account receiving several services (Preflight checks one alone).
    let mut launches: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut receiving: BTreeMap<String, usize> = BTreeMap::new();
    for s in &resolved {
        *receiving
            .entry(s.plan.target.account_id.clone())
            .or_default() += 1;
        for i in &s.facts.instances {
            let t = s
                .plan
                .options
                .instance_type
                .clone()
                .unwrap_or_else(|| i.instance_type.clone());
            *launches
                .entry(s.plan.target.account_id.clone())
                .or_default()
                .entry(t)
                .or_default() += 1;
        }
    }
    for (account, types) in &launches {
        if receiving[account] < 2 {
            continue;
        }
        let tgt = accounts.get(account).await?;
        for (name, code, quota, in_use, planned) in crate::steps::vcpu_use(&tgt, types).await? {
            out.push(Use {
                limit: VCPUS,
                on: format!("account {account}, {name} ({code})"),
                now: in_use as u64,
                adding: planned as u64,
                max: quota as u64,
                why: format!("the new instances of its {} services", receiving[account]),
            });
        }
    }
    Ok(out)
}

/// Services whose target VPCs differ but whose CIDRs overlap, on one network VPC: its route
/// tables can send a CIDR to one peering only, so the second's routes would conflict
/// after the first moved. One problem per pair, naming both.
pub fn overlapping_targets(services: &[Resolved<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, a) in services.iter().enumerate() {
        for b in &services[i + 1..] {
            let (ta, tb) = (&a.facts.target, &b.facts.target);
            if a.facts.network.vpc_id != b.facts.network.vpc_id || ta.vpc_id == tb.vpc_id {
                continue;
            }
            for ca in &ta.cidrs {
                if let Some(cb) = tb
                    .cidrs
                    .iter()
                    .find(|cb| crate::aws::ec2::cidrs_overlap(ca, cb))
                {
                    problems.push(format!(
                        "services {} and {} move into VPCs whose CIDRs overlap ({} {ca}, {} {cb}): the ALB's VPC {} can route a CIDR to one peering only; give one a distinct CIDR",
                        a.name, b.name, ta.vpc_id, tb.vpc_id, a.facts.network.vpc_id
                    ));
                }
            }
        }
    }
    problems
}

/// The peerings `vpc` is part of (requester or accepter), not yet ended. Reads every page.
async fn peerings_of(
    c: &AccountClients,
    vpc: &str,
) -> Result<Vec<VpcPeeringConnection>, StepError> {
    let mut found: Vec<VpcPeeringConnection> = Vec::new();
    for side in ["requester-vpc-info.vpc-id", "accepter-vpc-info.vpc-id"] {
        let listed = c
            .ec2
            .describe_vpc_peering_connections()
            .filters(filter(side, &[vpc]))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeVpcPeeringConnections", &c.role_arn)?;
        for p in listed {
            let involved = other_side(&p, vpc).is_some();
            let fresh = !found
                .iter()
                .any(|f| f.vpc_peering_connection_id() == p.vpc_peering_connection_id());
            if involved && fresh && !PEERING_TERMINAL.contains(&peering_status(&p).as_str()) {
                found.push(p);
            }
        }
    }
    Ok(found)
}

/// The VPC at the other end of `p` from `vpc`, if `vpc` is one of its ends.
fn other_side(p: &VpcPeeringConnection, vpc: &str) -> Option<String> {
    let requester = p.requester_vpc_info().and_then(|v| v.vpc_id());
    let accepter = p.accepter_vpc_info().and_then(|v| v.vpc_id());
    match (requester, accepter) {
        (Some(r), Some(a)) if r == vpc => Some(a.to_string()),
        (Some(r), Some(a)) if a == vpc => Some(r.to_string()),
        _ => None,
    }
}

/// The destinations (IPv4, IPv6 and prefix lists) route table `table` has routes for.
async fn route_destinations(
    c: &AccountClients,
    table: &str,
) -> Result<BTreeSet<String>, StepError> {
    let tables = c
        .ec2
        .describe_route_tables()
        .route_table_ids(table)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeRouteTables", &c.role_arn)?;
    Ok(tables
        .iter()
        .flat_map(|t| t.routes())
        .filter_map(|r| {
            r.destination_cidr_block()
                .or(r.destination_ipv6_cidr_block())
                .or(r.destination_prefix_list_id())
                .map(str::to_string)
        })
        .collect())
}

/// The target groups load balancer `lb` uses now, and its quota
/// (`target-groups-per-application-load-balancer`, 100 where not reported).
async fn target_groups_of(net: &AccountClients, lb: &str) -> Result<(u64, u64), StepError> {
    let groups = net
        .elb
        .describe_target_groups()
        .load_balancer_arn(lb)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn)?;
    let limits = net
        .elb
        .describe_account_limits()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeAccountLimits", &net.role_arn)?;
    let max = limits
        .iter()
        .find(|l| l.name() == Some(TARGET_GROUPS_LIMIT))
        .and_then(|l| l.max()?.parse::<u64>().ok())
        .unwrap_or(DEFAULT_TARGET_GROUPS_PER_ALB);
    Ok((groups.len() as u64, max))
}
