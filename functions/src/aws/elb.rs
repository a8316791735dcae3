//! ELBv2 calls and conversions: the service's actions to and from the SDK's types (the
//! model itself is `crate::traffic`), target groups, tags, target health.

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};
use crate::names;
use crate::plan::Plan;
use crate::traffic::{
    ActionModel, ActionType, FixedResponseModel, ForwardModel, StickinessModel, WeightedGroup,
    expand_forward,
};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    TargetGroupStickinessConfig, TargetGroupTuple, TargetHealthStateEnum,
};

/// Conversions between the model and the SDK's `Action`.
impl ActionModel {
    /// Only the kinds carveout restores exactly (forward, fixed-response); anything else
    /// is an error naming it.
    pub fn from_sdk(action: &Action) -> Result<Self, String> {
        let name = action.r#type().map(|t| t.as_str()).unwrap_or_default();
        let kind = ActionType::parse(name)
            .filter(|_| {
                action.authenticate_oidc_config().is_none()
                    && action.authenticate_cognito_config().is_none()
                    && action.redirect_config().is_none()
                    && action.jwt_validation_config().is_none()
            })
            .ok_or_else(|| {
                format!(
                    "a {name} action: carveout only moves actions made of forward (and fixed-response) actions"
                )
            })?;
        Ok(ActionModel {
            kind,
            order: action.order(),
            target_group_arn: action.target_group_arn().map(str::to_string),
            forward_config: action.forward_config().map(|fc| ForwardModel {
                target_groups: fc
                    .target_groups()
                    .iter()
                    .map(|t| WeightedGroup {
                        target_group_arn: t.target_group_arn().unwrap_or_default().to_string(),
                        weight: t.weight(),
                    })
                    .collect(),
                target_group_stickiness_config: fc.target_group_stickiness_config().map(|s| {
                    StickinessModel {
                        enabled: s.enabled(),
                        duration_seconds: s.duration_seconds(),
                    }
                }),
            }),
            fixed_response_config: action.fixed_response_config().map(|f| FixedResponseModel {
                status_code: f.status_code().unwrap_or_default().to_string(),
                content_type: f.content_type().map(str::to_string),
                message_body: f.message_body().map(str::to_string),
            }),
        })
    }

    pub fn to_sdk(&self) -> Result<Action, StepError> {
        let forward = self.forward_config.as_ref().map(|fc| {
            ForwardActionConfig::builder()
                .set_target_groups(Some(
                    fc.target_groups
                        .iter()
                        .map(|g| {
                            TargetGroupTuple::builder()
                                .target_group_arn(&g.target_group_arn)
                                .set_weight(g.weight)
                                .build()
                        })
                        .collect(),
                ))
                .set_target_group_stickiness_config(fc.target_group_stickiness_config.as_ref().map(
                    |s| {
                        TargetGroupStickinessConfig::builder()
                            .set_enabled(s.enabled)
                            .set_duration_seconds(s.duration_seconds)
                            .build()
                    },
                ))
                .build()
        });
        let fixed = self.fixed_response_config.as_ref().map(|f| {
            FixedResponseActionConfig::builder()
                .status_code(&f.status_code)
                .set_content_type(f.content_type.clone())
                .set_message_body(f.message_body.clone())
                .build()
        });
        Ok(Action::builder()
            .r#type(ActionTypeEnum::from(self.kind.as_str()))
            .set_order(self.order)
            .set_target_group_arn(self.target_group_arn.clone())
            .set_forward_config(forward)
            .set_fixed_response_config(fixed)
            .build())
    }
}

pub fn actions_from_sdk(actions: &[Action]) -> Result<Vec<ActionModel>, String> {
    actions.iter().map(ActionModel::from_sdk).collect()
}

pub fn actions_to_sdk(actions: &[ActionModel]) -> Result<Vec<Action>, StepError> {
    actions.iter().map(ActionModel::to_sdk).collect()
}

/// The service's action as it is now (the rule's, or the listener default's), or
/// `CarveOut.Conflict` when it cannot be read back into the model (someone changed it to
/// a kind carveout does not restore).
pub async fn service_actions(
    net: &AccountClients,
    listener_arn: &str,
    rule_arn: Option<&str>,
) -> Result<Vec<ActionModel>, StepError> {
    actions_from_sdk(&current_actions(net, listener_arn, rule_arn).await?).map_err(|e| {
        StepError::conflict(format!(
            "the service's action changed since Preflight: it now has {e}"
        ))
    })
}

/// The actions of the service's forward action today: the rule's or the listener default's
/// (reads every page of the answer).
pub async fn current_actions(
    net: &AccountClients,
    listener_arn: &str,
    rule_arn: Option<&str>,
) -> Result<Vec<Action>, StepError> {
    match rule_arn {
        Some(rule) => {
            let rules = net
                .elb
                .describe_rules()
                .rule_arns(rule)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("elasticloadbalancing:DescribeRules", &net.role_arn)?;
            Ok(rules
                .first()
                .map(|r| r.actions().to_vec())
                .unwrap_or_default())
        }
        None => {
            let listeners = net
                .elb
                .describe_listeners()
                .listener_arns(listener_arn)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("elasticloadbalancing:DescribeListeners", &net.role_arn)?;
            Ok(listeners
                .first()
                .map(|l| l.default_actions().to_vec())
                .unwrap_or_default())
        }
    }
}

/// Replaces the service's forward action (rule or listener default) with `actions`.
pub async fn set_actions(
    net: &AccountClients,
    listener_arn: &str,
    rule_arn: Option<&str>,
    actions: &[ActionModel],
) -> Result<(), StepError> {
    let sdk = actions_to_sdk(actions)?;
    match rule_arn {
        Some(rule) => {
            net.elb
                .modify_rule()
                .rule_arn(rule)
                .set_actions(Some(sdk))
                .send()
                .await
                .named("elasticloadbalancing:ModifyRule", &net.role_arn)?;
        }
        None => {
            net.elb
                .modify_listener()
                .listener_arn(listener_arn)
                .set_default_actions(Some(sdk))
                .send()
                .await
                .named("elasticloadbalancing:ModifyListener", &net.role_arn)?;
        }
    }
    Ok(())
}

/// Health of every target of a group: (id, port, state, reason).
pub async fn target_health(
    net: &AccountClients,
    target_group_arn: &str,
) -> Result<Vec<(String, i32, String, String)>, StepError> {
    let out = net
        .elb
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeTargetHealth", &net.role_arn)?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let target = d.target();
            let health = d.target_health();
            (
                target.and_then(|t| t.id()).unwrap_or_default().to_string(),
                target.and_then(|t| t.port()).unwrap_or_default(),
                health
                    .and_then(|h| h.state())
                    .map(|s: &TargetHealthStateEnum| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into()),
                health
                    .and_then(|h| h.reason())
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect())
}

/// The target group of this migration, if an earlier run created it (found by name on
/// every page, confirmed by tag).
pub async fn find_target_group(
    net: &AccountClients,
    name: &str,
    migration_id: &str,
) -> Result<Option<String>, StepError> {
    let out = net
        .elb
        .describe_target_groups()
        .names(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let groups = match out.named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn) {
        Ok(groups) => groups,
        Err(f) if f.is("TargetGroupNotFound") => return Ok(None),
        Err(f) => return Err(f.into()),
    };
    let Some(arn) = groups.first().and_then(|g| g.target_group_arn()) else {
        return Ok(None);
    };
    if tagged_with(net, arn, migration_id).await? {
        Ok(Some(arn.to_string()))
    } else {
        Err(StepError::conflict(format!(
            "a target group named {name} exists ({arn}) but does not carry this migration's tag; rename or delete it"
        )))
    }
}

/// True when the ELBv2 resource carries `carveout:migration-id = migration_id`.
pub async fn tagged_with(
    net: &AccountClients,
    arn: &str,
    migration_id: &str,
) -> Result<bool, StepError> {
    let out = net
        .elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeTags", &net.role_arn)?;
    Ok(out.tag_descriptions().iter().any(|d| {
        d.tags().iter().any(|t| {
            t.key() == Some(crate::names::MIGRATION_TAG) && t.value() == Some(migration_id)
        })
    }))
}

pub fn migration_tags(migration_id: &str) -> Vec<elbv2::types::Tag> {
    vec![
        elbv2::types::Tag::builder()
            .key(crate::names::MIGRATION_TAG)
            .value(migration_id)
            .build(),
    ]
}

/// After cutover the action forwards to this migration's own group; the original action
/// was saved (compactly) in a tag of that group at its creation. Returns it when
/// `current` is one forward to exactly that group (a re-run after cutover, `carveout
/// revert`), else None.
pub async fn saved_original(
    plan: &Plan,
    net: &AccountClients,
    current: &[ActionModel],
) -> Result<Option<ActionModel>, StepError> {
    let [action] = current else { return Ok(None) };
    let groups = action.forwarded_groups();
    let name = names::target_group(&plan.migration_id);
    if action.kind != ActionType::Forward
        || groups.len() != 1
        || !groups[0].contains(&format!(":targetgroup/{name}/"))
    {
        return Ok(None);
    }
    let Some(ours) = find_target_group(net, &name, &plan.migration_id).await? else {
        return Ok(None);
    };
    if groups[0] != ours {
        return Ok(None);
    }
    let tags = net
        .elb
        .describe_tags()
        .resource_arns(&ours)
        .send()
        .await
        .named("elasticloadbalancing:DescribeTags", &net.role_arn)?;
    let saved = tags
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .find(|t| t.key() == Some(names::ORIGINAL_FORWARD_TAG))
        .and_then(|t| t.value().map(str::to_string));
    tracing::info!("the service already forwards to {ours}: this is a re-run after cutover");
    Ok(Some(match saved {
        Some(compact) => expand_forward(&compact, &plan.service.target_group_arn),
        None => ActionModel::forward_to(&plan.service.target_group_arn, action.order),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{aws_error, clients, two_pages};
    use aws_smithy_mocks::mock;
    use elbv2::operation::describe_rules::DescribeRulesOutput;
    use elbv2::operation::describe_tags::DescribeTagsOutput;
    use elbv2::operation::describe_target_groups::{
        DescribeTargetGroupsError, DescribeTargetGroupsOutput,
    };
    use elbv2::types::{TagDescription, TargetGroup};

    #[tokio::test]
    async fn a_missing_target_group_is_none() {
        let describe = mock!(elbv2::Client::describe_target_groups)
            .then_error(|| DescribeTargetGroupsError::generic(aws_error("TargetGroupNotFound")));
        let c = clients(&[], &[&describe], &[]);
        assert_eq!(find_target_group(&c, "carveout-x", "x").await, Ok(None));
    }

    #[tokio::test]
    async fn a_rule_answered_after_an_empty_first_page_is_read() {
        let forward = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("arn:tg/a")
            .build();
        let [first, second] = two_pages!(
            elbv2::Client::describe_rules,
            marker => next_marker,
            DescribeRulesOutput::builder(),
            DescribeRulesOutput::builder().rules(
                elbv2::types::Rule::builder().rule_arn("arn:rule/1").actions(forward.clone()).build()
            ),
        );
        let c = clients(&[], &[&first, &second], &[]);
        let actions = current_actions(&c, "arn:listener", Some("arn:rule/1"))
            .await
            .unwrap();
        assert_eq!(actions.len(), 1, "the rule's action, from the second page");
    }

    #[tokio::test]
    async fn a_same_named_group_without_our_tag_is_a_conflict() {
        let describe = mock!(elbv2::Client::describe_target_groups).then_output(|| {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    TargetGroup::builder()
                        .target_group_arn("arn:tg/carveout-x")
                        .build(),
                )
                .build()
        });
        let tags = mock!(elbv2::Client::describe_tags).then_output(|| {
            DescribeTagsOutput::builder()
                .tag_descriptions(
                    TagDescription::builder()
                        .resource_arn("arn:tg/carveout-x")
                        .build(),
                )
                .build()
        });
        let c = clients(&[], &[&describe, &tags], &[]);
        let err = find_target_group(&c, "carveout-x", "x").await.unwrap_err();
        assert_eq!(err.name(), "CarveOut.Conflict");
    }

    #[test]
    fn weighted_forward_with_stickiness_round_trips_through_the_sdk_type() {
        let original = ActionModel::weighted_forward(
            [("arn:tg/a".to_string(), 80), ("arn:tg/b".to_string(), 20)],
            Some(1),
            Some(StickinessModel {
                enabled: Some(true),
                duration_seconds: Some(300),
            }),
        );
        let back = ActionModel::from_sdk(&original.to_sdk().unwrap()).unwrap();
        assert_eq!(back, original);
        let json = serde_json::to_value(&original).unwrap();
        assert_eq!(
            json["ForwardConfig"]["TargetGroupStickinessConfig"]["DurationSeconds"],
            300
        );
    }

    #[test]
    fn redirects_are_refused_rather_than_half_restored() {
        let action = Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .redirect_config(
                elbv2::types::RedirectActionConfig::builder()
                    .status_code(elbv2::types::RedirectActionStatusCodeEnum::Http301)
                    .build(),
            )
            .build();
        assert!(ActionModel::from_sdk(&action).is_err());
    }
}
