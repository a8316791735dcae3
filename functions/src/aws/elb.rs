//! ELBv2: listener actions as JSON (saved for rollback, compared exactly), target health.

use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    TargetGroupStickinessConfig, TargetGroupTuple, TargetHealthStateEnum,
};
use serde::{Deserialize, Serialize};

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// A listener or rule action as JSON, in AWS's own field names.
///
/// Only the kinds carveout can restore exactly are modelled; Preflight refuses the others
/// (authenticate-*, redirect, JWT validation) so nothing is ever half-restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionModel {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseModel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForwardModel {
    pub target_groups: Vec<WeightedGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<StickinessModel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightedGroup {
    pub target_group_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StickinessModel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FixedResponseModel {
    pub status_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
}

impl ActionModel {
    /// A plain forward of all traffic to one group.
    pub fn forward_to(target_group_arn: &str, order: Option<i32>) -> Self {
        ActionModel {
            kind: "forward".into(),
            order,
            target_group_arn: Some(target_group_arn.into()),
            forward_config: None,
            fixed_response_config: None,
        }
    }

    /// A weighted forward: each group with its weight, and the stickiness to keep.
    pub fn weighted_forward(
        groups: impl IntoIterator<Item = (String, i32)>,
        order: Option<i32>,
        stickiness: Option<StickinessModel>,
    ) -> Self {
        ActionModel {
            kind: "forward".into(),
            order,
            target_group_arn: None,
            forward_config: Some(ForwardModel {
                target_groups: groups
                    .into_iter()
                    .map(|(target_group_arn, weight)| WeightedGroup {
                        target_group_arn,
                        weight: Some(weight),
                    })
                    .collect(),
                target_group_stickiness_config: stickiness,
            }),
            fixed_response_config: None,
        }
    }

    /// The target groups this action sends traffic to (weight > 0, or unweighted).
    pub fn forwarded_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        if let Some(arn) = &self.target_group_arn {
            groups.push(arn);
        }
        if let Some(fc) = &self.forward_config {
            for g in &fc.target_groups {
                if g.weight.unwrap_or(1) > 0 && !groups.contains(&g.target_group_arn.as_str()) {
                    groups.push(&g.target_group_arn);
                }
            }
        }
        groups
    }

    pub fn from_sdk(action: &Action) -> Result<Self, String> {
        let kind = action
            .r#type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default();
        if action.authenticate_oidc_config().is_some()
            || action.authenticate_cognito_config().is_some()
            || action.redirect_config().is_some()
            || action.jwt_validation_config().is_some()
            || !matches!(kind.as_str(), "forward" | "fixed-response")
        {
            return Err(format!(
                "a {kind} action: carveout only moves actions made of forward (and fixed-response) actions"
            ));
        }
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

/// The original forward action, compact enough for an ELBv2 tag value (256 characters of
/// a restricted set: no JSON). Preflight only accepts a single forward to one group, so
/// order, weight and stickiness are all that vary; the group is the plan's.
pub fn compact_forward(actions: &[ActionModel]) -> Option<String> {
    let [a] = actions else { return None };
    if a.kind != "forward" {
        return None;
    }
    let fc = a.forward_config.as_ref();
    let weight = fc
        .and_then(|f| f.target_groups.first())
        .and_then(|g| g.weight);
    let sticky = fc.and_then(|f| f.target_group_stickiness_config.as_ref());
    let part = |name: &str, v: Option<String>| v.map(|v| format!("{name}={v}"));
    let parts: Vec<String> = [
        part("order", a.order.map(|o| o.to_string())),
        part(
            "plain",
            a.target_group_arn.as_ref().map(|_| "1".to_string()),
        ),
        part("config", fc.map(|_| "1".to_string())),
        part("weight", weight.map(|w| w.to_string())),
        part(
            "sticky",
            sticky.and_then(|s| s.enabled).map(|e| e.to_string()),
        ),
        part(
            "duration",
            sticky
                .and_then(|s| s.duration_seconds)
                .map(|d| d.to_string()),
        ),
        part("stickycfg", sticky.map(|_| "1".to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(parts.join(" "))
}

/// The inverse of [`compact_forward`], for the plan's original target group.
pub fn expand_forward(compact: &str, target_group_arn: &str) -> ActionModel {
    let get = |key: &str| {
        compact
            .split(' ')
            .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    };
    let forward_config = get("config").map(|_| ForwardModel {
        target_groups: vec![WeightedGroup {
            target_group_arn: target_group_arn.to_string(),
            weight: get("weight").and_then(|w| w.parse().ok()),
        }],
        target_group_stickiness_config: get("stickycfg").map(|_| StickinessModel {
            enabled: get("sticky").and_then(|e| e.parse().ok()),
            duration_seconds: get("duration").and_then(|d| d.parse().ok()),
        }),
    });
    ActionModel {
        kind: "forward".into(),
        order: get("order").and_then(|o| o.parse().ok()),
        target_group_arn: get("plain").map(|_| target_group_arn.to_string()),
        forward_config,
        fixed_response_config: None,
    }
}

pub fn actions_from_sdk(actions: &[Action]) -> Result<Vec<ActionModel>, String> {
    actions.iter().map(ActionModel::from_sdk).collect()
}

pub fn actions_to_sdk(actions: &[ActionModel]) -> Result<Vec<Action>, StepError> {
    actions.iter().map(ActionModel::to_sdk).collect()
}

/// Two action lists route traffic the same way. AWS fills in `ForwardConfig` (weight 1,
/// stickiness off) for a plain `TargetGroupArn` forward; compare what traffic does: the
/// groups that receive traffic with their shares (weights 9:1 and 90:10 are the same), the
/// fixed response, and stickiness (its duration when on).
pub fn same_routing(a: &[ActionModel], b: &[ActionModel]) -> bool {
    type Norm = (
        String,
        Vec<(String, i64)>,
        Option<FixedResponseModel>,
        Option<Option<i32>>,
    );
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    fn norm(actions: &[ActionModel]) -> Vec<Norm> {
        actions
            .iter()
            .map(|x| {
                let mut groups: Vec<(String, i64)> = match &x.forward_config {
                    Some(fc) => fc
                        .target_groups
                        .iter()
                        .map(|g| (g.target_group_arn.clone(), i64::from(g.weight.unwrap_or(1))))
                        .filter(|(_, w)| *w > 0)
                        .collect(),
                    None => x
                        .target_group_arn
                        .iter()
                        .map(|arn| (arn.clone(), 1))
                        .collect(),
                };
                let g = groups.iter().fold(0, |acc, (_, w)| gcd(acc, *w));
                if g > 1 {
                    groups.iter_mut().for_each(|(_, w)| *w /= g);
                }
                groups.sort();
                let sticky = x
                    .forward_config
                    .as_ref()
                    .and_then(|f| f.target_group_stickiness_config.as_ref())
                    .filter(|s| s.enabled == Some(true))
                    .map(|s| s.duration_seconds);
                (
                    x.kind.clone(),
                    groups,
                    x.fixed_response_config.clone(),
                    sticky,
                )
            })
            .collect()
    }
    a == b || norm(a) == norm(b)
}

/// The actions of the service's forward action today: the rule's or the listener default's.
pub async fn current_actions(
    net: &AccountClients,
    listener_arn: &str,
    rule_arn: Option<&str>,
) -> Result<Vec<Action>, StepError> {
    match rule_arn {
        Some(rule) => {
            let out = net
                .elb
                .describe_rules()
                .rule_arns(rule)
                .send()
                .await
                .named("elasticloadbalancing:DescribeRules", &net.role_arn)?;
            Ok(out
                .rules()
                .first()
                .map(|r| r.actions().to_vec())
                .unwrap_or_default())
        }
        None => {
            let out = net
                .elb
                .describe_listeners()
                .listener_arns(listener_arn)
                .send()
                .await
                .named("elasticloadbalancing:DescribeListeners", &net.role_arn)?;
            Ok(out
                .listeners()
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

/// The target group of this migration, if an earlier run created it (found by name,
/// confirmed by tag).
pub async fn find_target_group(
    net: &AccountClients,
    name: &str,
    migration_id: &str,
) -> Result<Option<String>, StepError> {
    let out = net.elb.describe_target_groups().names(name).send().await;
    let groups = match out.named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn) {
        Ok(out) => out.target_groups().to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{aws_error, clients};
    use aws_smithy_mocks::mock;
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

    fn weighted(groups: &[(&str, i32)]) -> ActionModel {
        ActionModel::weighted_forward(
            groups.iter().map(|(a, w)| (a.to_string(), *w)),
            Some(1),
            Some(StickinessModel {
                enabled: Some(true),
                duration_seconds: Some(300),
            }),
        )
    }

    #[test]
    fn routing_compares_traffic_shares_and_stickiness_not_spelling() {
        let plain = |groups: &[(&str, i32)]| {
            let mut a = weighted(groups);
            a.forward_config
                .as_mut()
                .unwrap()
                .target_group_stickiness_config = None;
            a
        };
        let sticky = |duration: i32| {
            let mut a = plain(&[("arn:tg/a", 9), ("arn:tg/b", 1)]);
            a.forward_config
                .as_mut()
                .unwrap()
                .target_group_stickiness_config = Some(StickinessModel {
                enabled: Some(true),
                duration_seconds: Some(duration),
            });
            a
        };
        let a = plain(&[("arn:tg/a", 9), ("arn:tg/b", 1)]);
        assert!(same_routing(
            std::slice::from_ref(&a),
            &[plain(&[("arn:tg/b", 10), ("arn:tg/a", 90)])]
        ));
        assert!(!same_routing(
            std::slice::from_ref(&a),
            &[plain(&[("arn:tg/a", 1), ("arn:tg/b", 1)])]
        ));
        assert!(same_routing(
            &[plain(&[("arn:tg/a", 1), ("arn:tg/b", 0)])],
            &[ActionModel::forward_to("arn:tg/a", None)]
        ));
        assert!(!same_routing(&[a], &[sticky(60)]));
        assert!(!same_routing(&[sticky(60)], &[sticky(3600)]));
    }

    #[test]
    fn weighted_forward_with_stickiness_round_trips_through_the_sdk_type() {
        let original = weighted(&[("arn:tg/a", 80), ("arn:tg/b", 20)]);
        let back = ActionModel::from_sdk(&original.to_sdk().unwrap()).unwrap();
        assert_eq!(back, original);
        let json = serde_json::to_value(&original).unwrap();
        assert_eq!(
            json["ForwardConfig"]["TargetGroupStickinessConfig"]["DurationSeconds"],
            300
        );
    }

    #[test]
    fn routing_comparison_ignores_how_aws_spells_a_single_forward() {
        let plain = ActionModel::forward_to("arn:tg/a", Some(1));
        let spelled = weighted(&[("arn:tg/a", 1)]);
        let mut spelled_plain = spelled.clone();
        spelled_plain
            .forward_config
            .as_mut()
            .unwrap()
            .target_group_stickiness_config = None;
        assert!(same_routing(std::slice::from_ref(&plain), &[spelled_plain]));
        assert!(!same_routing(&[plain], &[weighted(&[("arn:tg/b", 1)])]));
    }

    #[test]
    fn the_original_forward_survives_its_compact_tag_form() {
        let mut original = weighted(&[("arn:tg/a", 1)]);
        original.target_group_arn = Some("arn:tg/a".into());
        let compact = compact_forward(std::slice::from_ref(&original)).unwrap();
        assert!(compact.len() < 256 && !compact.contains('"'), "{compact}");
        assert_eq!(expand_forward(&compact, "arn:tg/a"), original);
        let plain = ActionModel::forward_to("arn:tg/a", Some(3));
        assert_eq!(
            expand_forward(
                &compact_forward(std::slice::from_ref(&plain)).unwrap(),
                "arn:tg/a"
            ),
            plain
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
