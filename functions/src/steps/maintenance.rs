//! consistency stop-source: the service answers 503 (maintenance) while its source
//! instances are stopped and imaged, so no write can land after the image. Rollback puts
//! the original action back and starts the source again.

use std::collections::BTreeMap;

use crate::accounts::AccountClients;
use crate::aws::elb::{service_actions, set_actions};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::{Poll, poll_once};
use crate::state::{MaintenanceOut, State, now_epoch_ms};
use crate::traffic::{changed_elsewhere, same_routing};

use super::Context;

/// Puts the maintenance answer in place of the service's forward action (only from the
/// original action; a re-run finds it in place).
pub async fn enter_maintenance(ctx: &Context, state: State) -> Result<MaintenanceOut, StepError> {
    let facts = state.facts()?;
    let desired = state.maintenance_actions()?.ok_or_else(|| {
        StepError::invalid_plan("enter-maintenance runs only for consistency stop-source")
    })?;
    let net = ctx.network(&state).await?;
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

fn source_ids(state: &State) -> Result<Vec<String>, StepError> {
    Ok(state
        .facts()?
        .instances
        .iter()
        .map(|i| i.instance_id.clone())
        .collect())
}

/// Stops the source instances (stopping a stopped instance is a no-op).
pub async fn stop_source(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let ids = source_ids(&state)?;
    let src = ctx.source(&state).await?;
    src.ec2
        .stop_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .named("ec2:StopInstances", &src.role_arn)?;
    Ok(ids)
}

/// The state name of each source instance.
pub async fn source_states(
    src: &AccountClients,
    ids: &[String],
) -> Result<BTreeMap<String, String>, StepError> {
    let out = src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            Some((
                i.instance_id()?.to_string(),
                i.state()?.name()?.as_str().to_string(),
            ))
        })
        .collect())
}

/// Polls until every source instance is stopped: then nothing writes to its volumes.
pub async fn wait_source_stopped(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let ids = source_ids(&state)?;
    let src = ctx.source(&state).await?;
    let states = source_states(&src, &ids).await?;
    let observed = if let Some((id, s)) = states
        .iter()
        .find(|(_, s)| !matches!(s.as_str(), "stopping" | "stopped"))
    {
        Poll::Failed(format!("{id} is {s}, not stopping"))
    } else if let Some((id, _)) = states.iter().find(|(_, s)| *s == "stopping") {
        Poll::Pending(format!("{id} is stopping"))
    } else {
        Poll::Ready(ids)
    };
    poll_once("source instances", observed)
}

/// Rollback of stop-source: starts every source instance that is stopped (one that is
/// still stopping is waited for, briefly). Returns what it did, for the failure cause.
pub async fn restart_source(ctx: &Context, state: &State) -> Result<String, StepError> {
    let ids = source_ids(state)?;
    let src = ctx.source(state).await?;
    for _ in 0..20 {
        let states = source_states(&src, &ids).await?;
        if !states.values().any(|s| s == "stopping") {
            let stopped: Vec<String> = states
                .into_iter()
                .filter(|(_, s)| s == "stopped")
                .map(|(id, _)| id)
                .collect();
            if stopped.is_empty() {
                return Ok("source instances running (not stopped)".into());
            }
            src.ec2
                .start_instances()
                .set_instance_ids(Some(stopped.clone()))
                .send()
                .await
                .named("ec2:StartInstances", &src.role_arn)?;
            return Ok(format!(
                "source instances restarted: {}",
                stopped.join(", ")
            ));
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Err(StepError::ResourceFailed(format!(
        "source instances {} still stopping after 40 s; start them once stopped",
        ids.join(", ")
    )))
}
