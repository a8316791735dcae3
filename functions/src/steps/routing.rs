//! The routing steps: the new IP target group, the probe rule that makes its health
//! known, the health gate, the gradual (weighted, health-gated) shift and the cutover of
//! the service's forward action.

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetDescription, TargetGroupAttribute, TargetGroupIpAddressTypeEnum,
    TargetTypeEnum,
};

use crate::accounts::AccountClients;
use crate::aws::elb::{
    actions_from_sdk, current_actions, find_target_group, migration_tags, service_actions,
    set_actions, target_health,
};
use crate::aws::probe::{ensure_probe_rule, remove_probe_rule};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::{Poll, find_or_create, poll_once, watching};
use crate::names;
use crate::state::{
    CutoverOut, LaunchedInstance, ProbeRuleOut, ShiftOut, State, TargetGroupOut, now_epoch_ms,
};
use crate::traffic::{
    ActionModel, changed_elsewhere, compact_forward, cutover_actions, same_routing, shifted_actions,
};

use crate::context::Context;

pub async fn create_target_group(ctx: &Context, state: State) -> Result<TargetGroupOut, StepError> {
    let facts = state.facts()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let id = &state.plan.migration_id;
    let name = names::target_group(id);
    let s = &facts.service.target_group;
    let to_out = |arn: &str| TargetGroupOut {
        target_group_arn: arn.to_string(),
        name: name.clone(),
        registered_at_ms: None,
    };
    let mut tags = migration_tags(id);
    if let Some(original) = compact_forward(&facts.service.original_actions) {
        tags.push(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(names::ORIGINAL_FORWARD_TAG)
                .value(original)
                .build(),
        );
    }
    let ensured = find_or_create(
        "IP target group",
        || async {
            Ok(find_target_group(&net, &name, id)
                .await?
                .as_deref()
                .map(to_out))
        },
        || async {
            let out = net
                .elb
                .create_target_group()
                .name(&name)
                .target_type(TargetTypeEnum::Ip)
                .protocol(ProtocolEnum::from(s.protocol.as_str()))
                .port(s.port)
                .vpc_id(&facts.network.vpc_id)
                .set_protocol_version(s.protocol_version.clone())
                .set_ip_address_type(
                    s.ip_address_type
                        .as_deref()
                        .map(TargetGroupIpAddressTypeEnum::from),
                )
                .set_health_check_protocol(
                    s.health_check_protocol.as_deref().map(ProtocolEnum::from),
                )
                .set_health_check_port(s.health_check_port.clone())
                .set_health_check_path(s.health_check_path.clone())
                .set_health_check_interval_seconds(s.health_check_interval_seconds)
                .set_health_check_timeout_seconds(s.health_check_timeout_seconds)
                .set_healthy_threshold_count(s.healthy_threshold_count)
                .set_unhealthy_threshold_count(s.unhealthy_threshold_count)
                .set_matcher(
                    if s.matcher_http_code.is_some() || s.matcher_grpc_code.is_some() {
                        Some(
                            Matcher::builder()
                                .set_http_code(s.matcher_http_code.clone())
                                .set_grpc_code(s.matcher_grpc_code.clone())
                                .build(),
                        )
                    } else {
                        None
                    },
                )
                .set_tags(Some(tags))
                .send()
                .await
                .named("elasticloadbalancing:CreateTargetGroup", &net.role_arn);
            match out {
                Ok(out) => Ok(out
                    .target_groups()
                    .first()
                    .and_then(|g| g.target_group_arn())
                    .map(to_out)),
                Err(f) if f.is("DuplicateTargetGroupName") => Ok(None),
                Err(f) => Err(f.into()),
            }
        },
    )
    .await?;
    // Every attribute of the original group (stickiness, deregistration delay, slow
    // start, algorithm…), set again on a re-run: ModifyTargetGroupAttributes is idempotent.
    let attributes = crate::carried::attributes_to_carry(&s.attributes);
    if !attributes.is_empty() {
        net.elb
            .modify_target_group_attributes()
            .target_group_arn(&ensured.value.target_group_arn)
            .set_attributes(Some(
                attributes
                    .into_iter()
                    .map(|(k, v)| TargetGroupAttribute::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .named(
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                &net.role_arn,
            )?;
    }
    Ok(ensured.value)
}

fn instances(state: &State) -> Result<&Vec<LaunchedInstance>, StepError> {
    state.instances()
}

/// Registers every new private IP. The addresses are in a peered VPC, outside the ALB's
/// VPC: AWS requires `AvailabilityZone=all` for them. Registering twice is a no-op.
/// Answers when (epoch ms; the state keeps it as `$.targetGroup.registeredAtMs`).
pub async fn register_targets(ctx: &Context, state: State) -> Result<u64, StepError> {
    let group = state.target_group()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let mut targets = Vec::new();
    for i in instances(&state)? {
        if i.private_ip.is_empty() {
            return Err(StepError::ResourceFailed(format!(
                "instance {} has no private IP",
                i.instance_id
            )));
        }
        targets.push(
            TargetDescription::builder()
                .id(&i.private_ip)
                .port(i.port)
                .availability_zone("all")
                .build(),
        );
    }
    net.elb
        .register_targets()
        .target_group_arn(&group.target_group_arn)
        .set_targets(Some(targets))
        .send()
        .await
        .named("elasticloadbalancing:RegisterTargets", &net.role_arn)?;
    Ok(now_epoch_ms())
}

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
    for i in instances(state)? {
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
    Ok(instances(&state)?
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
        Poll::Ready(()) => Ok(instances(&state)?
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
