//! `carveout cleanup`: removes what a migration created, found by its tag, never the source
//! instances or the original target group. A dry run unless told to apply.
//!
//! While the service forwards to the migration's target group (a finished migration),
//! everything that carries its traffic is kept (peering, routes, RAM share, target group,
//! instances, their security group); only the leftovers go: the probe rule, the images
//! and their snapshots.

use std::time::Duration;

use serde::Serialize;

use crate::accounts::{AccountClients, Accounts};
use crate::aws::ec2::filter;
use crate::aws::elb::{actions_from_sdk, current_actions};
use crate::error::{SdkResultExt, StepError};
use crate::inventory::{CreatedResource, RamShares, inventory};
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

/// Removal order: what depends on something comes before it.
const ORDER: [&str; 9] = [
    "listener-rule",
    "target-group",
    "instance",
    "security-group",
    "ram-resource-share",
    "image",
    "snapshot",
    "route",
    "vpc-peering-connection",
];
/// What a finished migration's traffic needs.
const LIVE: [&str; 6] = [
    "target-group",
    "instance",
    "security-group",
    "ram-resource-share",
    "route",
    "vpc-peering-connection",
];

pub async fn survey(accounts: &Accounts, plan: &Plan) -> Result<Survey, StepError> {
    let mut found = inventory(accounts, plan, RamShares::Include).await?;
    let net = accounts.get(&plan.service.account_id).await?;
    for pcx in found
        .iter()
        .filter(|r| r.kind == "vpc-peering-connection")
        .cloned()
        .collect::<Vec<_>>()
    {
        for account in [&plan.service.account_id, &plan.target.account_id] {
            let c = accounts.get(account).await?;
            found.extend(routes_via(&c, &pcx.id).await?);
        }
    }
    let ours = found
        .iter()
        .find(|r| r.kind == "target-group")
        .map(|r| r.id.clone());
    let now = actions_from_sdk(
        &current_actions(
            &net,
            &plan.service.listener_arn,
            plan.service.rule_arn.as_deref(),
        )
        .await?,
    )
    .unwrap_or_default();
    let live = ours
        .as_deref()
        .is_some_and(|tg| now.iter().any(|a| a.forwarded_groups().contains(&tg)));
    found.sort_by_key(|r| {
        ORDER
            .iter()
            .position(|k| *k == r.kind)
            .unwrap_or(ORDER.len())
    });
    let (keep, remove): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|r| live && LIVE.contains(&r.kind.as_str()));
    Ok(Survey {
        live,
        remove,
        keep: keep
            .into_iter()
            .map(|r| {
                (
                    r,
                    "carries the service's traffic (the action forwards to the new target group)"
                        .to_string(),
                )
            })
            .collect(),
    })
}

async fn routes_via(c: &AccountClients, pcx: &str) -> Result<Vec<CreatedResource>, StepError> {
    let out = c
        .ec2
        .describe_route_tables()
        .filters(filter("route.vpc-peering-connection-id", &[pcx]))
        .send()
        .await
        .named("ec2:DescribeRouteTables", &c.role_arn)?;
    let mut routes = Vec::new();
    for table in out.route_tables() {
        for route in table
            .routes()
            .iter()
            .filter(|r| r.vpc_peering_connection_id() == Some(pcx))
        {
            if let (Some(t), Some(cidr)) = (table.route_table_id(), route.destination_cidr_block())
            {
                routes.push(CreatedResource {
                    kind: "route".into(),
                    id: format!("{t}:{cidr}"),
                    account_id: c.account_id.clone(),
                });
            }
        }
    }
    Ok(routes)
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

/// Gone already counts as removed: cleanup can be run again after a partial run.
fn gone(f: &crate::error::AwsFailure) -> bool {
    f.code.as_deref().is_some_and(|c| {
        c.ends_with(".NotFound") || c.ends_with("NotFound") || c.ends_with("NotFoundException")
    }) || f.is_any(&["UnknownResourceException", "InvalidAMIID.Unavailable"])
}

async fn remove(c: &AccountClients, r: &CreatedResource) -> Result<(), StepError> {
    let who = &c.role_arn;
    let result = match r.kind.as_str() {
        "listener-rule" => c
            .elb
            .delete_rule()
            .rule_arn(&r.id)
            .send()
            .await
            .named("elasticloadbalancing:DeleteRule", who)
            .map(drop),
        "target-group" => c
            .elb
            .delete_target_group()
            .target_group_arn(&r.id)
            .send()
            .await
            .named("elasticloadbalancing:DeleteTargetGroup", who)
            .map(drop),
        "instance" => {
            c.ec2
                .terminate_instances()
                .instance_ids(&r.id)
                .send()
                .await
                .named("ec2:TerminateInstances", who)?;
            wait_terminated(c, &r.id).await
        }
        "security-group" => delete_group(c, &r.id).await,
        "ram-resource-share" => c
            .ram
            .delete_resource_share()
            .resource_share_arn(&r.id)
            .send()
            .await
            .named("ram:DeleteResourceShare", who)
            .map(drop),
        "image" => c
            .ec2
            .deregister_image()
            .image_id(&r.id)
            .send()
            .await
            .named("ec2:DeregisterImage", who)
            .map(drop),
        "snapshot" => c
            .ec2
            .delete_snapshot()
            .snapshot_id(&r.id)
            .send()
            .await
            .named("ec2:DeleteSnapshot", who)
            .map(drop),
        "route" => {
            let (table, cidr) = r.id.split_once(':').unwrap_or_default();
            c.ec2
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .named("ec2:DeleteRoute", who)
                .map(drop)
        }
        "vpc-peering-connection" => c
            .ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(&r.id)
            .send()
            .await
            .named("ec2:DeleteVpcPeeringConnection", who)
            .map(drop),
        other => {
            return Err(StepError::ResourceFailed(format!(
                "cleanup does not know how to remove a {other}"
            )));
        }
    };
    match result {
        Err(f) if gone(&f) => Ok(()),
        other => other.map_err(StepError::from),
    }
}

/// A security group can only go once no instance uses it any more.
async fn delete_group(c: &AccountClients, group: &str) -> Result<(), crate::error::AwsFailure> {
    for attempt in 0..60 {
        match c
            .ec2
            .delete_security_group()
            .group_id(group)
            .send()
            .await
            .named("ec2:DeleteSecurityGroup", &c.role_arn)
        {
            Err(f) if f.is("DependencyViolation") && attempt < 59 => {
                tokio::time::sleep(Duration::from_secs(5)).await
            }
            other => return other.map(drop),
        }
    }
    Ok(())
}

async fn wait_terminated(
    c: &AccountClients,
    instance: &str,
) -> Result<(), crate::error::AwsFailure> {
    for _ in 0..120 {
        let out = c
            .ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .named("ec2:DescribeInstances", &c.role_arn)?;
        let state = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
            });
        if matches!(state.as_deref(), Some("terminated") | None) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(())
}
