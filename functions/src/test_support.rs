//! Unit-test helpers: account clients whose SDK calls are answered by aws-smithy-mocks.

use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use crate::accounts::AccountClients;

pub const ROLE: &str = "arn:aws:iam::111111111111:role/CarveOutExecutionRole";

/// Clients of account 111111111111 answering from `ec2`, `elb` and `ram` rules (in order).
pub fn clients(ec2: &[&Rule], elb: &[&Rule], ram: &[&Rule]) -> AccountClients {
    clients_with_kms(ec2, elb, ram, &[])
}

/// As [`clients`], with KMS answering from `kms`.
pub fn clients_with_kms(
    ec2: &[&Rule],
    elb: &[&Rule],
    ram: &[&Rule],
    kms: &[&Rule],
) -> AccountClients {
    AccountClients {
        account_id: "111111111111".into(),
        role_arn: ROLE.into(),
        ec2: mock_client!(aws_sdk_ec2, RuleMode::Sequential, ec2),
        elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::Sequential, elb),
        ram: mock_client!(aws_sdk_ram, RuleMode::Sequential, ram),
        kms: mock_client!(aws_sdk_kms, RuleMode::Sequential, kms),
    }
}

/// AWS error metadata with a code, as a service error carries it.
pub fn aws_error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mocked)"))
        .build()
}
