//! How each kind is listed: one describe call per kind in the account that holds it (every
//! page of it), filtered on the migration tag and checked again on the answer (a filter an
//! emulator or a proxy ignores must not widen what cleanup removes).

use std::sync::Arc;

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, has_tag, migration_filter};
use crate::aws::elb::find_target_group;
use crate::aws::peerings::tagged_peerings;
use crate::aws::probe::find_probe_rule;
use crate::aws::ram::find_share;
use crate::aws::route53::{association_owner, pending, zones_of_vpc};
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
    pub target_vpc_id: &'a str,
    pub region: &'a str,
    /// options.associateHostedZones: zones that may carry this migration's mark.
    pub hosted_zones: &'a [String],
}

fn created(kind: ResourceKind, id: &str, c: &AccountClients) -> CreatedResource {
    CreatedResource {
        kind,
        id: id.into(),
        account_id: c.account_id.clone(),
    }
}

/// Every resource of `kind` this migration created (terminated instances are gone
/// already and not listed), from every page of each listing.
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
        // Zones of the network account associated with the target VPC, and the zones the
        // plan names, whose mark names this migration (confirmed, or pending: marked
        // but maybe not associated). The target VPC's other zones are never touched.
        ResourceKind::HostedZoneAssociation => {
            let mut zones: std::collections::BTreeSet<String> =
                s.hosted_zones.iter().cloned().collect();
            for z in zones_of_vpc(&s.tgt, s.target_vpc_id, s.region).await? {
                if z.owning_account.as_deref() == Some(s.net.account_id.as_str()) {
                    zones.insert(z.id);
                }
            }
            let mut found = Vec::new();
            for zone in zones {
                let mark = association_owner(&s.net, &zone, s.target_vpc_id).await?;
                let at = format!("{zone}:{}", s.target_vpc_id);
                if mark.as_deref() == Some(id) {
                    found.push(created(kind, &at, &s.net));
                } else if mark == Some(pending(id)) {
                    found.push(created(kind, &format!("{at}:pending"), &s.net));
                }
            }
            found
        }
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
            let images = s
                .src
                .ec2
                .describe_images()
                .owners("self")
                .filters(migration_filter(id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("ec2:DescribeImages", &s.src.role_arn)?;
            images
                .iter()
                .filter(|i| has_tag(i.tags(), MIGRATION_TAG, id))
                .filter_map(|i| i.image_id())
                .map(|x| created(kind, x, &s.src))
                .collect()
        }
        ResourceKind::Snapshot => {
            let snapshots = s
                .src
                .ec2
                .describe_snapshots()
                .owner_ids("self")
                .filters(migration_filter(id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("ec2:DescribeSnapshots", &s.src.role_arn)?;
            snapshots
                .iter()
                .filter(|x| has_tag(x.tags(), MIGRATION_TAG, id))
                .filter_map(|x| x.snapshot_id())
                .map(|x| created(kind, x, &s.src))
                .collect()
        }
        ResourceKind::SecurityGroup => {
            let groups = s
                .tgt
                .ec2
                .describe_security_groups()
                .filters(migration_filter(id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("ec2:DescribeSecurityGroups", &s.tgt.role_arn)?;
            groups
                .iter()
                .filter(|g| has_tag(g.tags(), MIGRATION_TAG, id))
                .filter_map(|g| g.group_id())
                .map(|x| created(kind, x, &s.tgt))
                .collect()
        }
        ResourceKind::Instance => {
            let reservations = s
                .tgt
                .ec2
                .describe_instances()
                .filters(migration_filter(id))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("ec2:DescribeInstances", &s.tgt.role_arn)?;
            reservations
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

/// The routes in `c`'s account whose target is the peering `pcx` (every page).
async fn routes_via(c: &AccountClients, pcx: &str) -> Result<Vec<CreatedResource>, StepError> {
    let tables = c
        .ec2
        .describe_route_tables()
        .filters(filter("route.vpc-peering-connection-id", &[pcx]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeRouteTables", &c.role_arn)?;
    let mut routes = Vec::new();
    for table in &tables {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, two_pages};
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::SecurityGroup;

    fn group(id: &str) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(id)
            .tags(crate::aws::ec2::tag(MIGRATION_TAG, "m-1"))
            .build()
    }

    #[tokio::test]
    async fn resources_on_every_page_are_listed() {
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_security_groups,
            next_token => next_token,
            DescribeSecurityGroupsOutput::builder().security_groups(group("sg-1")),
            DescribeSecurityGroupsOutput::builder().security_groups(group("sg-2")),
        );
        let none = || Arc::new(clients(&[], &[], &[]));
        let scope = Scope {
            migration_id: "m-1",
            listener_arn: "arn:listener",
            net: none(),
            src: none(),
            tgt: Arc::new(clients(&[&first, &second], &[], &[])),
            target_vpc_id: "vpc-t",
            region: "ap-northeast-1",
            hosted_zones: &[],
        };
        let listed = list(ResourceKind::SecurityGroup, &scope).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["sg-1", "sg-2"]);
    }

    #[tokio::test]
    async fn only_associations_this_migration_tagged_are_its_own() {
        use aws_sdk_route53::operation::list_hosted_zones_by_vpc::ListHostedZonesByVpcOutput;
        use aws_sdk_route53::operation::list_tags_for_resource::ListTagsForResourceOutput;
        use aws_sdk_route53::types::{HostedZoneOwner, HostedZoneSummary, ResourceTagSet, Tag};
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let summary = |id: &str, owner: &str| {
            HostedZoneSummary::builder()
                .hosted_zone_id(id)
                .name(format!("{id}.example."))
                .owner(HostedZoneOwner::builder().owning_account(owner).build())
                .build()
                .unwrap()
        };
        // Zones of the target VPC: one of the network account tagged by this migration,
        // one tagged by another, one of the target account itself (never read for tags).
        let listed = mock!(aws_sdk_route53::Client::list_hosted_zones_by_vpc)
            .match_requests(|r| r.vpc_id() == Some("vpc-t"))
            .then_output(move || {
                ListHostedZonesByVpcOutput::builder()
                    .hosted_zone_summaries(summary("ZMINE", "111111111111"))
                    .hosted_zone_summaries(summary("ZOTHER", "111111111111"))
                    .hosted_zone_summaries(summary("ZOWN", "222222222222"))
                    .max_items(100)
                    .build()
                    .unwrap()
            });
        let tagged = |zone: &'static str, value: &'static str| {
            mock!(aws_sdk_route53::Client::list_tags_for_resource)
                .match_requests(move |r| r.resource_id() == Some(zone))
                .then_output(move || {
                    ListTagsForResourceOutput::builder()
                        .resource_tag_set(
                            ResourceTagSet::builder()
                                .tags(
                                    Tag::builder()
                                        .key("carveout:vpc-association:vpc-t")
                                        .value(value)
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                })
        };
        let (mine, other) = (tagged("ZMINE", "m-1"), tagged("ZOTHER", "m-2"));
        let mut net = clients(&[], &[], &[]);
        net.route53 = mock_client!(aws_sdk_route53, RuleMode::Sequential, &[&mine, &other]);
        let mut tgt = clients(&[], &[], &[]);
        tgt.account_id = "222222222222".into();
        tgt.route53 = mock_client!(aws_sdk_route53, RuleMode::Sequential, &[&listed]);
        let scope = Scope {
            migration_id: "m-1",
            listener_arn: "arn:listener",
            net: Arc::new(net),
            src: Arc::new(clients(&[], &[], &[])),
            tgt: Arc::new(tgt),
            target_vpc_id: "vpc-t",
            region: "ap-northeast-1",
            hosted_zones: &[],
        };
        let found = list(ResourceKind::HostedZoneAssociation, &scope)
            .await
            .unwrap();
        let ids: Vec<(&str, &str)> = found
            .iter()
            .map(|r| (r.id.as_str(), r.account_id.as_str()))
            .collect();
        assert_eq!(ids, [("ZMINE:vpc-t", "111111111111")]);
    }
}
