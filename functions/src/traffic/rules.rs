//! The traffic rules: what a cutover, a weighted step of a gradual shift or the
//! maintenance answer makes of the service's original action, and the Conflict raised
//! when someone else changed it. Pure functions over [`ActionModel`].

use super::{ActionModel, ActionType, FixedResponseModel};
use crate::error::StepError;

/// The original actions with the service's forward pointed at the new group.
pub fn cutover_actions(original: &[ActionModel], new_group: &str) -> Vec<ActionModel> {
    original
        .iter()
        .map(|a| {
            if a.kind == ActionType::Forward {
                ActionModel::forward_to(new_group, a.order)
            } else {
                a.clone()
            }
        })
        .collect()
}

/// Whether every request now goes to `new_group`: each forward action sends only to it.
/// That is the point of no return: the new copy may have taken writes the old one never
/// saw, so a failure after it never moves traffic back (going back is the deliberate
/// `carveout revert`).
pub fn past_point_of_no_return(current: &[ActionModel], new_group: &str) -> bool {
    let forwards: Vec<&ActionModel> = current
        .iter()
        .filter(|a| a.kind == ActionType::Forward)
        .collect();
    !forwards.is_empty() && forwards.iter().all(|a| a.forwarded_groups() == [new_group])
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
            if a.kind != ActionType::Forward {
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

/// The original actions with every forward replaced by a fixed 503 answer (same order).
pub fn maintenance_actions(original: &[ActionModel], body: &str) -> Vec<ActionModel> {
    original
        .iter()
        .map(|a| {
            if a.kind != ActionType::Forward {
                return a.clone();
            }
            ActionModel {
                kind: ActionType::FixedResponse,
                order: a.order,
                target_group_arn: None,
                forward_config: None,
                fixed_response_config: Some(FixedResponseModel {
                    status_code: "503".into(),
                    content_type: Some("text/plain".into()),
                    message_body: Some(body.to_string()),
                }),
            }
        })
        .collect()
}

pub fn changed_elsewhere(current: &[ActionModel]) -> StepError {
    StepError::conflict(format!(
        "the service's action was changed outside carveout since Preflight (it forwards to {:?}); nothing was changed",
        current
            .iter()
            .flat_map(|a| a.forwarded_groups())
            .collect::<Vec<_>>()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::StickinessModel;

    fn weighted_by(groups: &[(&str, i32)], stickiness: Option<StickinessModel>) -> ActionModel {
        ActionModel::weighted_forward(
            groups.iter().map(|(arn, w)| (arn.to_string(), *w)),
            Some(1),
            stickiness,
        )
    }

    #[test]
    fn the_point_of_no_return_is_every_request_on_the_new_group() {
        let new = "arn:new";
        assert!(past_point_of_no_return(
            &[ActionModel::forward_to(new, Some(1))],
            new
        ));
        assert!(past_point_of_no_return(
            &[weighted_by(&[(new, 1), ("arn:old", 0)], None)],
            new
        ));
        assert!(!past_point_of_no_return(
            &[weighted_by(&[(new, 90), ("arn:old", 10)], None)],
            new
        ));
        assert!(!past_point_of_no_return(
            &[ActionModel::forward_to("arn:old", Some(1))],
            new
        ));
        let maintenance =
            maintenance_actions(&[ActionModel::forward_to("arn:old", Some(1))], "503");
        assert!(!past_point_of_no_return(&maintenance, new));
    }

    #[test]
    fn a_step_sends_its_percentage_to_the_new_group_and_the_rest_as_before() {
        let original = vec![ActionModel::forward_to("arn:old", Some(1))];
        let ten = shifted_actions(&original, "arn:new", 10);
        assert_eq!(
            ten,
            vec![weighted_by(&[("arn:old", 9), ("arn:new", 1)], None)]
        );
        let half = shifted_actions(&original, "arn:new", 50);
        assert_eq!(
            half,
            vec![weighted_by(&[("arn:old", 1), ("arn:new", 1)], None)]
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
        let original = vec![weighted_by(
            &[("arn:a", 80), ("arn:b", 20)],
            Some(sticky.clone()),
        )];
        let half = shifted_actions(&original, "arn:new", 50);
        assert_eq!(
            half,
            vec![weighted_by(
                &[("arn:a", 4), ("arn:b", 1), ("arn:new", 5)],
                Some(sticky)
            )]
        );
    }

    #[test]
    fn weights_stay_within_the_albs_limit() {
        let original = vec![weighted_by(&[("arn:a", 997), ("arn:b", 3)], None)];
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
}
