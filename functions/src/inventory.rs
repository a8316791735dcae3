//! What a migration created, found again in its three accounts by tag or deterministic
//! name: the list Report and Rollback put in the execution output and `carveout cleanup`
//! removes. Only reads.

use serde::{Deserialize, Serialize};

use crate::accounts::{AccountClients, Accounts};
use crate::aws::ec2::{has_tag, migration_filter, tagged_peerings};
use crate::aws::elb::find_target_group;
use crate::aws::probe::find_probe_rule;
use crate::aws::ram::find_share;
use crate::error::{SdkResultExt, StepError};
use crate::names::{self, MIGRATION_TAG};
use crate::plan::Plan;

/// One resource carveout created, as listed in the execution output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedResource {
    pub kind: String,
    pub id: String,
    pub account_id: String,
}

fn created(kind: &str, id: &str, account: &str) -> CreatedResource {
    CreatedResource {
        kind: kind.into(),
        id: id.into(),
        account_id: account.into(),
    }
}

/// Which kinds an inventory looks for beyond those every migration may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamShares {
    /// Look for the migration's RAM share (the plan opted in, or `carveout cleanup`, which
    /// must find a share whatever the plan says now).
    Include,
    /// A plan without `shareSecurityGroupWithRam` makes no RAM call at all.
    Skip,
}

impl RamShares {
    pub fn of(plan: &Plan) -> Self {
        if plan.options.share_security_group_with_ram {
            RamShares::Include
        } else {
            RamShares::Skip
        }
    }
}

/// Everything carrying this migration's tag (or deterministic name) in the three accounts.
pub async fn inventory(
    accounts: &Accounts,
    plan: &Plan,
    ram: RamShares,
) -> Result<Vec<CreatedResource>, StepError> {
    let id = &plan.migration_id;
    let net = accounts.get(&plan.service.account_id).await?;
    let src = accounts.get(&plan.source.account_id).await?;
    let tgt = accounts.get(&plan.target.account_id).await?;
    let mut found = Vec::new();
    for pcx in tagged_peerings(&net, id).await? {
        found.push(created("vpc-peering-connection", &pcx, &net.account_id));
    }
    let share = match ram {
        RamShares::Include => find_share(&net, &names::resource_share(id)).await?,
        RamShares::Skip => None,
    };
    if let Some(share) = share {
        found.push(created(
            "ram-resource-share",
            share.resource_share_arn().unwrap_or_default(),
            &net.account_id,
        ));
    }
    if let Some(tg) = find_target_group(&net, &names::target_group(id), id).await? {
        found.push(created("target-group", &tg, &net.account_id));
    }
    if let Some(rule) = find_probe_rule(&net, &plan.service.listener_arn, id).await? {
        found.push(created("listener-rule", &rule.rule_arn, &net.account_id));
    }
    let images = src
        .ec2
        .describe_images()
        .owners("self")
        .filters(migration_filter(id))
        .send()
        .await
        .named("ec2:DescribeImages", &src.role_arn)?;
    for image in images
        .images()
        .iter()
        .filter(|i| has_tag(i.tags(), MIGRATION_TAG, id))
    {
        found.push(created(
            "image",
            image.image_id().unwrap_or_default(),
            &src.account_id,
        ));
    }
    let snapshots = src
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(migration_filter(id))
        .send()
        .await
        .named("ec2:DescribeSnapshots", &src.role_arn)?;
    for snap in snapshots
        .snapshots()
        .iter()
        .filter(|s| has_tag(s.tags(), MIGRATION_TAG, id))
    {
        found.push(created(
            "snapshot",
            snap.snapshot_id().unwrap_or_default(),
            &src.account_id,
        ));
    }
    list_target_side(&tgt, id, &mut found).await?;
    Ok(found)
}

/// The target account's part: the security group and the instances (terminated ones are
/// gone already).
async fn list_target_side(
    tgt: &AccountClients,
    id: &str,
    found: &mut Vec<CreatedResource>,
) -> Result<(), StepError> {
    let groups = tgt
        .ec2
        .describe_security_groups()
        .filters(migration_filter(id))
        .send()
        .await
        .named("ec2:DescribeSecurityGroups", &tgt.role_arn)?;
    for g in groups
        .security_groups()
        .iter()
        .filter(|g| has_tag(g.tags(), MIGRATION_TAG, id))
    {
        found.push(created(
            "security-group",
            g.group_id().unwrap_or_default(),
            &tgt.account_id,
        ));
    }
    let instances = tgt
        .ec2
        .describe_instances()
        .filters(migration_filter(id))
        .send()
        .await
        .named("ec2:DescribeInstances", &tgt.role_arn)?;
    for i in instances.reservations().iter().flat_map(|r| r.instances()) {
        let gone = matches!(
            i.state().and_then(|s| s.name()).map(|n| n.as_str()),
            Some("terminated")
        );
        if has_tag(i.tags(), MIGRATION_TAG, id) && !gone {
            found.push(created(
                "instance",
                i.instance_id().unwrap_or_default(),
                &tgt.account_id,
            ));
        }
    }
    Ok(())
}
