//! The optional RAM share of the ALB's security groups (`options.shareSecurityGroupWithRam`,
//! off by default): only useful when the target's subnets are subnets the network account
//! shares (shared VPC); the ingress rule across the peering never needs it.

use crate::aws::ram::{find_share, share_associations};
use crate::error::{SdkResultExt, StepError};
use crate::idiom::{Poll, find_or_create, poll_once, watching};
use crate::names::{self, MIGRATION_TAG};
use crate::plan::arn_parts;
use crate::state::{ShareOut, State, now_epoch_ms};

use crate::context::Context;

fn security_group_arns(state: &State) -> Result<Vec<String>, StepError> {
    let facts = state.facts()?;
    let partition = arn_parts(&state.plan.service.listener_arn)
        .map(|p| p.partition)
        .unwrap_or_else(|| "aws".into());
    Ok(facts
        .network
        .security_group_ids
        .iter()
        .map(|sg| {
            format!(
                "arn:{partition}:ec2:{}:{}:security-group/{sg}",
                state.plan.region, state.plan.service.account_id
            )
        })
        .collect())
}

pub async fn share_security_group(ctx: &Context, state: State) -> Result<ShareOut, StepError> {
    let net = ctx.accounts(&state.plan).network().await?;
    let id = &state.plan.migration_id;
    let name = names::resource_share(id);
    let arns = security_group_arns(&state)?;
    let to_out = |arn: &str| ShareOut {
        resource_share_arn: arn.to_string(),
        security_group_arns: arns.clone(),
        shared_at_ms: Some(now_epoch_ms()),
    };
    let ensured = find_or_create(
        "RAM share of the ALB's security groups",
        || async {
            Ok(find_share(&net, &name)
                .await?
                .and_then(|s| s.resource_share_arn().map(to_out)))
        },
        || async {
            let out = net
                .ram
                .create_resource_share()
                .name(&name)
                .set_resource_arns(Some(arns.clone()))
                .principals(&state.plan.target.account_id)
                .allow_external_principals(false)
                .tags(
                    aws_sdk_ram::types::Tag::builder()
                        .key(MIGRATION_TAG)
                        .value(id)
                        .build(),
                )
                .client_token(names::share_token(id))
                .send()
                .await
                .named("ram:CreateResourceShare", &net.role_arn)?;
            Ok(out
                .resource_share()
                .and_then(|s| s.resource_share_arn())
                .map(to_out))
        },
    )
    .await?;
    Ok(ensured.value)
}

/// Polls the RAM share until the target account (principal association) *and* every
/// shared security group (resource association) are `ASSOCIATED`: a principal can be
/// associated while a resource association failed, and the share is then useless.
/// (<https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareAssociations.html>)
/// Every page of the associations is read.
/// Watched inside the invocation while young (`idiom::watching`), then one look per Retry.
pub async fn wait_share_associated(ctx: &Context, state: State) -> Result<ShareOut, StepError> {
    let share = state.share()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let mut expected = vec![state.plan.target.account_id.clone()];
    expected.extend(share.security_group_arns.iter().cloned());
    watching(share.shared_at_ms, || async {
        let listed = share_associations(&net, &share.resource_share_arn).await?;
        let observed = share_association(&expected, &listed).map(|()| share.clone());
        poll_once(&format!("RAM share {}", share.resource_share_arn), observed)
    })
    .await
}

/// Decides a share's state from its associations (`(entity, status)` pairs): ready when
/// every expected entity is `ASSOCIATED`, failed when one is `FAILED` or being removed,
/// otherwise pending, naming the first entity not yet associated.
fn share_association(expected: &[String], listed: &[(String, String)]) -> Poll<()> {
    for entity in expected {
        let status = listed
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, s)| s.as_str());
        match status {
            Some("ASSOCIATED") => {}
            Some("ASSOCIATING") => return Poll::Pending(format!("ASSOCIATING {entity}")),
            None => return Poll::Pending(format!("{entity} not yet listed")),
            Some(other) => return Poll::Failed(format!("association with {entity} is {other}")),
        }
    }
    Poll::Ready(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(e, s)| (e.to_string(), s.to_string()))
            .collect()
    }

    const SG: &str = "arn:aws:ec2:ap-northeast-1:111111111111:security-group/sg-1";

    #[test]
    fn a_share_is_ready_only_when_principal_and_every_resource_are_associated() {
        let expected = vec!["222222222222".to_string(), SG.to_string()];
        let principal_only = listed(&[("222222222222", "ASSOCIATED")]);
        assert!(matches!(
            share_association(&expected, &principal_only),
            Poll::Pending(s) if s.contains("sg-1")
        ));
        let resource_failed = listed(&[("222222222222", "ASSOCIATED"), (SG, "FAILED")]);
        assert!(matches!(
            share_association(&expected, &resource_failed),
            Poll::Failed(s) if s.contains("sg-1") && s.contains("FAILED")
        ));
        let both = listed(&[(SG, "ASSOCIATED"), ("222222222222", "ASSOCIATED")]);
        assert!(matches!(
            share_association(&expected, &both),
            Poll::Ready(())
        ));
    }

    #[test]
    fn an_associating_principal_is_pending() {
        let expected = vec!["222222222222".to_string()];
        let out = share_association(&expected, &listed(&[("222222222222", "ASSOCIATING")]));
        assert!(matches!(out, Poll::Pending(s) if s.starts_with("ASSOCIATING")));
    }
}
