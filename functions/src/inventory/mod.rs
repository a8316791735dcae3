//! What a migration created, found again in its three accounts by tag or deterministic
//! name: the list Report and Rollback put in the execution output and `carveout cleanup`
//! removes, and how each kind is removed (`remove.rs`, for `carveout cleanup --apply`).

mod kind;
mod list;
mod remove;

use serde::{Deserialize, Serialize};

use crate::accounts::Accounts;
use crate::error::StepError;
use crate::plan::Plan;

pub use kind::ResourceKind;
pub use remove::remove;

/// One resource carveout created, as listed in the execution output:
/// `{"kind": "image", "id": "ami-…", "accountId": "111111111111"}`. A route's id is
/// `<route table id>:<destination CIDR>` (routes have no id of their own); a hosted zone
/// association's `<zone id>:<target VPC id>`, in the zone's (network) account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedResource {
    pub kind: ResourceKind,
    pub id: String,
    pub account_id: String,
}

/// The kinds an execution's output lists for this plan: every kind but routes (the
/// report has them from the state, with their peering), and the RAM share only when the
/// plan opted in (a plan without `shareSecurityGroupWithRam` makes no RAM call at all), and
/// hosted zone associations only when the plan asks for some.
pub fn reported_kinds(plan: &Plan) -> Vec<ResourceKind> {
    ResourceKind::ALL
        .into_iter()
        .filter(|k| *k != ResourceKind::Route)
        .filter(|k| {
            *k != ResourceKind::RamResourceShare || plan.options.share_security_group_with_ram
        })
        .filter(|k| {
            *k != ResourceKind::HostedZoneAssociation
                || !plan.options.associate_hosted_zones.is_empty()
        })
        .collect()
}

/// Everything of the given kinds carrying this migration's tag (or deterministic name) in
/// its three accounts, in removal order. `carveout cleanup` asks for
/// [`ResourceKind::ALL`]: it must find a share or a route whatever the plan says now.
///
/// Errors: AccessDenied or ResourceFailed from the describe calls (each names its IAM
/// action).
pub async fn inventory(
    accounts: &Accounts,
    plan: &Plan,
    kinds: &[ResourceKind],
) -> Result<Vec<CreatedResource>, StepError> {
    let scope = list::Scope {
        migration_id: &plan.migration_id,
        listener_arn: &plan.service.listener_arn,
        net: accounts.get(&plan.service.account_id).await?,
        src: accounts.get(&plan.source.account_id).await?,
        tgt: accounts.get(&plan.target.account_id).await?,
        target_vpc_id: &plan.target.vpc_id,
        region: &plan.region,
        hosted_zones: &plan.options.associate_hosted_zones,
    };
    let mut kinds = kinds.to_vec();
    kinds.sort();
    let mut found = Vec::new();
    for kind in kinds {
        found.extend(list::list(kind, &scope).await?);
    }
    Ok(found)
}
