//! `carveout cleanup`: removes what a migration created, found by its tag, never the source
//! instances or the original target group. A dry run unless told to apply.
//!
//! While the service forwards to the migration's target group (a finished migration),
//! everything that carries its traffic is kept (peering, routes, RAM share, target group,
//! instances, their security group); only the leftovers go: the probe rule, the images
//! and their snapshots.
//!
//! A peering is shared when a later migration into the same target VPC found it and
//! reused it (AWS allows one peering per pair of VPCs), with the hosted zones it found
//! associated: while another migration's instances are in the peer VPC, or another target
//! group of the ALB's VPC has targets in its CIDRs, the peering, its routes and the
//! hosted-zone associations are kept, whatever became of the migration that made them.
//! They stay tagged with its id: its cleanup, run again once the other is gone, removes
//! them.

use serde::Serialize;

use crate::accounts::{AccountClients, Accounts};
use crate::aws::ec2::{address_in, filter};
use crate::aws::elb::{actions_from_sdk, current_actions, target_health};
use crate::error::{SdkResultExt, StepError};
use crate::inventory::{CreatedResource, ResourceKind, inventory, remove};
use crate::names::MIGRATION_TAG;
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Survey {
    /// True while the service's action forwards to this migration's target group.
    pub live: bool,
    /// In removal order.
    pub remove: Vec<CreatedResource>,
    pub keep: Vec<(CreatedResource, String)>,
}

/// What cleanup would remove and keep, from the inventory of every kind and the action
/// the service has now. Only reads.
pub async fn survey(accounts: &Accounts, plan: &Plan) -> Result<Survey, StepError> {
    let found = inventory(accounts, plan, &ResourceKind::ALL).await?;
    let net = accounts.get(&plan.service.account_id).await?;
    let now = actions_from_sdk(
        &current_actions(
            &net,
            &plan.service.listener_arn,
            plan.service.rule_arn.as_deref(),
        )
        .await?,
    )
    .unwrap_or_default();
    let live = found
        .iter()
        .filter(|r| r.kind == ResourceKind::TargetGroup)
        .any(|tg| {
            now.iter()
                .any(|a| a.forwarded_groups().contains(&tg.id.as_str()))
        });
    let shared = match found
        .iter()
        .find(|r| r.kind == ResourceKind::VpcPeeringConnection)
    {
        Some(pcx) if !live => {
            let own: Vec<&str> = found
                .iter()
                .filter(|r| r.kind == ResourceKind::TargetGroup)
                .map(|r| r.id.as_str())
                .collect();
            let tgt = accounts.get(&plan.target.account_id).await?;
            others_across(&net, &tgt, &plan.migration_id, &pcx.id, &own).await?
        }
        _ => None,
    };
    Ok(partition(found, live, shared))
}

/// The decision: while live, what carries traffic is kept; while `shared` (why another
/// migration's traffic crosses the peering), the peering and its routes are kept;
/// everything else goes, in removal order (the inventory's order).
fn partition(found: Vec<CreatedResource>, live: bool, shared: Option<String>) -> Survey {
    let why = "carries the service's traffic (the action forwards to the new target group)";
    let mut survey = Survey {
        live,
        remove: Vec::new(),
        keep: Vec::new(),
    };
    for r in found {
        let peering = matches!(
            r.kind,
            ResourceKind::VpcPeeringConnection
                | ResourceKind::Route
                | ResourceKind::HostedZoneAssociation
        );
        match (&shared, live && r.kind.carries_traffic()) {
            (_, true) => survey.keep.push((r, why.to_string())),
            (Some(other), false) if peering => survey.keep.push((r, other.clone())),
            _ => survey.remove.push(r),
        }
    }
    survey
}

/// Why the peering `pcx` still carries another migration's traffic: an instance of
/// another migration (tagged with its id, not terminated) in the peer VPC, or a target
/// group of the network account (not one of `own`) with targets in the peer VPC's CIDRs,
/// which the ALB reaches across it. None when nothing else uses it. Only reads.
async fn others_across(
    net: &AccountClients,
    tgt: &AccountClients,
    migration_id: &str,
    pcx: &str,
    own: &[&str],
) -> Result<Option<String>, StepError> {
    let peering = net
        .ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(pcx)
        .send()
        .await
        .named("ec2:DescribeVpcPeeringConnections", &net.role_arn)?;
    let Some(p) = peering.vpc_peering_connections().first() else {
        return Ok(None);
    };
    // carveout requests from the ALB's VPC: the accepter is the target VPC.
    let (Some(requester), Some(accepter)) = (p.requester_vpc_info(), p.accepter_vpc_info()) else {
        return Ok(None);
    };
    let peer_vpc = accepter.vpc_id().unwrap_or_default();
    let instances = tgt
        .ec2
        .describe_instances()
        .filters(filter("vpc-id", &[peer_vpc]))
        .filters(filter("tag-key", &[MIGRATION_TAG]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &tgt.role_arn)?;
    let other = instances.iter().flat_map(|r| r.instances()).find_map(|i| {
        let alive = i
            .state()
            .and_then(|s| s.name())
            .is_some_and(|s| !matches!(s.as_str(), "shutting-down" | "terminated"));
        let id = i
            .tags()
            .iter()
            .find(|t| t.key() == Some(MIGRATION_TAG))
            .and_then(|t| t.value())
            .filter(|v| *v != migration_id && alive && i.vpc_id() == Some(peer_vpc));
        id.map(|m| (i.instance_id().unwrap_or_default(), m))
    });
    if let Some((instance, other)) = other {
        return Ok(Some(format!(
            "shared: instance {instance} of migration {other} is in {peer_vpc} across this peering (it reused it)"
        )));
    }
    // IPv4 and IPv6: a target is an address of either.
    let cidrs: Vec<&str> = accepter
        .cidr_block_set()
        .iter()
        .filter_map(|c| c.cidr_block())
        .chain(accepter.cidr_block())
        .chain(
            accepter
                .ipv6_cidr_block_set()
                .iter()
                .filter_map(|c| c.ipv6_cidr_block()),
        )
        .collect();
    let groups = net
        .elb
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn)?;
    for g in groups.iter().filter(|g| {
        g.target_type().is_some_and(|t| t.as_str() == "ip")
            && g.vpc_id() == requester.vpc_id()
            && !own.contains(&g.target_group_arn().unwrap_or_default())
    }) {
        let arn = g.target_group_arn().unwrap_or_default();
        let across = target_health(net, arn)
            .await?
            .into_iter()
            .find(|(ip, ..)| cidrs.iter().any(|c| address_in(c, ip)));
        if let Some((ip, ..)) = across {
            return Ok(Some(format!(
                "shared: target group {arn} has target {ip} in {} across this peering (another migration into the same VPC reused it)",
                accepter.vpc_id().unwrap_or_default()
            )));
        }
    }
    Ok(None)
}

/// Removes `survey.remove` in order; returns one line per resource removed.
pub async fn apply(accounts: &Accounts, survey: &Survey) -> Result<Vec<String>, StepError> {
    let mut done = Vec::new();
    for r in &survey.remove {
        let c = accounts.get(&r.account_id).await?;
        remove(&c, r).await?;
        done.push(format!("removed {} {} ({})", r.kind, r.id, r.account_id));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: ResourceKind) -> CreatedResource {
        CreatedResource {
            kind,
            id: kind.name().into(),
            account_id: "111111111111".into(),
        }
    }

    #[test]
    fn a_live_migration_keeps_what_carries_traffic_and_loses_only_leftovers() {
        let s = partition(ResourceKind::ALL.map(r).to_vec(), true, None);
        let removed: Vec<_> = s.remove.iter().map(|x| x.kind).collect();
        assert_eq!(
            removed,
            [
                ResourceKind::ListenerRule,
                ResourceKind::Image,
                ResourceKind::Snapshot
            ]
        );
        assert_eq!(s.keep.len(), 7);
    }

    #[test]
    fn a_failed_migration_loses_everything_in_removal_order() {
        let s = partition(ResourceKind::ALL.map(r).to_vec(), false, None);
        assert_eq!(
            s.remove.iter().map(|x| x.kind).collect::<Vec<_>>(),
            ResourceKind::ALL
        );
        assert!(s.keep.is_empty());
    }

    #[test]
    fn a_peering_another_migration_routes_through_is_kept_with_its_routes_and_zones() {
        let s = partition(
            ResourceKind::ALL.map(r).to_vec(),
            false,
            Some("shared: …".into()),
        );
        let kept: Vec<_> = s
            .keep
            .iter()
            .map(|(x, why)| (x.kind, why.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                (ResourceKind::HostedZoneAssociation, "shared: …"),
                (ResourceKind::Route, "shared: …"),
                (ResourceKind::VpcPeeringConnection, "shared: …")
            ]
        );
        assert_eq!(s.remove.len(), ResourceKind::ALL.len() - 3);
    }
}
