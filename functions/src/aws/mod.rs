//! Per-area helpers over the SDK: conversions and the lookups several steps share.

pub mod ec2;
pub mod elb;
pub mod instances;
pub mod kms;
pub mod probe;
pub mod ram;
