//! The routing steps: the probe rule that makes the new group's health known, the
//! health gate, the gradual (weighted, health-gated) shift and the cutover of the
//! service's forward action. The group itself: `target_group.rs`.

use crate::accounts::AccountClients;
use crate::aws::elb::{
    actions_from_sdk, current_actions, service_actions, set_actions, target_health,
};
use crate::aws::probe::{ensure_probe_rule, remove_probe_rule};
use crate::error::StepError;
use crate::idiom::{Poll, poll_once, watching};
use crate::state::{CutoverOut, ProbeRuleOut, ShiftOut, State};
use crate::traffic::{
    ActionModel, changed_elsewhere, cutover_actions, same_routing, shifted_actions,
};

use crate::context::Context;

/// A target group's health is unknown (`unused`) until a listener forwards to it. The
/// probe rule forwards to it only requests carrying `X-Carveout-Probe: <migration id>`,
/// which no real client sends, so the ALB starts health checks without real traffic.
pub async fn attach_probe_rule(
    ctx: &Context,
    state: State,
) -> Result<Option<ProbeRuleOut>, StepError> {
    let facts = state.facts()?;
    let group = state.target_group()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let s = &facts.service;
    let now =
        actions_from_sdk(&current_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?)
            .unwrap_or_default();
    if now.iter().any(|a| {
        a.forwarded_groups()
            .contains(&group.target_group_arn.as_str())
    }) {
        // A re-run after cutover: the service itself uses the group, health is known.
        tracing::info!("the service already forwards to the new group: no probe rule needed");
        return Ok(None);
    }
    let probe = ensure_probe_rule(
        &net,
        &facts.service.listener_arn,
        &state.plan.migration_id,
        &group.target_group_arn,
        facts.service.probe_priority,
    )
    .await?;
    Ok(Some(probe))
}

/// Every new target healthy? Anything else is "not yet" (the deadline is the state's
/// MaxAttempts): `initial` while checks run, `unhealthy` may still recover.
async fn health_of(net: &AccountClients, state: &State) -> Result<Poll<()>, StepError> {
    let group = state.target_group()?;
    let health = target_health(net, &group.target_group_arn).await?;
    let mut waiting = Vec::new();
    for i in state.instances()? {
        match health.iter().find(|(id, _, _, _)| *id == i.private_ip) {
            None => {
                return Ok(Poll::Failed(format!(
                    "target {} is not registered",
                    i.private_ip
                )));
            }
            Some((_, _, s, _)) if s == "healthy" => {}
            Some((id, _, s, reason)) => waiting.push(format!("{id} {s} ({reason})")),
        }
    }
    Ok(if waiting.is_empty() {
        Poll::Ready(())
    } else {
        Poll::Pending(waiting.join(", "))
    })
}

/// Every new target healthy: watched inside the invocation while the registration is
/// young (`idiom::watching`), then one look per Retry. A target is healthy after
/// HealthyThresholdCount checks in a row, one per HealthCheckIntervalSeconds (the group's
/// settings, copied from the original group; 5 × 30 s by default,
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>).
pub async fn wait_targets_healthy(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let group = state.target_group()?;
    let net = ctx.accounts(&state.plan).network().await?;
    watching(group.registered_at_ms, || async {
        poll_once(
            &format!("targets of {}", group.name),
            health_of(&net, &state).await?,
        )
    })
    .await?;
    Ok(state
        .instances()?
        .iter()
        .map(|i| i.private_ip.clone())
        .collect())
}

/// The action is what Preflight saved, this migration's maintenance answer, or one of
/// this plan's weighted steps: carveout may move it on. Anything else was changed by
/// someone else and is left alone.
fn ours_to_move(
    current: &[ActionModel],
    state: &State,
    new_group: &str,
) -> Result<bool, StepError> {
    let original = &state.facts()?.service.original_actions;
    Ok(movable(
        current,
        original,
        state.maintenance_actions()?.as_deref(),
        &state
            .plan
            .options
            .traffic_shift
            .iter()
            .map(|&p| shifted_actions(original, new_group, p))
            .collect::<Vec<_>>(),
    ))
}

/// Whether carveout may move the service's action from `current`: from the original or
/// one of its own weighted steps; in stop-source only from its maintenance answer. There,
/// the original back in place means the source served again after its image was taken
/// (the watcher, or an operator, restored it; a redriven execution then reaches Cutover):
/// moving traffic to the new copy would strand what the source took since.
fn movable(
    current: &[ActionModel],
    original: &[ActionModel],
    maintenance: Option<&[ActionModel]>,
    steps: &[Vec<ActionModel>],
) -> bool {
    match maintenance {
        Some(m) => same_routing(current, m),
        None => same_routing(current, original) || steps.iter().any(|s| same_routing(current, s)),
    }
}

/// Moves the action to `desired` when every new target is healthy right now and the
/// action is still carveout's to move; true when it changed (false: already there).
async fn move_traffic(
    net: &AccountClients,
    state: &State,
    desired: &[ActionModel],
    what: &str,
) -> Result<bool, StepError> {
    let group = state.target_group()?;
    let s = &state.facts()?.service;
    let current = service_actions(net, &s.listener_arn, s.rule_arn.as_deref()).await?;
    if same_routing(&current, desired) {
        return Ok(false);
    }
    if !ours_to_move(&current, state, &group.target_group_arn)? {
        if state.maintenance_actions()?.is_some()
            && same_routing(&current, &state.facts()?.service.original_actions)
        {
            return Err(StepError::conflict(format!(
                "refusing to {what}: the service forwards to its source instances again, so they may have taken writes after their images were taken; start a new migration (new images) instead of resuming this one"
            )));
        }
        return Err(changed_elsewhere(&current));
    }
    if let Poll::Pending(why) | Poll::Failed(why) = health_of(net, state).await? {
        return Err(StepError::ResourceFailed(format!(
            "refusing to {what}: targets not healthy: {why}"
        )));
    }
    set_actions(net, &s.listener_arn, s.rule_arn.as_deref(), desired).await?;
    Ok(true)
}

/// One step of a gradual cutover: `shiftPercent` of the traffic to the new targets
/// (weighted forward), only while they are all healthy.
pub async fn shift_traffic(ctx: &Context, state: State) -> Result<ShiftOut, StepError> {
    let facts = state.facts()?;
    let group = state.target_group()?;
    let percent = *state.shift_percent()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let desired = shifted_actions(
        &facts.service.original_actions,
        &group.target_group_arn,
        percent,
    );
    let changed = move_traffic(
        &net,
        &state,
        &desired,
        &format!("shift {percent} % of the traffic"),
    )
    .await?;
    Ok(ShiftOut {
        percent,
        actions: desired,
        changed,
    })
}

/// While and after a step is held: every new target must still be healthy, and the action still
/// the step's; anything else fails the migration (and Rollback restores the original).
pub async fn check_shift(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let facts = state.facts()?;
    let group = state.target_group()?;
    let percent = *state.shift_percent()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let s = &state.facts()?.service;
    let current = service_actions(&net, &s.listener_arn, s.rule_arn.as_deref()).await?;
    let expected = shifted_actions(
        &facts.service.original_actions,
        &group.target_group_arn,
        percent,
    );
    if !same_routing(&current, &expected) {
        return Err(changed_elsewhere(&current));
    }
    match health_of(&net, &state).await? {
        Poll::Ready(()) => Ok(state
            .instances()?
            .iter()
            .map(|i| i.private_ip.clone())
            .collect()),
        Poll::Pending(why) | Poll::Failed(why) => Err(StepError::ResourceFailed(format!(
            "the new targets became unhealthy while {percent} % of the traffic went to them: {why}"
        ))),
    }
}

/// Points the forward action at the new group, only when every new target is healthy
/// right now, and only if the action is still what Preflight saved, one of the plan's
/// weighted steps, or already cut over.
pub async fn cutover(ctx: &Context, state: State) -> Result<CutoverOut, StepError> {
    let facts = state.facts()?;
    let group = state.target_group()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let s = &facts.service;
    let desired = cutover_actions(&s.original_actions, &group.target_group_arn);
    let changed = move_traffic(&net, &state, &desired, "cut over").await?;
    let probe_rule_removed =
        remove_probe_rule(&net, &s.listener_arn, &state.plan.migration_id).await?;
    Ok(CutoverOut {
        actions: desired,
        at_epoch_ms: crate::state::now_epoch_ms(),
        changed,
        probe_rule_removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::maintenance_actions;

    const OLD: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:1:targetgroup/hp/1";
    const NEW: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:1:targetgroup/carveout-m/2";

    #[test]
    fn live_moves_from_the_original_or_its_own_steps() {
        let original = vec![ActionModel::forward_to(OLD, None)];
        let step = shifted_actions(&original, NEW, 10);
        assert!(movable(&original, &original, None, &[]));
        assert!(movable(&step, &original, None, std::slice::from_ref(&step)));
        let elsewhere = vec![ActionModel::forward_to("arn:other", None)];
        assert!(!movable(&elsewhere, &original, None, &[]));
    }

    #[test]
    fn stop_source_moves_only_from_its_maintenance_answer() {
        let original = vec![ActionModel::forward_to(OLD, None)];
        let maintenance = maintenance_actions(&original, "down for maintenance");
        assert!(movable(&maintenance, &original, Some(&maintenance), &[]));
        // The original back: the source served again after its image (a redrive after the
        // watcher restored): never cut over from there.
        assert!(!movable(&original, &original, Some(&maintenance), &[]));
    }
}
