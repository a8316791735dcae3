//! The original target group's attributes, as the new IP group gets them.

use std::collections::BTreeMap;

use super::SettingRow;

/// Attributes that belong to another kind of target group: set on an ALB IP group, ELB
/// refuses them (`lambda.multi_value_headers.enabled` is for Lambda targets only,
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html>).
const NOT_FOR_IP_TARGETS: &[&str] = &["lambda."];

/// The `(key, value)` pairs of the original group (DescribeTargetGroupAttributes) that
/// ModifyTargetGroupAttributes sets on the new group: all of them (stickiness type and
/// duration, deregistration delay, slow start, algorithm and anomaly mitigation,
/// cross-zone, health-based routing…), but those of other target types. Sorted by key,
/// so a re-run sends the same request.
pub fn attributes_to_carry(original: &BTreeMap<String, String>) -> Vec<(String, String)> {
    original
        .iter()
        .filter(|(k, _)| !NOT_FOR_IP_TARGETS.iter().any(|p| k.starts_with(p)))
        // An empty value (an app cookie name while stickiness uses lb_cookie) is an unset
        // attribute: sent back, ELB may refuse it and with it the whole request.
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One `TargetGroupAttributes <key>` row per carried attribute.
pub fn attributes_rows(original: &BTreeMap<String, String>) -> Vec<SettingRow> {
    attributes_to_carry(original)
        .into_iter()
        .map(|(k, v)| SettingRow::carried(&format!("TargetGroupAttributes {k}"), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn every_alb_attribute_is_carried_and_lambda_ones_are_not() {
        let original: BTreeMap<String, String> = [
            kv("stickiness.enabled", "true"),
            kv("stickiness.type", "lb_cookie"),
            kv("stickiness.lb_cookie.duration_seconds", "3600"),
            kv("deregistration_delay.timeout_seconds", "120"),
            kv("slow_start.duration_seconds", "60"),
            kv("lambda.multi_value_headers.enabled", "false"),
            kv("load_balancing.algorithm.type", "weighted_random"),
            kv("load_balancing.algorithm.anomaly_mitigation", "on"),
            kv("stickiness.app_cookie.cookie_name", ""),
        ]
        .into();
        let carried = attributes_to_carry(&original);
        assert_eq!(carried.len(), 7);
        assert!(!carried.iter().any(|(k, _)| k.starts_with("lambda.")));
        assert!(carried.contains(&kv("slow_start.duration_seconds", "60")));
    }
}
