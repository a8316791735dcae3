//! Targets picked by tag ([`super::TargetTags`]): the VPC and subnets of an account that
//! may have been vended after the program was written. Read-only.

use crate::accounts::Accounts;
use crate::aws::ec2::filter;
use crate::error::{SdkResultExt, StepError};

use super::TargetTags;

/// Where a target picked by tag stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The VPC and its tagged subnets (in subnet id order).
    Ready {
        vpc_id: String,
        subnet_ids: Vec<String>,
    },
    /// Not there yet (the member role cannot be assumed, or no VPC carries the tags): a
    /// vended account on its way. Says what is missing.
    Waiting(String),
}

/// Reads the target of `tags` in its account. Errors: InvalidPlan when the tags match
/// several VPCs (the program must be fixed, waiting would not help); ResourceFailed from a
/// read.
pub async fn find(accounts: &Accounts, tags: &TargetTags) -> Result<Found, StepError> {
    let tgt = match accounts.get(&tags.account_id).await {
        Ok(c) => c,
        Err(StepError::AccessDenied { message, .. }) => {
            return Ok(Found::Waiting(format!(
                "account {}: the member role cannot be assumed yet ({message})",
                tags.account_id
            )));
        }
        Err(e) => return Err(e),
    };
    let tag_filters = |tags: &std::collections::BTreeMap<String, String>| {
        tags.iter()
            .map(|(k, v)| filter(&format!("tag:{k}"), &[v]))
            .collect::<Vec<_>>()
    };
    let vpcs = tgt
        .ec2
        .describe_vpcs()
        .set_filters(Some(tag_filters(&tags.vpc_tags)))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVpcs", &tgt.role_arn)?;
    let wanted = describe(&tags.vpc_tags);
    let vpc_id = match vpcs.as_slice() {
        [] => {
            return Ok(Found::Waiting(format!(
                "account {}: no VPC tagged {wanted} yet",
                tags.account_id
            )));
        }
        [one] => one.vpc_id().unwrap_or_default().to_string(),
        many => {
            let ids: Vec<&str> = many.iter().filter_map(|v| v.vpc_id()).collect();
            return Err(StepError::invalid_plan(format!(
                "account {}: {} VPCs are tagged {wanted} ({}): the tags must pick one",
                tags.account_id,
                ids.len(),
                ids.join(", ")
            )));
        }
    };
    let mut filters = tag_filters(&tags.subnet_tags);
    filters.push(filter("vpc-id", &[&vpc_id]));
    let subnets = tgt
        .ec2
        .describe_subnets()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeSubnets", &tgt.role_arn)?;
    let mut subnet_ids: Vec<String> = subnets
        .iter()
        .filter(|s| s.vpc_id() == Some(vpc_id.as_str()))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    subnet_ids.sort();
    if subnet_ids.is_empty() {
        // Vending pipelines often make the VPC before its subnets: wait for them too.
        return Ok(Found::Waiting(format!(
            "account {}: VPC {vpc_id} has no subnet tagged {} yet",
            tags.account_id,
            describe(&tags.subnet_tags)
        )));
    }
    Ok(Found::Ready { vpc_id, subnet_ids })
}

/// `plan` with its target's VPC and subnets as found.
pub fn fill(plan: &mut serde_json::Value, vpc_id: String, subnet_ids: Vec<String>) {
    plan["target"]["vpcId"] = vpc_id.into();
    plan["target"]["subnetIds"] = subnet_ids.into();
}

fn describe(tags: &std::collections::BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "(any)".into();
    }
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
