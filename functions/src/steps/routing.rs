//! The routing steps: the new IP target group, the probe rule that makes its health
//! known, the health gate, the gradual (weighted, health-gated) shift and the cutover of
//! the service's forward action.

use aws_sdk_elasticloadbalancingv2::types::{
    HttpHeaderConditionConfig, Matcher, ProtocolEnum, Rule, RuleCondition, TargetDescription,
    TargetGroupIpAddressTypeEnum, TargetTypeEnum,
};

use crate::accounts::AccountClients;
use crate::aws::elb::{
    ActionModel, actions_from_sdk, compact_forward, current_actions, find_target_group,
    migration_tags, same_routing, set_actions, tagged_with, target_health,
};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::{Poll, find_or_create, poll_once};
use crate::names::{self, PROBE_HEADER};
use crate::state::{CutoverOut, LaunchedInstance, ProbeRuleOut, ShiftOut, State, TargetGroupOut};

use super::Context;

pub async fn create_target_group(ctx: &Context, state: State) -> Result<TargetGroupOut, StepError> {
    let facts = state.facts()?;
    let net = ctx.network(&state).await?;
    let id = &state.plan.migration_id;
    let name = names::target_group(id);
    let s = &facts.service.target_group;
    let to_out = |arn: &str| TargetGroupOut {
        target_group_arn: arn.to_string(),
        name: name.clone(),
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
    Ok(ensured.value)
}

fn instances(state: &State) -> Result<&Vec<LaunchedInstance>, StepError> {
    State::need(&state.instances, "instances")
}

/// Registers every new private IP. The addresses are in a peered VPC, outside the ALB's
/// VPC: AWS requires `AvailabilityZone=all` for them. Registering twice is a no-op.
pub async fn register_targets(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let group = State::need(&state.target_group, "targetGroup")?;
    let net = ctx.network(&state).await?;
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
    Ok(instances(&state)?
        .iter()
        .map(|i| format!("{}:{}", i.private_ip, i.port))
        .collect())
}

/// The probe rule of this migration on the listener, if there is one.
/// Whether `rule` matches like this migration's probe rule (its header and migration id).
pub fn is_probe_rule(rule: &Rule, migration_id: &str) -> bool {
    rule.conditions().iter().any(|c| {
        c.http_header_config().is_some_and(|h| {
            h.http_header_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(PROBE_HEADER))
                && h.values().iter().any(|v| v == migration_id)
        })
    })
}

pub async fn find_probe_rule(
    net: &AccountClients,
    listener_arn: &str,
    migration_id: &str,
) -> Result<Option<ProbeRuleOut>, StepError> {
    let out = net
        .elb
        .describe_rules()
        .listener_arn(listener_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeRules", &net.role_arn)?;
    for rule in out.rules() {
        if let (true, Some(arn)) = (is_probe_rule(rule, migration_id), rule.rule_arn())
            && tagged_with(net, arn, migration_id).await?
        {
            return Ok(Some(ProbeRuleOut {
                rule_arn: arn.to_string(),
                priority: rule
                    .priority()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_default(),
            }));
        }
    }
    Ok(None)
}

/// A target group's health is unknown (`unused`) until a listener forwards to it. The
/// probe rule forwards to it only requests carrying `X-Carveout-Probe: <migration id>`,
/// which no real client sends, so the ALB starts health checks without real traffic.
pub async fn attach_probe_rule(
    ctx: &Context,
    state: State,
) -> Result<Option<ProbeRuleOut>, StepError> {
    let facts = state.facts()?;
    let group = State::need(&state.target_group, "targetGroup")?;
    let net = ctx.network(&state).await?;
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
    let id = &state.plan.migration_id;
    let listener = &facts.service.listener_arn;
    let priority = facts.service.probe_priority;
    let ensured = find_or_create(
        "probe rule",
        || async { find_probe_rule(&net, listener, id).await },
        || async {
            let condition = RuleCondition::builder()
                .field("http-header")
                .http_header_config(HttpHeaderConditionConfig::builder().http_header_name(PROBE_HEADER).values(id).build())
                .build();
            let out = net.elb.create_rule()
                .listener_arn(listener)
                .priority(priority)
                .conditions(condition)
                .actions(ActionModel::forward_to(&group.target_group_arn, None).to_sdk()?)
                .set_tags(Some(migration_tags(id)))
                .send().await.named("elasticloadbalancing:CreateRule", &net.role_arn);
            match out {
                Ok(out) => Ok(out.rules().first().and_then(|r| r.rule_arn()).map(|arn| ProbeRuleOut { rule_arn: arn.to_string(), priority })),
                Err(f) if f.is("PriorityInUse") => Err(StepError::conflict(format!(
                    "listener rule priority {priority} was free at Preflight and is taken now; run the migration again"
                ))),
                Err(f) => Err(f.into()),
            }
        },
    )
    .await?;
    Ok(Some(ensured.value))
}

/// Every new target healthy? Anything else is "not yet" (the deadline is the state's
/// MaxAttempts): `initial` while checks run, `unhealthy` may still recover.
async fn health_of(net: &AccountClients, state: &State) -> Result<Poll<()>, StepError> {
    let group = State::need(&state.target_group, "targetGroup")?;
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

pub async fn wait_targets_healthy(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let group = State::need(&state.target_group, "targetGroup")?;
    let net = ctx.network(&state).await?;
    poll_once(
        &format!("targets of {}", group.name),
        health_of(&net, &state).await?,
    )?;
    Ok(instances(&state)?
        .iter()
        .map(|i| i.private_ip.clone())
        .collect())
}

/// The original actions with the service's forward pointed at the new group.
pub fn cutover_actions(original: &[ActionModel], new_group: &str) -> Vec<ActionModel> {
    original
        .iter()
        .map(|a| {
            if a.kind == "forward" {
                ActionModel::forward_to(new_group, a.order)
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The forward actions with `percent` of the traffic on the new group: every original
/// group keeps its share of the rest, in its original proportion, and the original
/// stickiness is kept. 100 % is the cutover itself.
pub fn shifted_actions(original: &[ActionModel], new_group: &str, percent: u8) -> Vec<ActionModel> {
    if percent >= 100 {
        return cutover_actions(original, new_group);
    }
    original
        .iter()
        .map(|a| {
            if a.kind != "forward" {
                return a.clone();
            }
            let (groups, stickiness) = match &a.forward_config {
                Some(fc) => (
                    fc.target_groups
                        .iter()
                        .map(|g| (g.target_group_arn.clone(), i64::from(g.weight.unwrap_or(1))))
                        .collect::<Vec<_>>(),
                    fc.target_group_stickiness_config.clone(),
                ),
                None => (
                    vec![(a.target_group_arn.clone().unwrap_or_default(), 1)],
                    None,
                ),
            };
            let total: i64 = groups.iter().map(|(_, w)| w).sum();
            let mut weights: Vec<i64> = groups
                .iter()
                .map(|(_, w)| w * i64::from(100 - percent))
                .chain([total * i64::from(percent)])
                .collect();
            normalize_weights(&mut weights);
            let arns = groups
                .into_iter()
                .map(|(arn, _)| arn)
                .chain([new_group.to_string()]);
            ActionModel::weighted_forward(
                arns.zip(weights.into_iter().map(|w| w as i32)),
                a.order,
                stickiness,
            )
        })
        .collect()
}

/// Smallest integer weights with the same ratios, within the ALB's 0..=999.
fn normalize_weights(weights: &mut [i64]) {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = weights.iter().fold(0, |acc, &w| gcd(acc, w));
    if g > 1 {
        weights.iter_mut().for_each(|w| *w /= g);
    }
    let max = weights.iter().copied().max().unwrap_or(0);
    if max > 999 {
        for w in weights.iter_mut() {
            let scaled = (*w * 999 + max / 2) / max;
            *w = if *w > 0 { scaled.max(1) } else { 0 };
        }
    }
}

/// The action as it is now, or a Conflict when it cannot be read back into our model.
pub(super) async fn service_actions(
    net: &AccountClients,
    state: &State,
) -> Result<Vec<ActionModel>, StepError> {
    let s = &state.facts()?.service;
    actions_from_sdk(&current_actions(net, &s.listener_arn, s.rule_arn.as_deref()).await?).map_err(
        |e| {
            StepError::conflict(format!(
                "the service's action changed since Preflight: it now has {e}"
            ))
        },
    )
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
    let maintenance = super::maintenance::maintenance_of(state)?;
    Ok(same_routing(current, original)
        || maintenance.is_some_and(|m| same_routing(current, &m))
        || state
            .plan
            .options
            .traffic_shift
            .iter()
            .any(|&p| same_routing(current, &shifted_actions(original, new_group, p))))
}

pub(super) fn changed_elsewhere(current: &[ActionModel]) -> StepError {
    StepError::conflict(format!(
        "the service's action was changed outside carveout since Preflight (it forwards to {:?}); nothing was changed",
        current
            .iter()
            .flat_map(|a| a.forwarded_groups())
            .collect::<Vec<_>>()
    ))
}

/// Moves the action to `desired` when every new target is healthy right now and the
/// action is still carveout's to move; true when it changed (false: already there).
async fn move_traffic(
    net: &AccountClients,
    state: &State,
    desired: &[ActionModel],
    what: &str,
) -> Result<bool, StepError> {
    let s = &state.facts()?.service;
    let group = State::need(&state.target_group, "targetGroup")?;
    let current = service_actions(net, state).await?;
    if same_routing(&current, desired) {
        return Ok(false);
    }
    if !ours_to_move(&current, state, &group.target_group_arn)? {
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
    let group = State::need(&state.target_group, "targetGroup")?;
    let percent = *State::need(&state.shift_percent, "shiftPercent")?;
    let net = ctx.network(&state).await?;
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

/// Health is checked at least this often while a traffic step is held…
pub const HOLD_CHECK_SECONDS: u32 = 15;
/// …but at most this many times per step, which keeps a long hold (up to an hour, ten
/// steps) far below Step Functions' 25,000-event history.
pub const MAX_HOLD_CHECKS: u32 = 20;

/// The hold of one traffic step as the waits between health checks: `interval` split
/// into the fewest parts of at most HOLD_CHECK_SECONDS (at most MAX_HOLD_CHECKS parts),
/// summing to `interval` exactly. Always one part, so a step is checked at least once.
pub fn hold_checks(interval: u32) -> Vec<u32> {
    let parts = interval
        .div_ceil(HOLD_CHECK_SECONDS)
        .clamp(1, MAX_HOLD_CHECKS);
    let (each, rest) = (interval / parts, interval % parts);
    (0..parts).map(|i| each + u32::from(i < rest)).collect()
}

/// While and after a step is held: every new target must still be healthy, and the action still
/// the step's; anything else fails the migration (and Rollback restores the original).
pub async fn check_shift(ctx: &Context, state: State) -> Result<Vec<String>, StepError> {
    let facts = state.facts()?;
    let group = State::need(&state.target_group, "targetGroup")?;
    let percent = *State::need(&state.shift_percent, "shiftPercent")?;
    let net = ctx.network(&state).await?;
    let current = service_actions(&net, &state).await?;
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
    let group = State::need(&state.target_group, "targetGroup")?;
    let net = ctx.network(&state).await?;
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

/// Deletes this migration's probe rule if there is one; true when one was deleted.
pub async fn remove_probe_rule(
    net: &AccountClients,
    listener_arn: &str,
    migration_id: &str,
) -> Result<bool, StepError> {
    let Some(rule) = find_probe_rule(net, listener_arn, migration_id).await? else {
        return Ok(false);
    };
    match net
        .elb
        .delete_rule()
        .rule_arn(&rule.rule_arn)
        .send()
        .await
        .named("elasticloadbalancing:DeleteRule", &net.role_arn)
    {
        Ok(_) => Ok(true),
        Err(f) if f.is("RuleNotFound") => Ok(false),
        Err(f) => Err(f.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elb::StickinessModel;

    #[test]
    fn holds_are_cut_into_checks_of_at_most_15_s_and_at_most_20_per_step() {
        assert_eq!(hold_checks(0), vec![0]);
        assert_eq!(hold_checks(10), vec![10]);
        assert_eq!(hold_checks(60), vec![15, 15, 15, 15]);
        assert_eq!(hold_checks(40), vec![14, 13, 13]);
        let hour = hold_checks(3600);
        assert_eq!(hour.len(), 20);
        assert!(hour.iter().all(|&s| s == 180));
        for interval in [0, 1, 14, 15, 16, 299, 301, 3599, 3600] {
            assert_eq!(hold_checks(interval).iter().sum::<u32>(), interval);
        }
    }

    fn weighted(groups: &[(&str, i32)], stickiness: Option<StickinessModel>) -> ActionModel {
        ActionModel::weighted_forward(
            groups.iter().map(|(arn, w)| (arn.to_string(), *w)),
            Some(1),
            stickiness,
        )
    }

    #[test]
    fn a_step_sends_its_percentage_to_the_new_group_and_the_rest_as_before() {
        let original = vec![ActionModel::forward_to("arn:old", Some(1))];
        let ten = shifted_actions(&original, "arn:new", 10);
        assert_eq!(ten, vec![weighted(&[("arn:old", 9), ("arn:new", 1)], None)]);
        let half = shifted_actions(&original, "arn:new", 50);
        assert_eq!(
            half,
            vec![weighted(&[("arn:old", 1), ("arn:new", 1)], None)]
        );
        assert_eq!(
            shifted_actions(&original, "arn:new", 100),
            cutover_actions(&original, "arn:new")
        );
    }

    #[test]
    fn a_weighted_original_keeps_its_proportions_and_stickiness() {
        let sticky = StickinessModel {
            enabled: Some(true),
            duration_seconds: Some(300),
        };
        let original = vec![weighted(
            &[("arn:a", 80), ("arn:b", 20)],
            Some(sticky.clone()),
        )];
        let half = shifted_actions(&original, "arn:new", 50);
        assert_eq!(
            half,
            vec![weighted(
                &[("arn:a", 4), ("arn:b", 1), ("arn:new", 5)],
                Some(sticky)
            )]
        );
    }

    #[test]
    fn weights_stay_within_the_albs_limit() {
        let original = vec![weighted(&[("arn:a", 997), ("arn:b", 3)], None)];
        let step = shifted_actions(&original, "arn:new", 33);
        let weights: Vec<i32> = step[0]
            .forward_config
            .as_ref()
            .unwrap()
            .target_groups
            .iter()
            .map(|g| g.weight.unwrap())
            .collect();
        assert!(
            weights.iter().all(|&w| (1..=999).contains(&w)),
            "{weights:?}"
        );
    }

    #[test]
    fn cutover_points_only_the_forward_at_the_new_group_and_keeps_its_order() {
        let original = vec![ActionModel::forward_to("arn:old", Some(2))];
        let cut = cutover_actions(&original, "arn:new");
        assert_eq!(cut, vec![ActionModel::forward_to("arn:new", Some(2))]);
    }
}
