//! Reads what the program's services share, and what exists on it now, into the uses of
//! [`super::limits`]: read-only (Describe/Get/List), in the accounts the services name.
//!
//! Counted once where services share a thing: several services into one target VPC share
//! its peering and its routes; services on one ALB each add a target group (kept until
//! finalize) but only a probe rule while they are in flight (the peak of the waves).

use std::collections::{BTreeMap, BTreeSet};

use super::Wave;
use super::limits::{
    ACTIVE_PEERINGS, OUTSTANDING_REQUESTS, PENDING_SNAPSHOTS, ROUTES, RULES, TARGET_GROUPS, Use,
    VCPUS,
};
use crate::accounts::{AccountClients, Accounts};
use crate::aws::peerings::{other_side, peerings_of, pending_requests};
use crate::aws::quotas::{elb_limit, quota_value};
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;
use crate::state::{Facts, NetworkSide, TargetSide};

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

/// One service whose vended target is not there yet: counted on what is known of it
/// (its ALB, from its listener's ARN; the ALB's VPC and route tables, where a ready
/// service's Preflight read them; its source instances' volumes), its target side as
/// one new VPC with one CIDR.
pub struct Waiting<'a> {
    pub name: &'a str,
    pub plan: &'a Plan,
}

/// A service as the shared limits count it.
struct Counted<'a> {
    name: &'a str,
    plan: &'a Plan,
    /// Its ALB's ARN.
    lb: String,
    /// None for a waiting service no ready one shares an ALB with.
    network: Option<&'a NetworkSide>,
    /// None while its vended target is not there yet.
    target: Option<&'a TargetSide>,
    /// The EBS volumes its images snapshot at once (one per instance where not read yet).
    volumes: u64,
}

/// Every shared-limit use of the program: peerings per VPC (network and target side),
/// outstanding requests per requester account, routes per route table (both sides),
/// target groups and rules per ALB, pending snapshots per source account, and vCPUs
/// per target account receiving several services. A waiting service's peering and
/// routes are counted where a ready one shares its ALB (whose Preflight read the ALB's
/// VPC). Errors: AccessDenied, ResourceFailed from a read.
pub async fn uses(
    accounts: &Accounts,
    ready: &[Resolved<'_>],
    waiting: &[Waiting<'_>],
    waves: &[Wave],
) -> Result<Vec<Use>, StepError> {
    let mut services: Vec<Counted> = ready
        .iter()
        .map(|s| Counted {
            name: s.name,
            plan: s.plan,
            lb: s.facts.network.load_balancer_arn.clone(),
            network: Some(&s.facts.network),
            target: Some(&s.facts.target),
            volumes: s
                .facts
                .instances
                .iter()
                .map(|i| i.volumes.len() as u64)
                .sum(),
        })
        .collect();
    for w in waiting {
        let lb = load_balancer_of(&w.plan.service.listener_arn);
        let same_alb = ready
            .iter()
            .find(|r| r.facts.network.load_balancer_arn == lb);
        let src = accounts.get(&w.plan.source.account_id).await?;
        services.push(Counted {
            name: w.name,
            plan: w.plan,
            lb,
            network: same_alb.map(|r| &r.facts.network),
            target: None,
            volumes: ebs_volumes(&src, &w.plan.source.instance_ids).await?,
        });
    }
    let mut out = Vec::new();
    let peak = |weight: &dyn Fn(&Counted) -> u64| -> u64 {
        waves
            .iter()
            .map(|w| {
                services
                    .iter()
                    .filter(|s| w.services.iter().any(|n| n == s.name))
                    .map(weight)
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
    };

    // Peerings: per network VPC, the target VPCs not yet peered with it (a waiting
    // service's counts as new).
    let mut networks: BTreeMap<(String, String), Vec<&Counted>> = BTreeMap::new();
    for s in &services {
        if let Some(n) = s.network {
            let key = (s.plan.service.account_id.clone(), n.vpc_id.clone());
            networks.entry(key).or_default().push(s);
        }
    }
    let mut requesting: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    // Per target VPC, the network VPCs that will peer with it anew.
    let mut target_sides: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ((account, vpc), on) in &networks {
        let net = accounts.get(account).await?;
        let existing = peerings_of(&net, vpc, None).await?;
        let peers: BTreeSet<String> = existing.iter().filter_map(|p| other_side(p, vpc)).collect();
        let new_target = |s: &Counted| s.target.is_none_or(|t| !peers.contains(&t.vpc_id));
        let targets: BTreeSet<&str> = on
            .iter()
            .filter(|s| new_target(s))
            .filter_map(|s| s.target.map(|t| t.vpc_id.as_str()))
            .collect();
        let vended = on.iter().filter(|s| s.target.is_none()).count();
        out.push(Use {
            limit: ACTIVE_PEERINGS,
            on: format!("VPC {vpc} in {account}"),
            now: existing.len() as u64,
            adding: (targets.len() + vended) as u64,
            max: quota_value(&net, "vpc", "L-7E9ECCDB").await? as u64,
            why: "one per target VPC not peered with it yet, a vended one counted as new; active and pending counted".into(),
        });
        let entry = requesting.entry(account.clone()).or_default();
        entry.extend(on.iter().filter(|s| new_target(s)).map(|s| s.name));
        for s in on.iter() {
            if let Some(t) = s.target.filter(|t| targets.contains(t.vpc_id.as_str())) {
                let key = (s.plan.target.account_id.clone(), t.vpc_id.clone());
                target_sides.entry(key).or_default().insert(vpc.clone());
            }
        }
    }
    for ((target_account, target_vpc), peers) in &target_sides {
        let tgt = accounts.get(target_account).await?;
        out.push(Use {
            limit: ACTIVE_PEERINGS,
            on: format!("VPC {target_vpc} in {target_account}"),
            now: peerings_of(&tgt, target_vpc, None).await?.len() as u64,
            adding: peers.len() as u64,
            max: quota_value(&tgt, "vpc", "L-7E9ECCDB").await? as u64,
            why: format!(
                "its peering with {}",
                peers.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    // Outstanding requests: every request the account has pending, from any of its VPCs.
    for (account, names) in &requesting {
        let net = accounts.get(account).await?;
        out.push(Use {
            limit: OUTSTANDING_REQUESTS,
            on: format!("account {account}"),
            now: pending_requests(&net, account).await? as u64,
            adding: peak(&|s: &Counted| u64::from(names.contains(&s.name))),
            max: quota_value(&net, "vpc", "L-DC9F7029").await? as u64,
            why: "one request per service in flight that peers anew, until its accept".into(),
        });
    }

    // Routes: each table gets one route per peer CIDR it does not route yet.
    let mut tables: BTreeMap<(String, String), (BTreeSet<String>, u64)> = BTreeMap::new();
    for s in &services {
        let Some(network) = s.network else { continue };
        for t in &network.route_table_ids {
            let key = (s.plan.service.account_id.clone(), t.clone());
            let entry = tables.entry(key).or_default();
            match s.target {
                Some(target) => entry.0.extend(target.cidrs.iter().cloned()),
                None => entry.1 += 1,
            }
        }
        for t in s
            .target
            .map(|t| t.route_table_ids.as_slice())
            .unwrap_or_default()
        {
            let key = (s.plan.target.account_id.clone(), t.clone());
            let entry = tables.entry(key).or_default();
            entry.0.extend(network.cidrs.iter().cloned());
        }
    }
    for ((account, table), (cidrs, vended)) in &tables {
        let c = accounts.get(account).await?;
        let routes = route_destinations(&c, table).await?;
        out.push(Use {
            limit: ROUTES,
            on: format!("route table {table} in {account}"),
            now: routes.len() as u64,
            adding: cidrs.iter().filter(|d| !routes.contains(*d)).count() as u64 + vended,
            max: quota_value(&c, "vpc", "L-93826ACB").await? as u64,
            why: "one per peer VPC CIDR it does not route yet, one per vended VPC".into(),
        });
    }

    // Target groups and rules per ALB.
    let mut albs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for s in &services {
        let key = (s.plan.service.account_id.clone(), s.lb.clone());
        *albs.entry(key).or_default() += 1;
    }
    for ((account, lb), count) in &albs {
        let net = accounts.get(account).await?;
        out.push(Use {
            limit: TARGET_GROUPS,
            on: format!("load balancer {lb}"),
            now: target_groups_of(&net, lb).await?,
            adding: *count,
            max: elb_limit(&net, TARGET_GROUPS_LIMIT)
                .await?
                .unwrap_or(DEFAULT_TARGET_GROUPS_PER_ALB),
            why: "one new target group per service; the old ones stay until finalize".into(),
        });
        let (rules, max_rules) = crate::steps::rules_in_use(&net, lb, "").await?;
        out.push(Use {
            limit: RULES,
            on: format!("load balancer {lb}"),
            now: rules as u64,
            adding: peak(&|s: &Counted| u64::from(s.lb == *lb)),
            max: max_rules.map_or(DEFAULT_RULES_PER_ALB, |m| m as u64),
            why: "one probe rule per service in flight, at the peak of the waves".into(),
        });
    }

    // Pending snapshots per source account: every volume of a service's instances is
    // snapshotted at once by its images.
    let sources: BTreeSet<&str> = services
        .iter()
        .map(|s| s.plan.source.account_id.as_str())
        .collect();
    for account in sources {
        let src = accounts.get(account).await?;
        out.push(Use {
            limit: PENDING_SNAPSHOTS,
            on: format!("account {account}"),
            now: crate::aws::ec2::pending_snapshots(&src).await? as u64,
            adding: peak(&|s: &Counted| {
                if s.plan.source.account_id == account {
                    s.volumes
                } else {
                    0
                }
            }),
            max: quota_value(&src, "ebs", "L-94D7AB7D").await? as u64,
            why: "one per EBS volume of the instances imaged at once, at the peak of the waves"
                .into(),
        });
    }

    // vCPUs of a target account receiving several services (Preflight checks one alone).
    let mut launches: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut receiving: BTreeMap<String, usize> = BTreeMap::new();
    for s in ready {
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

/// How many target groups load balancer `lb` uses now.
async fn target_groups_of(net: &AccountClients, lb: &str) -> Result<u64, StepError> {
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
    Ok(groups.len() as u64)
}

/// The ARN of the load balancer a listener ARN belongs to
/// (`…:listener/app/NAME/LB-ID/LISTENER-ID` → `…:loadbalancer/app/NAME/LB-ID`).
fn load_balancer_of(listener_arn: &str) -> String {
    let lb = listener_arn.replacen(":listener/", ":loadbalancer/", 1);
    lb.rsplit_once('/')
        .map_or(lb.clone(), |(head, _)| head.to_string())
}

/// How many EBS volumes `instances` have (what their images snapshot at once).
async fn ebs_volumes(src: &AccountClients, instances: &[String]) -> Result<u64, StepError> {
    let reservations = src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(instances.to_vec()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)?;
    Ok(reservations
        .iter()
        .flat_map(|r| r.instances())
        .flat_map(|i| i.block_device_mappings())
        .filter(|m| m.ebs().is_some())
        .count() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listener_arn_names_its_load_balancer() {
        assert_eq!(
            super::load_balancer_of(
                "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/app/main/50dc6c495c0c9188/f2f7dc8efc522ab2"
            ),
            "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/main/50dc6c495c0c9188"
        );
    }
}
