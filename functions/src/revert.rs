//! `carveout revert`: the deliberate way back after the point of no return. Once every
//! request went to the new targets no failure moves traffic back by itself (the new copy
//! may hold writes the old one never saw); an operator who wants the old copy serving
//! again asks for it here, and is told first what it costs.
//!
//! Going back = (stop-source) start the stopped sources; a probe rule puts the original
//! group back in use, since a group no listener uses has no health checks (its targets
//! are `unused`); once its targets are healthy the saved original forward action goes
//! back (kept in a tag of the migration's target group at cutover) and the probe rule is
//! removed. The new copy is left as it is (`carveout cleanup` removes it once it serves
//! nothing).

use std::time::Duration;

use crate::accounts::{AccountClients, Accounts};
use crate::aws::elb::{
    actions_from_sdk, current_actions, find_target_group, saved_original, set_actions,
    target_health,
};
use crate::aws::instances::start_stopped;
use crate::aws::probe::{
    ensure_probe_rule, highest_free_priority, listener_rules, remove_probe_rule,
};
use crate::error::StepError;
use crate::names;
use crate::plan::{Consistency, Plan};
use crate::traffic::{ActionModel, past_point_of_no_return};

/// What going back would do, read before anything changes.
#[derive(Debug, Clone)]
pub struct Reversal {
    /// The migration's target group, which takes every request now.
    pub new_group: String,
    /// The action to put back (the saved original).
    pub original: ActionModel,
    /// What it costs, in sentences for the operator.
    pub costs: Vec<String>,
}

/// Reads the listener (or rule) and the migration's group. Errors: Conflict when traffic
/// is not wholly on this migration's group (nothing to revert: before the point of no
/// return Rollback already restores), AccessDenied, ResourceFailed.
pub async fn read_reversal(accounts: &Accounts, plan: &Plan) -> Result<Reversal, StepError> {
    let net = accounts.network().await?;
    let s = &plan.service;
    let current =
        actions_from_sdk(&current_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?)
            .map_err(|e| {
                StepError::conflict(format!(
                    "the service's action is not one carveout models: {e}"
                ))
            })?;
    let name = names::target_group(&plan.migration_id);
    let new_group = find_target_group(&net, &name, &plan.migration_id)
        .await?
        .filter(|tg| past_point_of_no_return(&current, tg))
        .ok_or_else(|| {
            StepError::conflict(format!(
                "migration {} does not take every request (no forward action sends only to its target group {name}): there is nothing to revert",
                plan.migration_id
            ))
        })?;
    let original = saved_original(plan, &net, &current).await?.ok_or_else(|| {
        StepError::conflict(format!(
            "the original action is not saved on {new_group} (tag {}): restore it by hand",
            names::ORIGINAL_FORWARD_TAG
        ))
    })?;
    let mut costs = vec![
        format!(
            "every request goes back to {}: writes the new copy took since the cutover stay on the new instances and are not on the old ones",
            s.target_group_arn
        ),
        "the old copy serves the data it had when its image was taken, plus nothing since"
            .to_string(),
    ];
    if plan.consistency == Consistency::StopSource {
        costs.push(format!(
            "the stopped source instances {} are started first; traffic moves once they are healthy in {}",
            plan.source.instance_ids.join(", "),
            s.target_group_arn
        ));
    }
    Ok(Reversal {
        new_group,
        original,
        costs,
    })
}

/// Goes back: starts stopped sources (stop-source) and waits, within `wait`, until every
/// target of the original group is healthy, then sets the original action. The probe
/// rule's priority is free among every rule of the listener (every page). Errors:
/// ResourceFailed when the original targets do not turn healthy in time (traffic not
/// moved), and those of the calls.
pub async fn apply_reversal(
    accounts: &Accounts,
    plan: &Plan,
    reversal: &Reversal,
    wait: Duration,
) -> Result<String, StepError> {
    let net = accounts.network().await?;
    let mut done = Vec::new();
    if plan.consistency == Consistency::StopSource {
        let src = accounts.source().await?;
        done.push(start_stopped(&src, &plan.source.instance_ids).await?);
    }
    let s = &plan.service;
    // A leftover probe rule forwards to the new group: the original gets its own.
    remove_probe_rule(&net, &s.listener_arn, &plan.migration_id).await?;
    let used = listener_rules(&net, &s.listener_arn)
        .await?
        .iter()
        .filter_map(|r| r.priority()?.parse().ok())
        .collect();
    let priority = highest_free_priority(&used).ok_or_else(|| {
        StepError::conflict("the listener has no free rule priority for the probe rule")
    })?;
    ensure_probe_rule(
        &net,
        &s.listener_arn,
        &plan.migration_id,
        &s.target_group_arn,
        priority,
    )
    .await?;
    if let Err(e) = wait_original_healthy(&net, &s.target_group_arn, wait).await {
        // Traffic stays on the new targets: only the probe rule is taken back. Started
        // sources are left running (stopping them again is the operator's call).
        remove_probe_rule(&net, &s.listener_arn, &plan.migration_id).await?;
        let started = if plan.consistency == Consistency::StopSource {
            format!(
                "; the source instances {} were started and are left running (stop them, or run revert again with a longer --wait-seconds)",
                plan.source.instance_ids.join(", ")
            )
        } else {
            String::new()
        };
        return Err(StepError::ResourceFailed(format!("{e}{started}")));
    }
    set_actions(
        &net,
        &s.listener_arn,
        s.rule_arn.as_deref(),
        std::slice::from_ref(&reversal.original),
    )
    .await?;
    done.push(format!(
        "every request goes to {} again (not to {})",
        s.target_group_arn, reversal.new_group
    ));
    // Traffic has moved: a probe rule that cannot be removed now is reported, not an error
    // (it is tagged; `carveout cleanup` removes it).
    if let Err(e) = remove_probe_rule(&net, &s.listener_arn, &plan.migration_id).await {
        done.push(format!(
            "the probe rule was left on {} ({e}): `carveout cleanup --apply` removes it",
            s.listener_arn
        ));
    }
    Ok(done.join("; "))
}

async fn wait_original_healthy(
    net: &AccountClients,
    group: &str,
    wait: Duration,
) -> Result<(), StepError> {
    let start = std::time::Instant::now();
    loop {
        let health = target_health(net, group).await?;
        let down: Vec<String> = health
            .iter()
            .filter(|(_, _, state, _)| state != "healthy")
            .map(|(id, port, state, _)| format!("{id}:{port} {state}"))
            .collect();
        if !health.is_empty() && down.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= wait {
            return Err(StepError::ResourceFailed(format!(
                "the original targets of {group} are not healthy after {} s ({}): traffic was not moved",
                wait.as_secs(),
                if down.is_empty() {
                    "no targets".to_string()
                } else {
                    down.join(", ")
                }
            )));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
