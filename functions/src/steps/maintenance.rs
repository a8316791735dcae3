//! consistency stop-source: the service answers 503 (maintenance) while its source
//! instances are stopped and imaged, so no write can land after the image. Rollback puts
//! the original action back and starts the source again.

use crate::aws::elb::{service_actions, set_actions};
use crate::aws::instances::instance_states;
use crate::error::{SdkResultExt, StepError};
use crate::idiom::{Poll, poll_once, watching};
use crate::state::{MaintenanceOut, State, now_epoch_ms};
use crate::traffic::{changed_elsewhere, same_routing};

use crate::context::Context;

/// Puts the maintenance answer in place of the service's forward action (only from the
/// original action; a re-run finds it in place).
pub async fn enter_maintenance(ctx: &Context, state: State) -> Result<MaintenanceOut, StepError> {
    let facts = state.facts()?;
    let desired = state.maintenance_actions()?.ok_or_else(|| {
        StepError::invalid_plan("enter-maintenance runs only for consistency stop-source")
    })?;
    let net = ctx.accounts(&state.plan).network().await?;
    let s = &state.facts()?.service;
    let current = service_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?;
    if !same_routing(&current, &desired) {
        if !same_routing(&current, &facts.service.original_actions) {
            return Err(changed_elsewhere(&current));
        }
        let s = &facts.service;
        set_actions(&net, &s.listener_arn, s.rule_arn.as_deref(), &desired).await?;
    }
    Ok(MaintenanceOut {
        since_epoch_ms: now_epoch_ms(),
        actions: desired,
    })
}

/// Stops the source instances (stopping a stopped instance is a no-op).
pub async fn stop_source(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let ids = state.source_instance_ids()?;
    let src = ctx.accounts(&state.plan).source().await?;
    src.ec2
        .stop_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .named("ec2:StopInstances", &src.role_arn)?;
    Ok(ids)
}

/// Polls until every source instance is stopped: then nothing writes to its volumes.
/// `running` or `pending` right after StopInstances is a read that does not show the stop
/// yet (EC2's eventual consistency,
/// <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>): not ready,
/// within the state's bound. Another state (`terminated`, `shutting-down`) fails.
///
/// Watched inside the invocation while the stop is young (from the maintenance answer's
/// start, just before StopInstances; `idiom::watching`), then one look per Retry.
pub async fn wait_source_stopped(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let ids = state.source_instance_ids()?;
    let src = ctx.accounts(&state.plan).source().await?;
    let since = state.maintenance.as_ref().map(|m| m.since_epoch_ms);
    watching(since, || async {
        let states = instance_states(&src, &ids).await?;
        poll_once("source instances", stopped(&states).map(|()| ids.clone()))
    })
    .await
}

/// Every instance stopped is ready; stopping (or a read that does not show the stop yet)
/// is pending; any other state fails.
fn stopped(states: &std::collections::BTreeMap<String, String>) -> Poll<()> {
    if let Some((id, s)) = states
        .iter()
        .find(|(_, s)| !matches!(s.as_str(), "stopping" | "stopped" | "running" | "pending"))
    {
        Poll::Failed(format!("{id} is {s}, not stopping"))
    } else if let Some((id, s)) = states.iter().find(|(_, s)| *s != "stopped") {
        Poll::Pending(format!("{id} is {s}"))
    } else {
        Poll::Ready(())
    }
}
