//! The end of an execution: Report (success) and Rollback (any failure after Preflight).
//! Both list everything the migration created, found by its tag, so the list is right
//! even when a failed branch never passed its results on.

use serde::{Deserialize, Serialize};

use crate::aws::elb::{actions_from_sdk, current_actions, find_target_group, set_actions};
use crate::aws::instances::start_stopped;
use crate::aws::probe::remove_probe_rule;
use crate::error::{NOT_READY, RESOURCE_FAILED, StepError};
use crate::inventory::{CreatedResource, inventory, reported_kinds};
use crate::names::{self, MIGRATION_TAG};
use crate::state::{CaughtError, LaunchedInstance, RouteOut, State};
use crate::traffic::{ActionModel, past_point_of_no_return, same_routing};

use crate::context::Context;

/// How the migration ended, as the execution output says it (the execution's own status
/// words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MigrationStatus {
    Succeeded,
    Failed,
    /// Every request went to the new targets (the point of no return) and a later step
    /// failed: the service runs on the new copy; the output says what is left to tidy.
    MigratedWithIssues,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub migration_id: String,
    pub status: MigrationStatus,
    pub summary: String,
    pub traffic: Traffic,
    pub instances: Vec<LaunchedInstance>,
    pub peering_connection_id: String,
    pub peering_reused: bool,
    pub routes: Vec<RouteOut>,
    pub resource_share_arn: Option<String>,
    pub target_group_arn: String,
    pub created: Vec<CreatedResource>,
    pub next_steps: Vec<String>,
    /// consistency stop-source: seconds from the maintenance answer to the new targets
    /// taking the traffic (the service's downtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_seconds: Option<f64>,
    /// What moved: per source instance, each setting's source value, new value and
    /// handling (carried, mapped, not carried and why); then the target group's.
    #[serde(default)]
    pub settings: Vec<crate::carried::SettingsTable>,
    /// Preflight's checks as they passed, repeated: among them the callers and callees the
    /// plan acknowledged, the extra route tables, and the hosted zones associated.
    #[serde(default)]
    pub checks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub listener_arn: String,
    pub rule_arn: Option<String>,
    pub forwards_to: Vec<String>,
    pub previously: Vec<ActionModel>,
}

pub async fn report(ctx: &Context, state: State) -> Result<Report, StepError> {
    let facts = state.facts()?;
    let prepared = state.prepared()?;
    let instances = state.instances()?.clone();
    let group = state.target_group()?;
    let accounts = ctx.accounts(&state.plan);
    let net = accounts.network().await?;
    let s = &facts.service;
    let now =
        actions_from_sdk(&current_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?)
            .map_err(StepError::ResourceFailed)?;
    let forwards_to: Vec<String> = now
        .iter()
        .flat_map(|a| a.forwarded_groups())
        .map(str::to_string)
        .collect();
    let created = inventory(&accounts, &state.plan, &reported_kinds(&state.plan)).await?;
    let where_ = s
        .rule_arn
        .as_deref()
        .unwrap_or("the listener's default action");
    let downtime_seconds = match (&state.maintenance, &state.cutover) {
        (Some(m), Some(c)) if c.at_epoch_ms >= m.since_epoch_ms => {
            Some((c.at_epoch_ms - m.since_epoch_ms) as f64 / 1000.0)
        }
        _ => None,
    };
    let source_note = if facts.options.stop_source {
        "the source instances were stopped (not terminated); start them to serve from there again"
    } else {
        "the source instances were not touched"
    };
    Ok(Report {
        migration_id: state.plan.migration_id.clone(),
        status: MigrationStatus::Succeeded,
        summary: format!(
            "{} instance(s) now serve from account {} ({}); {where_} forwards to {}",
            instances.len(),
            state.plan.target.account_id,
            instances.iter().map(|i| format!("{} {}", i.instance_id, i.private_ip)).collect::<Vec<_>>().join(", "),
            group.name
        ),
        traffic: Traffic {
            listener_arn: s.listener_arn.clone(),
            rule_arn: s.rule_arn.clone(),
            forwards_to,
            previously: s.original_actions.clone(),
        },
        instances,
        settings: crate::moved::settings_tables(facts),
        checks: facts.checks.clone(),
        peering_connection_id: prepared.network.peering.peering_connection_id.clone(),
        peering_reused: prepared.network.peering.reused,
        routes: prepared.network.routes.clone(),
        resource_share_arn: prepared.network.share.as_ref().map(|s| s.resource_share_arn.clone()),
        target_group_arn: group.target_group_arn.clone(),
        created,
        next_steps: vec![
            format!(
                "To send traffic back to the source, restore `traffic.previously` on {where_} ({source_note})."
            ),
            "When the new service is confirmed, retire the source instances and the original target group yourself: carveout never deletes them.".into(),
        ],
        downtime_seconds,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackOut {
    pub migration_id: String,
    pub status: MigrationStatus,
    /// The error the execution fails with (a stage deadline becomes ResourceFailed).
    pub error: CaughtError,
    /// What was done to the service's forward action.
    pub routing: String,
    pub probe_rule_removed: bool,
    /// Created resources, left in place (tagged) for inspection and cleanup.
    pub created: Vec<CreatedResource>,
    /// The execution's failure cause: the error, what happened to routing, what is left.
    pub cause: String,
}

/// Puts routing back exactly as Preflight found it. The source instances are never
/// touched. The action is restored only when it points at this migration's group: a
/// change someone else made meanwhile is reported, not overwritten.
pub async fn rollback(ctx: &Context, state: State) -> Result<RollbackOut, StepError> {
    let caught = state
        .error
        .clone()
        .map(CaughtError::innermost)
        .unwrap_or(CaughtError {
            error: "Unknown".into(),
            cause: String::new(),
        });
    let error = if caught.error == NOT_READY {
        CaughtError {
            error: RESOURCE_FAILED.into(),
            cause: format!("stage deadline exceeded: {}", caught.cause),
        }
    } else {
        caught
    };
    let facts = state.facts()?;
    let accounts = ctx.accounts(&state.plan);
    let net = accounts.network().await?;
    let s = &facts.service;
    let ours = find_target_group(
        &net,
        &names::target_group(&state.plan.migration_id),
        &state.plan.migration_id,
    )
    .await?;
    let maintenance = state.maintenance_actions()?;
    let current =
        actions_from_sdk(&current_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?);
    if let Ok(now) = &current
        && let Some(tg) = ours.as_deref()
        && past_point_of_no_return(now, tg)
    {
        return after_the_point_of_no_return(&accounts, &state, error, tg).await;
    }
    let routing = match current {
        Ok(now) if now == s.original_actions || same_routing(&now, &s.original_actions) => {
            "unchanged: the action still forwards exactly as before".to_string()
        }
        Ok(now)
            if ours
                .as_deref()
                .is_some_and(|tg| now.iter().any(|a| a.forwarded_groups().contains(&tg)))
                || maintenance.as_ref().is_some_and(|m| same_routing(&now, m)) =>
        {
            set_actions(
                &net,
                &s.listener_arn,
                s.rule_arn.as_deref(),
                &s.original_actions,
            )
            .await?;
            "restored: the saved original action was put back".to_string()
        }
        Ok(now) => format!(
            "left as is: changed outside carveout (forwards to {:?})",
            now.iter()
                .flat_map(|a| a.forwarded_groups())
                .collect::<Vec<_>>()
        ),
        Err(e) => format!("left as is: changed outside carveout ({e})"),
    };
    // stop-source: the source serves again (after routing is back, so the restarted
    // instances take the traffic as soon as they pass the ALB's health checks), before
    // anything else can fail. Only once the maintenance answer was in place: a failure in
    // the pre-image, before it, never stopped them (and an operator's own stop then is
    // not carveout's to undo).
    let source = if facts.options.stop_source && state.maintenance.is_none() {
        "source instances untouched: they were never stopped".to_string()
    } else if facts.options.stop_source {
        let src = ctx.accounts(&state.plan).source().await?;
        start_stopped(&src, &state.source_instance_ids()?).await?
    } else {
        "source instances untouched".to_string()
    };
    // Best effort: a probe rule left behind is tagged, and `carveout cleanup` removes it.
    let probe_rule_removed =
        match remove_probe_rule(&net, &s.listener_arn, &state.plan.migration_id).await {
            Ok(removed) => removed,
            Err(e) => {
                tracing::warn!(error = %e, "probe rule left for cleanup");
                false
            }
        };
    let created = inventory(&accounts, &state.plan, &reported_kinds(&state.plan)).await?;
    tracing::warn!(error = %error.error, cause = %error.cause, routing, source, "rolled back");
    let left: Vec<String> = created
        .iter()
        .map(|c| format!("{} {} ({})", c.kind, c.id, c.account_id))
        .collect();
    let cause = format!(
        "{} | routing {routing} | {source} | created and kept for inspection or cleanup (tag {MIGRATION_TAG}={}): {}",
        error.cause,
        state.plan.migration_id,
        if left.is_empty() {
            "nothing".to_string()
        } else {
            left.join(", ")
        }
    );
    Ok(RollbackOut {
        cause,
        migration_id: state.plan.migration_id.clone(),
        status: MigrationStatus::Failed,
        error,
        routing,
        probe_rule_removed,
        created,
    })
}

/// Rollback's answer once every request went to the new targets: the new copy may have
/// taken writes, so traffic stays there and stopped sources stay stopped (moving back
/// would strand those writes; `carveout revert` is the deliberate way back, with its
/// cost). Only carveout's own probe rule is tidied. The execution then ends
/// `MIGRATED_WITH_ISSUES`, naming the failed step and what is left.
async fn after_the_point_of_no_return(
    accounts: &crate::accounts::Accounts,
    state: &State,
    error: CaughtError,
    new_group: &str,
) -> Result<RollbackOut, StepError> {
    let facts = state.facts()?;
    let net = accounts.network().await?;
    // Best effort: a probe rule left behind is tagged, and `carveout cleanup` removes it.
    let probe_rule_removed = match remove_probe_rule(
        &net,
        &facts.service.listener_arn,
        &state.plan.migration_id,
    )
    .await
    {
        Ok(removed) => removed,
        Err(e) => {
            tracing::warn!(error = %e, "probe rule left for cleanup");
            false
        }
    };
    let created = inventory(accounts, &state.plan, &reported_kinds(&state.plan)).await?;
    let routing = format!(
        "left on the new targets ({new_group}): the point of no return was passed, the new copy may have taken writes; `carveout revert` goes back deliberately"
    );
    tracing::warn!(error = %error.error, cause = %error.cause, "failed after the point of no return");
    let cause = format!(
        "migrated, then {} failed: {} | routing {routing} | source instances left as they are | created (tag {MIGRATION_TAG}={}): {}",
        error.error,
        error.cause,
        state.plan.migration_id,
        created
            .iter()
            .map(|c| format!("{} {} ({})", c.kind, c.id, c.account_id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(RollbackOut {
        cause,
        migration_id: state.plan.migration_id.clone(),
        status: MigrationStatus::MigratedWithIssues,
        error,
        routing,
        probe_rule_removed,
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_failed(cause: String) -> CaughtError {
        CaughtError {
            error: "States.TaskFailed".into(),
            cause,
        }
    }

    #[test]
    fn a_failed_child_is_reported_by_its_own_error_even_when_its_description_is_cut() {
        // .sync:2: the child's description in the cause, its input (escaped) included.
        let described = serde_json::json!({"ExecutionArn": "arn:x", "Status": "FAILED",
            "Error": "CarveOut.ResourceFailed", "Cause": "image ami-1 failed: \"error\"",
            "Input": "{\"Error\":\"not this\"}"})
        .to_string();
        let whole = task_failed(described.clone()).innermost();
        assert_eq!(whole.error, "CarveOut.ResourceFailed");
        assert_eq!(whole.cause, "image ami-1 failed: \"error\"");
        // Cut at 32,768 characters (API_TaskFailedEventDetails): read as far as it goes.
        let cut = task_failed(described[..described.len() - 5].to_string()).innermost();
        assert_eq!(cut.error, "CarveOut.ResourceFailed");
        // Not a child's failure: as it came.
        let other = CaughtError {
            error: "CarveOut.Conflict".into(),
            cause: "x".into(),
        };
        assert_eq!(other.clone().innermost(), other);
    }

    #[test]
    fn a_failed_childs_description_fits_a_cause_even_with_fifty_of_the_longest_tags() {
        // The Map gives a child the shared facts and its own instance only
        // (statemachine/carveout.asl.json ItemSelector), so the description that
        // States.TaskFailed carries is not cut before the child's Error, whose place in it
        // AWS does not document. EC2 allows 50 tags of 128 + 256 characters per resource
        // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html).
        use crate::test_support::{facts_json, instance, plan_json};
        let mut source = serde_json::to_value(instance("i-0123456789abcdef0", "m5.24xlarge", None))
            .expect("instance serializes");
        source["tags"] = (0..50)
            .map(|i| serde_json::json!({"key": format!("{i:0>128}"), "value": "v".repeat(256)}))
            .collect();
        source["volumes"] = (0..8)
            .map(|i| serde_json::json!({"volumeId": format!("vol-{i:0>17}"), "deviceName": format!("/dev/sd{i}"),
                "encrypted": true, "kmsKeyId": format!("arn:aws:kms:ap-northeast-1:111111111111:key/{i:0>36}")}))
            .collect();
        let mut plan = plan_json();
        plan["source"]["instanceIds"] = (0..20).map(|i| format!("i-{i:0>17}")).collect();
        // Every field as Preflight writes it (the options resolved in full), six subnets.
        let mut facts_in = facts_json();
        facts_in["target"]["subnets"] = (0..6)
            .map(|i| {
                serde_json::json!({"subnetId": format!("subnet-{i:0>17}"),
                "availabilityZone": "ap-northeast-1a", "cidr": format!("10.1.{i}.0/24")})
            })
            .collect();
        let facts: crate::state::Facts = serde_json::from_value(facts_in).expect("facts parse");
        let mut facts = serde_json::to_value(&facts).expect("facts serialize");
        let shared = facts.as_object_mut().expect("facts are an object");
        shared.remove("instances");
        shared.remove("checks");
        let input = serde_json::json!({"plan": plan, "facts": shared, "sourceInstance": source,
            "executionStartedAt": "2026-12-02T01:00:00.000Z",
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": "arn:aws:states:ap-northeast-1:111111111111:execution:carveout-migration:m-1"});
        let described = serde_json::json!({
            "ExecutionArn": format!("arn:aws:states:ap-northeast-1:111111111111:execution:carveout-image:{}", "x".repeat(80)),
            "Input": input.to_string(), "InputDetails": {"Included": true}, "Status": "FAILED",
            "Error": "CarveOut.ResourceFailed", "Cause": "c".repeat(1024)})
        .to_string();
        assert!(described.len() < 32_768, "{} characters", described.len());
        assert_eq!(
            task_failed(described).innermost().error,
            "CarveOut.ResourceFailed"
        );
    }
}
