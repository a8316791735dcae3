//! The probe rule: a listener rule that forwards to the new target group only requests
//! carrying `X-Carveout-Probe: <migration id>` (no real client sends it), so the ALB runs
//! health checks on the new targets before any real traffic reaches them. Found by its
//! condition and tag; AttachProbeRule creates it, Cutover, Rollback and cleanup remove it.

use aws_sdk_elasticloadbalancingv2::types::Rule;

use crate::accounts::AccountClients;
use crate::aws::elb::tagged_with;
use crate::error::{SdkResultExt, StepError};
use crate::names::PROBE_HEADER;
use crate::state::ProbeRuleOut;

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

/// The probe rule of this migration on the listener, if there is one (matched by its
/// condition and carrying the migration's tag).
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
