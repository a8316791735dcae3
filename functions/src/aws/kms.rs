//! AWS KMS: how one account sees a key (Preflight's encryption check).

use aws_sdk_kms::types::KeyMetadata;

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// A key as one account sees it through DescribeKey.
#[derive(Debug, Clone)]
pub enum KeyView {
    Visible(Box<KeyMetadata>),
    /// Not found, or the key policy does not let this account use it (AWS answers
    /// either for another account's key): the reason, as AWS gave it.
    Unusable(String),
}

/// DescribeKey by ARN from `clients`' account. "Not found" and "denied" are answers here,
/// not failures: Preflight turns them into a precise InvalidPlan.
pub async fn key_as_seen_by(clients: &AccountClients, key: &str) -> Result<KeyView, StepError> {
    match clients
        .kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .named("kms:DescribeKey", &clients.role_arn)
    {
        Ok(out) => Ok(match out.key_metadata() {
            Some(meta) => KeyView::Visible(Box::new(meta.clone())),
            None => KeyView::Unusable("DescribeKey returned no key".into()),
        }),
        Err(f)
            if f.is_any(&[
                "NotFoundException",
                "AccessDeniedException",
                "InvalidArnException",
            ]) =>
        {
            Ok(KeyView::Unusable(format!(
                "{}: {}",
                f.code.as_deref().unwrap_or("error"),
                f.message
            )))
        }
        Err(f) => Err(f.into()),
    }
}

/// The key's policy document (JSON), read by the key's own account: GetKeyPolicy works only
/// there (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html>).
/// `None` when that account may not read it (the answer is then not Preflight's to give).
pub async fn key_policy(owner: &AccountClients, key: &str) -> Result<Option<String>, StepError> {
    match owner
        .kms
        .get_key_policy()
        .key_id(key)
        // The only name a key policy has (optional on AWS, required by the emulator).
        .policy_name("default")
        .send()
        .await
        .named("kms:GetKeyPolicy", &owner.role_arn)
    {
        Ok(out) => Ok(out.policy().map(str::to_string)),
        Err(f) if f.is_any(&["AccessDeniedException", "NotFoundException"]) => Ok(None),
        Err(f) => Err(f.into()),
    }
}
