//! How each kind is listed: one describe call per kind in the account that holds it,
//! filtered on the migration tag and checked again on the answer (a filter an emulator or
//! a proxy ignores must not widen what cleanup removes).

use std::sync::Arc;

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, has_tag, migration_filter, tagged_peerings};
use crate::aws::elb::find_target_group;
use crate::aws::probe::find_probe_rule;
use crate::aws::ram::find_share;
use crate::error::{SdkResultExt, StepError};
use crate::names::{self, MIGRATION_TAG};

use super::{CreatedResource, ResourceKind};

/// The migration and the clients of its three accounts.
pub(super) struct Scope<'a> {
    pub migration_id: &'a str,
    pub listener_arn: &'a str,
    pub net: Arc<AccountClients>,
    pub src: Arc<AccountClients>,
    pub tgt: Arc<AccountClients>,
}

fn created(kind: ResourceKind, id: &str, c: &AccountClients) -> CreatedResource {
    CreatedResource {
        kind,
        id: id.into(),
        account_id: c.account_id.clone(),
    }
}

/// Every resource of `kind` this migration created (terminated instances are gone
/// already and not listed).
pub(super) async fn list(
    kind: ResourceKind,
    s: &Scope<'_>,
) -> Result<Vec<CreatedResource>, StepError> {
    let id = s.migration_id;
    let one = |found: Option<String>, c: &AccountClients| {
        found
            .map(|x| vec![created(kind, &x, c)])
            .unwrap_or_default()
    };
    Ok(match kind {
        ResourceKind::ListenerRule => one(
            find_probe_rule(&s.net, s.listener_arn, id)
                .await?
                .map(|r| r.rule_arn),
            &s.net,
        ),
        ResourceKind::TargetGroup => one(
            find_target_group(&s.net, &names::target_group(id), id).await?,
            &s.net,
        ),
        ResourceKind::RamResourceShare => one(
            find_share(&s.net, &names::resource_share(id))
                .await?
                .and_then(|x| x.resource_share_arn().map(str::to_string)),
            &s.net,
        ),
        ResourceKind::VpcPeeringConnection => tagged_peerings(&s.net, id)
            .await?
            .iter()
            .map(|p| created(kind, p, &s.net))
            .collect(),
        ResourceKind::Route => {
            let mut routes = Vec::new();
            for pcx in tagged_peerings(&s.net, id).await? {
                for c in [&s.net, &s.tgt] {
                    routes.extend(routes_via(c, &pcx).await?);
                }
            }
            routes
        }
        ResourceKind::Image => {
            let out = s
                .src
                .ec2
                .describe_images()
                .owners("self")
                .filters(migration_filter(id))
                .send()
                .await
                .named("ec2:DescribeImages", &s.src.role_arn)?;
            out.images()
                .iter()
                .filter(|i| has_tag(i.tags(), MIGRATION_TAG, id))
                .filter_map(|i| i.image_id())
                .map(|x| created(kind, x, &s.src))
                .collect()
        }
        ResourceKind::Snapshot => {
            let out = s
                .src
                .ec2
                .describe_snapshots()
                .owner_ids("self")
                .filters(migration_filter(id))
                .send()
                .await
                .named("ec2:DescribeSnapshots", &s.src.role_arn)?;
            out.snapshots()
                .iter()
                .filter(|x| has_tag(x.tags(), MIGRATION_TAG, id))
                .filter_map(|x| x.snapshot_id())
                .map(|x| created(kind, x, &s.src))
                .collect()
        }
        ResourceKind::SecurityGroup => {
            let out = s
                .tgt
                .ec2
                .describe_security_groups()
                .filters(migration_filter(id))
                .send()
                .await
                .named("ec2:DescribeSecurityGroups", &s.tgt.role_arn)?;
            out.security_groups()
                .iter()
                .filter(|g| has_tag(g.tags(), MIGRATION_TAG, id))
                .filter_map(|g| g.group_id())
                .map(|x| created(kind, x, &s.tgt))
                .collect()
        }
        ResourceKind::Instance => {
            let out = s
                .tgt
                .ec2
                .describe_instances()
                .filters(migration_filter(id))
                .send()
                .await
                .named("ec2:DescribeInstances", &s.tgt.role_arn)?;
            out.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| has_tag(i.tags(), MIGRATION_TAG, id))
                .filter(|i| {
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated")
                })
                .filter_map(|i| i.instance_id())
                .map(|x| created(kind, x, &s.tgt))
                .collect()
        }
    })
}

/// The routes in `c`'s account whose target is the peering `pcx`.
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
                routes.push(created(ResourceKind::Route, &format!("{t}:{cidr}"), c));
            }
        }
    }
    Ok(routes)
}
