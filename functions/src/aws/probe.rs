//! The probe rule: a listener rule that forwards to the new target group only requests
//! carrying `X-Carveout-Probe: <migration id>` (no real client sends it), so the ALB runs
//! health checks on the new targets before any real traffic reaches them. Found by its
//! condition and tag; AttachProbeRule creates it, Cutover, Rollback and cleanup remove it.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::{HttpHeaderConditionConfig, Rule, RuleCondition};

use crate::accounts::AccountClients;
use crate::aws::elb::{migration_tags, tagged_with};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::find_or_create;
use crate::names::PROBE_HEADER;
use crate::state::ProbeRuleOut;
use crate::traffic::ActionModel;

/// The highest listener-rule priority ELBv2 allows.
pub const MAX_PRIORITY: i32 = 50_000;

/// The probe rule's priority: the highest one `used` leaves free, below every real rule,
/// so even a mistaken match could not shadow one; None when all 50,000 are taken.
pub fn highest_free_priority(used: &BTreeSet<i32>) -> Option<i32> {
    (1..=MAX_PRIORITY).rev().find(|p| !used.contains(p))
}

/// How often the probe rule's create may find its priority taken before it gives up.
const PRIORITY_TRIES: usize = 5;

/// This migration's probe rule on `listener_arn`, forwarding to `group_arn`, found or
/// created at `priority`, or at the highest one still free when another writer took it
/// meanwhile (tagged; the header carries the migration id). Errors: Conflict when
/// priorities keep being taken, and those of the calls.
pub async fn ensure_probe_rule(
    net: &AccountClients,
    listener_arn: &str,
    migration_id: &str,
    group_arn: &str,
    priority: i32,
) -> Result<ProbeRuleOut, StepError> {
    let ensured = find_or_create(
        "probe rule",
        || async { find_probe_rule(net, listener_arn, migration_id).await },
        || async {
            let actions = ActionModel::forward_to(group_arn, None).to_sdk()?;
            let mut priority = priority;
            for _ in 0..PRIORITY_TRIES {
                match create_probe_rule(net, listener_arn, migration_id, std::slice::from_ref(&actions), priority).await {
                    Ok(created) => return Ok(created),
                    // Taken between the read and the create: by another migration's probe rule
                    // (a program runs several services on one listener at once) or by hand.
                    // Its priority only orders it among rules no request matches alike: the
                    // next free one serves.
                    Err(f) if f.is("PriorityInUse") => {
                        // Our own create may have gone through with its answer lost (the
                        // SDK then retried it): that rule is ours, found by its condition
                        // and tag, and no second one is made.
                        if let Some(own) = find_probe_rule(net, listener_arn, migration_id).await? {
                            return Ok(Some(own));
                        }
                        let used: BTreeSet<i32> = listener_rules(net, listener_arn)
                            .await?
                            .iter()
                            .filter_map(|r| r.priority()?.parse().ok())
                            .collect();
                        priority = highest_free_priority(&used).ok_or_else(|| {
                            StepError::conflict(format!(
                                "listener {listener_arn} has no free rule priority left for the probe rule"
                            ))
                        })?;
                    }
                    Err(f) => return Err(f.into()),
                }
            }
            Err(StepError::conflict(format!(
                "listener rule priorities were taken {PRIORITY_TRIES} times in a row while creating the probe rule; run again"
            )))
        },
    )
    .await?;
    Ok(ensured.value)
}

/// One CreateRule of the probe rule at `priority`: Some(rule) when created.
async fn create_probe_rule(
    net: &AccountClients,
    listener_arn: &str,
    migration_id: &str,
    actions: &[aws_sdk_elasticloadbalancingv2::types::Action],
    priority: i32,
) -> Result<Option<ProbeRuleOut>, crate::error::AwsFailure> {
    let condition = RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(PROBE_HEADER)
                .values(migration_id)
                .build(),
        )
        .build();
    let out = net
        .elb
        .create_rule()
        .listener_arn(listener_arn)
        .priority(priority)
        .conditions(condition)
        .set_actions(Some(actions.to_vec()))
        .set_tags(Some(migration_tags(migration_id)))
        .send()
        .await
        .named("elasticloadbalancing:CreateRule", &net.role_arn)?;
    Ok(out
        .rules()
        .first()
        .and_then(|r| r.rule_arn())
        .map(|arn| ProbeRuleOut {
            rule_arn: arn.to_string(),
            priority,
        }))
}

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

/// Every rule of the listener, its default rule included, from every page of
/// DescribeRules: the answer comes in pages, each with the marker of the next
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeRules.html>).
pub async fn listener_rules(
    net: &AccountClients,
    listener_arn: &str,
) -> Result<Vec<Rule>, StepError> {
    Ok(net
        .elb
        .describe_rules()
        .listener_arn(listener_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeRules", &net.role_arn)?)
}

/// The probe rule of this migration on the listener, if there is one (matched by its
/// condition and carrying the migration's tag), among every rule of the listener.
pub async fn find_probe_rule(
    net: &AccountClients,
    listener_arn: &str,
    migration_id: &str,
) -> Result<Option<ProbeRuleOut>, StepError> {
    for rule in &listener_rules(net, listener_arn).await? {
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
    use crate::test_support::{clients, two_pages};
    use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;

    fn rule(arn: &str, priority: &str) -> Rule {
        Rule::builder().rule_arn(arn).priority(priority).build()
    }

    #[tokio::test]
    async fn every_page_of_the_listener_rules_is_read() {
        let [first, second] = two_pages!(
            aws_sdk_elasticloadbalancingv2::Client::describe_rules,
            marker => next_marker,
            DescribeRulesOutput::builder().rules(rule("arn:rule/1", "1")),
            DescribeRulesOutput::builder()
                .rules(rule("arn:rule/2", "50000"))
                .rules(rule("arn:rule/default", "default")),
        );
        let c = clients(&[], &[&first, &second], &[]);
        let rules = listener_rules(&c, "arn:listener").await.unwrap();
        let used: BTreeSet<i32> = rules
            .iter()
            .filter_map(|r| r.priority()?.parse().ok())
            .collect();
        assert_eq!(used, BTreeSet::from([1, 50_000]));
        assert_eq!(highest_free_priority(&used), Some(49_999));
    }
}
