//! Quotas: the value of one Service Quotas quota, or of one Elastic Load Balancing limit,
//! in one account.

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// The value of quota `code` of `service` (`ec2`, `vpc`) in the account: the applied one,
/// or AWS's default where no applied value is available ("for some quotas, only the
/// default values are available",
/// <https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html>).
/// Errors: AccessDenied, ResourceFailed (no value at all).
pub async fn quota_value(c: &AccountClients, service: &str, code: &str) -> Result<f64, StepError> {
    let applied = c
        .quotas
        .get_service_quota()
        .service_code(service)
        .quota_code(code)
        .send()
        .await
        .named("servicequotas:GetServiceQuota", &c.role_arn);
    let quota = match applied {
        Ok(out) => out.quota().cloned(),
        Err(f) if f.is("NoSuchResourceException") => c
            .quotas
            .get_aws_default_service_quota()
            .service_code(service)
            .quota_code(code)
            .send()
            .await
            .named("servicequotas:GetAWSDefaultServiceQuota", &c.role_arn)?
            .quota()
            .cloned(),
        Err(f) => return Err(f.into()),
    };
    quota.and_then(|q| q.value()).ok_or_else(|| {
        StepError::ResourceFailed(format!("Service Quotas gave no value for {service} {code}"))
    })
}

/// The account's Elastic Load Balancing limit `name` (DescribeAccountLimits, every page),
/// e.g. `rules-per-application-load-balancer`, or None where it is not reported
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeAccountLimits.html>).
/// Errors: AccessDenied, ResourceFailed.
pub async fn elb_limit(c: &AccountClients, name: &str) -> Result<Option<u64>, StepError> {
    let limits = c
        .elb
        .describe_account_limits()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("elasticloadbalancing:DescribeAccountLimits", &c.role_arn)?;
    Ok(limits
        .iter()
        .find(|l| l.name() == Some(name))
        .and_then(|l| l.max()?.parse::<u64>().ok()))
}
