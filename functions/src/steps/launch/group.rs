//! The new instances' security group: the one way in for the ALB, across the peering.

use aws_sdk_ec2::types::{IpPermission, ResourceType, UserIdGroupPair};

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, has_tag, tag_spec};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::find_or_create;
use crate::names::{self, MIGRATION_TAG};
use crate::state::{Facts, State};

/// The new instances' security group, one per migration (concurrent Map iterations race
/// to create it; the loser finds the winner's). Its ingress allows every port the ALB uses
/// (traffic and health check) from the ALB's groups, referenced as (network account, sg-…)
/// across the peering. An existing group is looked for on every page.
pub(super) async fn ensure_security_group(
    tgt: &AccountClients,
    state: &State,
    facts: &Facts,
    port: i32,
) -> Result<String, StepError> {
    let id = &state.plan.migration_id;
    let name = names::security_group(id);
    let group = find_or_create(
        "security group of the new instances",
        || async {
            let groups = tgt.ec2.describe_security_groups()
                .filters(filter("vpc-id", &[&facts.target.vpc_id]))
                .filters(filter("group-name", &[&name]))
                .into_paginator().items().send().try_collect().await
                .named("ec2:DescribeSecurityGroups", &tgt.role_arn)?;
            match groups.iter().find(|g| g.group_name() == Some(name.as_str()) && g.vpc_id() == Some(facts.target.vpc_id.as_str())) {
                Some(g) if has_tag(g.tags(), MIGRATION_TAG, id) => Ok(g.group_id().map(str::to_string)),
                Some(g) => Err(StepError::conflict(format!(
                    "security group {name} ({}) exists in {} without this migration's tag; rename or delete it",
                    g.group_id().unwrap_or_default(), facts.target.vpc_id
                ))),
                None => Ok(None),
            }
        },
        || async {
            let out = tgt.ec2.create_security_group()
                .group_name(&name)
                .description(format!("carveout {id}: lets the ALB reach the moved service"))
                .vpc_id(&facts.target.vpc_id)
                .tag_specifications(tag_spec(ResourceType::SecurityGroup, id, &[("Name", &name)]))
                .send().await.named("ec2:CreateSecurityGroup", &tgt.role_arn);
            match out {
                Ok(out) => Ok(out.group_id().map(str::to_string)),
                Err(f) if f.is("InvalidGroup.Duplicate") => Ok(None),
                Err(f) => Err(f.into()),
            }
        },
    )
    .await?
    .value;

    let pcx = state
        .peering
        .as_ref()
        .map(|p| p.peering_connection_id.clone());
    let pairs = facts
        .network
        .security_group_ids
        .iter()
        .map(|sg| {
            UserIdGroupPair::builder()
                .user_id(&state.plan.service.account_id)
                .group_id(sg)
                .set_vpc_peering_connection_id(pcx.clone())
                .description(format!("ALB of carveout {id}"))
                .build()
        })
        .collect::<Vec<_>>();
    // One call per port: AWS refuses a whole call when one of its rules exists already.
    for port in facts.service.target_group.alb_ports(port) {
        let permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .set_user_id_group_pairs(Some(pairs.clone()))
            .build();
        match tgt
            .ec2
            .authorize_security_group_ingress()
            .group_id(&group)
            .ip_permissions(permission)
            .send()
            .await
            .named("ec2:AuthorizeSecurityGroupIngress", &tgt.role_arn)
        {
            Ok(_) => {}
            Err(f) if f.is("InvalidPermission.Duplicate") => {}
            Err(f) => return Err(f.about_fresh_id(&format!("the new security group {group}"))),
        }
    }
    Ok(group)
}
