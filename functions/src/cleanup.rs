//! `carveout cleanup`: removes what a migration created, found by its tag, never the source
//! instances or the original target group. A dry run unless told to apply.
//!
//! While the service forwards to the migration's target group (a finished migration),
//! everything that carries its traffic is kept (peering, routes, RAM share, target group,
//! instances, their security group); only the leftovers go: the probe rule, the images
//! and their snapshots.

use serde::Serialize;

use crate::accounts::Accounts;
use crate::aws::elb::{actions_from_sdk, current_actions};
use crate::error::StepError;
use crate::inventory::{CreatedResource, ResourceKind, inventory, remove};
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
    Ok(partition(found, live))
}

/// The decision: while live, what carries traffic is kept; everything else goes, in
/// removal order (the inventory's order).
fn partition(found: Vec<CreatedResource>, live: bool) -> Survey {
    let (keep, remove): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|r| live && r.kind.carries_traffic());
    let why = "carries the service's traffic (the action forwards to the new target group)";
    Survey {
        live,
        remove,
        keep: keep.into_iter().map(|r| (r, why.to_string())).collect(),
    }
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
        let s = partition(ResourceKind::ALL.map(r).to_vec(), true);
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
        let s = partition(ResourceKind::ALL.map(r).to_vec(), false);
        assert_eq!(
            s.remove.iter().map(|x| x.kind).collect::<Vec<_>>(),
            ResourceKind::ALL
        );
        assert!(s.keep.is_empty());
    }
}
