//! Preflight, the service: the listener or rule whose forward action moves, its target
//! group and settings, the load balancer (an ALB with security groups), room for the probe
//! rule, and the original action saved by an earlier run.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetTypeEnum};

use crate::accounts::AccountClients;
use crate::aws::elb::{actions_from_sdk, saved_original, target_health};
use crate::aws::probe::{highest_free_priority, is_probe_rule, listener_rules};
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;
use crate::state::{ServiceFacts, TargetGroupSettings};
use crate::traffic::ActionType;

use super::check::Verdict;

pub(super) struct ResolvedService {
    pub(super) lb_arn: String,
    pub(super) facts: ServiceFacts,
    /// Registered targets of the original group: (id, port).
    pub(super) targets: Vec<(String, i32)>,
    pub(super) target_type: TargetType,
}

/// How the original group names its targets: by instance id or by private IP (the only
/// two types whose targets carveout can move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetType {
    Instance,
    Ip,
}

impl TargetType {
    /// The target id of an instance in a group of this type.
    pub(super) fn target_id<'a>(self, instance_id: &'a str, private_ip: &'a str) -> &'a str {
        match self {
            TargetType::Instance => instance_id,
            TargetType::Ip => private_ip,
        }
    }
}

/// The plan's listener, rule and target group as they are (every page of each answer).
pub(super) async fn resolve_service(
    plan: &Plan,
    net: &AccountClients,
) -> Result<ResolvedService, StepError> {
    let s = &plan.service;
    let listener = match net
        .elb
        .describe_listeners()
        .listener_arns(&s.listener_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeListeners", &net.role_arn)
    {
        Ok(listeners) => listeners.into_iter().next(),
        Err(f) if f.is("ListenerNotFound") => None,
        Err(f) => return Err(f.into()),
    }
    .ok_or_else(|| {
        StepError::invalid_plan(format!(
            "service.listenerArn {} does not exist",
            s.listener_arn
        ))
    })?;
    let lb_arn = listener.load_balancer_arn().unwrap_or_default().to_string();

    let rules = listener_rules(net, &s.listener_arn).await?;
    let used: BTreeSet<i32> = rules
        .iter()
        .filter_map(|r| r.priority()?.parse().ok())
        .collect();
    let probe_priority = highest_free_priority(&used).ok_or_else(|| {
        StepError::invalid_plan("the listener has no free rule priority for the probe rule")
    })?;

    let actions = match &s.rule_arn {
        Some(rule_arn) => rules
            .iter()
            .find(|r| r.rule_arn() == Some(rule_arn))
            .ok_or_else(|| {
                StepError::invalid_plan(format!(
                    "service.ruleArn {rule_arn} is not a rule of listener {}",
                    s.listener_arn
                ))
            })?
            .actions()
            .to_vec(),
        None => listener.default_actions().to_vec(),
    };
    let what = if s.rule_arn.is_some() {
        "the rule"
    } else {
        "the listener's default action"
    };
    let current = actions_from_sdk(&actions)
        .map_err(|e| StepError::invalid_plan(format!("{what} has {e}")))?;
    let original = match saved_original(plan, net, &current).await? {
        Some(saved) => vec![saved],
        None => current,
    };
    let forwards: Vec<_> = original
        .iter()
        .filter(|a| a.kind == ActionType::Forward)
        .collect();
    if forwards.len() != 1 || forwards[0].forwarded_groups() != vec![s.target_group_arn.as_str()] {
        let now: Vec<&str> = forwards.iter().flat_map(|a| a.forwarded_groups()).collect();
        let maintenance = if original.iter().any(|a| a.kind == ActionType::FixedResponse) {
            " (it answers with a fixed response: if that is carveout's maintenance answer from a stop-source execution that ended without Rollback, the watcher puts the saved action back and says so on the notification topic; if it reports it could not, restore facts.service.originalActions from that execution's history)"
        } else {
            ""
        };
        return Err(StepError::invalid_plan(format!(
            "{what} must forward only to service.targetGroupArn {}; it forwards to {:?}{maintenance}",
            s.target_group_arn, now
        )));
    }

    let group = match net
        .elb
        .describe_target_groups()
        .target_group_arns(&s.target_group_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn)
    {
        Ok(groups) => groups.into_iter().next(),
        Err(f) if f.is("TargetGroupNotFound") => None,
        Err(f) => return Err(f.into()),
    }
    .ok_or_else(|| {
        StepError::invalid_plan(format!(
            "service.targetGroupArn {} does not exist",
            s.target_group_arn
        ))
    })?;
    let target_type = match group.target_type() {
        Some(TargetTypeEnum::Instance) => TargetType::Instance,
        Some(TargetTypeEnum::Ip) => TargetType::Ip,
        other => {
            return Err(StepError::invalid_plan(format!(
                "target group {} has target type {}; only instance and ip groups can be moved",
                s.target_group_arn,
                other.map(|t| t.as_str()).unwrap_or("(none)")
            )));
        }
    };
    let mut settings = settings_of(&group)?;
    settings.attributes = net
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&s.target_group_arn)
        .send()
        .await
        .named(
            "elasticloadbalancing:DescribeTargetGroupAttributes",
            &net.role_arn,
        )?
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
        .collect();
    let targets = target_health(net, &s.target_group_arn)
        .await?
        .into_iter()
        .map(|(id, port, _, _)| (id, port))
        .collect();
    Ok(ResolvedService {
        lb_arn,
        facts: ServiceFacts {
            listener_arn: s.listener_arn.clone(),
            rule_arn: s.rule_arn.clone(),
            target_group_arn: s.target_group_arn.clone(),
            original_actions: original,
            target_group: settings,
            probe_priority,
        },
        targets,
        target_type,
    })
}

pub(super) fn settings_of(group: &TargetGroup) -> Result<TargetGroupSettings, StepError> {
    let protocol = group
        .protocol()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS") {
        return Err(StepError::invalid_plan(format!(
            "target group protocol {protocol:?}: an ALB target group is HTTP or HTTPS"
        )));
    }
    Ok(TargetGroupSettings {
        protocol,
        port: group.port().unwrap_or(80),
        protocol_version: group.protocol_version().map(str::to_string),
        ip_address_type: group.ip_address_type().map(|t| t.as_str().to_string()),
        health_check_protocol: group
            .health_check_protocol()
            .map(|p| p.as_str().to_string()),
        health_check_port: group.health_check_port().map(str::to_string),
        health_check_path: group.health_check_path().map(str::to_string),
        health_check_interval_seconds: group.health_check_interval_seconds(),
        health_check_timeout_seconds: group.health_check_timeout_seconds(),
        healthy_threshold_count: group.healthy_threshold_count(),
        unhealthy_threshold_count: group.unhealthy_threshold_count(),
        matcher_http_code: group
            .matcher()
            .and_then(|m| m.http_code())
            .map(str::to_string),
        matcher_grpc_code: group
            .matcher()
            .and_then(|m| m.grpc_code())
            .map(str::to_string),
        attributes: Default::default(),
    })
}

/// The ALB's rules quota (`rules-per-application-load-balancer`, from
/// DescribeAccountLimits) and how many rules its listeners use, counting neither the
/// defaults nor this migration's own probe rule from an earlier run.
pub(super) struct RuleCount {
    pub used: usize,
    pub max: Option<usize>,
}

pub(super) const RULES_QUOTA: &str = "rules-per-application-load-balancer";

/// [`RuleCount`] from every page of DescribeAccountLimits, DescribeListeners and each
/// listener's DescribeRules.
pub(super) async fn count_rules(
    net: &AccountClients,
    lb_arn: &str,
    migration_id: &str,
) -> Result<RuleCount, StepError> {
    let max = crate::aws::quotas::elb_limit(net, RULES_QUOTA)
        .await?
        .map(|m| m as usize);
    let listeners = net
        .elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeListeners", &net.role_arn)?;
    let mut used = 0;
    for arn in listeners.iter().filter_map(|l| l.listener_arn()) {
        used += listener_rules(net, arn)
            .await?
            .iter()
            .filter(|r| r.is_default() != Some(true) && !is_probe_rule(r, migration_id))
            .count();
    }
    Ok(RuleCount { used, max })
}

/// The probe rule is one more rule on the load balancer: refuse a plan whose ALB is at
/// its rules quota (100 by default,
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html>).
pub(super) fn rule_quota(lb_arn: &str, count: &RuleCount) -> Verdict {
    let used = count.used;
    match count.max {
        Some(max) if used >= max => Err(StepError::invalid_plan(format!(
            "load balancer {lb_arn} has {used} listener rules and its quota ({RULES_QUOTA}) is {max}: the probe rule that checks the new targets' health before cutover needs one more; delete an unused rule or raise the quota in Service Quotas"
        ))),
        Some(max) => Ok(format!(
            "the load balancer has {used} of {max} rules: room for the probe rule"
        )),
        None => Ok(format!(
            "the load balancer has {used} rules (quota {RULES_QUOTA} not reported)"
        )),
    }
}

/// The ALB's VPC, subnets and security groups (every page of DescribeLoadBalancers).
pub(super) async fn load_balancer(
    net: &AccountClients,
    lb_arn: &str,
) -> Result<(String, Vec<String>, Vec<String>), StepError> {
    let lbs = net
        .elb
        .describe_load_balancers()
        .load_balancer_arns(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeLoadBalancers", &net.role_arn)?;
    let lb = lbs.first().ok_or_else(|| {
        StepError::invalid_plan(format!(
            "the listener's load balancer {lb_arn} does not exist"
        ))
    })?;
    if lb.r#type().map(|t| t.as_str()) != Some("application") {
        return Err(StepError::invalid_plan(format!(
            "{lb_arn} is not an Application Load Balancer"
        )));
    }
    let vpc = lb.vpc_id().unwrap_or_default().to_string();
    let subnets = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    let sgs: Vec<String> = lb.security_groups().to_vec();
    if sgs.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "load balancer {lb_arn} has no security group to reference from the new instances' group"
        )));
    }
    Ok((vpc, subnets, sgs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_listeners_and_rules_on_every_page_are_counted() {
        use crate::test_support::{clients, two_pages};
        use aws_sdk_elasticloadbalancingv2::operation::describe_account_limits::DescribeAccountLimitsOutput as Limits;
        use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput as Listeners;
        use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput as Rules;
        use aws_sdk_elasticloadbalancingv2::types::{Limit, Listener, Rule};
        let limit = |name: &str, max: &str| Limit::builder().name(name).max(max).build();
        let listener = |arn: &str| Listener::builder().listener_arn(arn).build();
        let rule = |default: bool| Rule::builder().is_default(default).build();
        let [l1, l2] = two_pages!(
            aws_sdk_elasticloadbalancingv2::Client::describe_account_limits,
            marker => next_marker,
            Limits::builder().limits(limit("target-groups", "3000")),
            Limits::builder().limits(limit(RULES_QUOTA, "100")),
        );
        let [s1, s2] = two_pages!(
            aws_sdk_elasticloadbalancingv2::Client::describe_listeners,
            marker => next_marker,
            Listeners::builder().listeners(listener("arn:listener/1")),
            Listeners::builder().listeners(listener("arn:listener/2")),
        );
        let [a1, a2] = two_pages!(
            aws_sdk_elasticloadbalancingv2::Client::describe_rules,
            marker => next_marker,
            Rules::builder().rules(rule(false)),
            Rules::builder().rules(rule(false)).rules(rule(true)),
        );
        let [b1, b2] = two_pages!(
            aws_sdk_elasticloadbalancingv2::Client::describe_rules,
            marker => next_marker,
            Rules::builder().rules(rule(true)),
            Rules::builder().rules(rule(false)),
        );
        let c = clients(&[], &[&l1, &l2, &s1, &s2, &a1, &a2, &b1, &b2], &[]);
        let count = count_rules(&c, "arn:lb", "m-1").await.unwrap();
        assert_eq!((count.used, count.max), (3, Some(100)));
    }

    #[test]
    fn the_probe_rule_needs_a_free_slot_under_the_rules_quota() {
        let full = RuleCount {
            used: 100,
            max: Some(100),
        };
        let err = rule_quota("arn:lb", &full).unwrap_err();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        assert!(err.to_string().contains("100 listener rules"), "{err}");
        let room = RuleCount {
            used: 99,
            max: Some(100),
        };
        assert!(rule_quota("arn:lb", &room).unwrap().contains("99 of 100"));
        let unknown = RuleCount { used: 3, max: None };
        assert!(rule_quota("arn:lb", &unknown).is_ok());
    }
}
