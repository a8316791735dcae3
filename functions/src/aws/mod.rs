//! Per-area helpers over the SDK: conversions and the lookups several steps share.
//!
//! Every call of a paginated operation, here and in the steps, reads every page with the
//! SDK's own paginator (`.into_paginator().items().send().try_collect().await`, or the
//! pages themselves where the SDK has no item paginator), named like any other call
//! (`.named("ec2:DescribeInstances", &c.role_arn)`): AWS "can return fewer results than
//! the maximum even when there are more results available"
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#api-pagination>).

pub mod ec2;
pub mod elb;
pub mod instances;
pub mod kms;
pub mod peerings;
pub mod probe;
pub mod quotas;
pub mod ram;
pub mod route53;
