//! The service's forward action as a pure model, and the traffic rules over it: what a
//! cutover, a weighted step or the maintenance answer makes of the original action, and
//! whether two actions route traffic the same way. No AWS calls here (the SDK conversions
//! are in `aws/elb.rs`), so every rule is tested without mocks.
//!
//! Field names are AWS's (`Type`, `TargetGroupArn`, `ForwardConfig`…,
//! <https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html>):
//! the saved original action is JSON in the execution history and a tag value.

use serde::{Deserialize, Serialize};

mod rules;

pub use rules::{
    changed_elsewhere, cutover_actions, hold_checks, maintenance_actions, past_point_of_no_return,
    shifted_actions,
};

/// A listener or rule action as JSON, in AWS's own field names.
///
/// Only the kinds carveout can restore exactly are modelled; Preflight refuses the others
/// (authenticate-*, redirect, JWT validation) so nothing is ever half-restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionModel {
    #[serde(rename = "Type")]
    pub kind: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_config: Option<ForwardModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponseModel>,
}

/// The action types carveout models (`Type` of an ELBv2 action). Any other type is
/// refused when read (`aws::elb::ActionModel::from_sdk`), so it is never half-restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionType {
    Forward,
    FixedResponse,
}

impl ActionType {
    /// AWS's name of the type (`forward`, `fixed-response`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Forward => "forward",
            ActionType::FixedResponse => "fixed-response",
        }
    }

    /// The modelled type of AWS's name, or `None` for a type carveout does not restore.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "forward" => Some(ActionType::Forward),
            "fixed-response" => Some(ActionType::FixedResponse),
            _ => None,
        }
    }
}

impl std::fmt::Display for ActionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
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
            kind: ActionType::Forward,
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
            kind: ActionType::Forward,
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
}

/// The original forward action, compact enough for an ELBv2 tag value (256 characters of
/// a restricted set: no JSON). Preflight only accepts a single forward to one group, so
/// order, weight and stickiness are all that vary; the group is the plan's.
pub fn compact_forward(actions: &[ActionModel]) -> Option<String> {
    let [a] = actions else { return None };
    if a.kind != ActionType::Forward {
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
        kind: ActionType::Forward,
        order: get("order").and_then(|o| o.parse().ok()),
        target_group_arn: get("plain").map(|_| target_group_arn.to_string()),
        forward_config,
        fixed_response_config: None,
    }
}

/// Two action lists route traffic the same way. AWS fills in `ForwardConfig` (weight 1,
/// stickiness off) for a plain `TargetGroupArn` forward; compare what traffic does: the
/// groups that receive traffic with their shares (weights 9:1 and 90:10 are the same), the
/// fixed response, and stickiness (its duration when on).
pub fn same_routing(a: &[ActionModel], b: &[ActionModel]) -> bool {
    type Norm = (
        ActionType,
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
                (x.kind, groups, x.fixed_response_config.clone(), sticky)
            })
            .collect()
    }
    a == b || norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
