//! Preflight's encryption check: can the images of the source volumes be shared as they
//! are, or must they be re-encrypted with `options.kmsKeyId` (and can they be)?
//!
//! AWS facts: a snapshot encrypted with an AWS managed key (`aws/ebs`) cannot be shared
//! with another account; one encrypted with a customer managed key can, but the target
//! account launches from it only if that key's policy lets it use the key. CopyImage with
//! `Encrypted` and `KmsKeyId` re-encrypts every snapshot with that key.

use std::collections::BTreeMap;

use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, KeyUsageType};

use crate::accounts::AccountClients;
use crate::aws::kms::{KeyView, key_as_seen_by, key_policy};
use crate::error::StepError;
use crate::plan::Plan;
use crate::state::InstanceFacts;

use super::key_policy::missing_ebs_actions;

/// What Preflight concluded about encryption.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptionPlan {
    /// The key ARN to re-encrypt every image with (options.kmsKeyId, checked), or None
    /// when the images are shared as they are.
    pub reencrypt_with: Option<String>,
    /// What was checked, for the facts' `checks` list.
    pub check: String,
}

/// The key statement the target account needs, quoted in the messages.
fn key_policy_hint(target: &str) -> String {
    format!(
        "its key policy must allow arn:aws:iam::{target}:root kms:DescribeKey, kms:Decrypt, kms:CreateGrant, kms:ReEncrypt* and kms:GenerateDataKeyWithoutPlaintext"
    )
}

/// The target account may describe a key and still not be allowed to use it for EBS, and
/// then every launch from the images ends `terminated` (Client.InternalError). The key
/// policy says which: read by the key's owner when that is the source account (no one
/// else may read it). Ok(true) when read and sufficient, Ok(false) when not readable here.
async fn ebs_may_use(
    plan: &Plan,
    src: &AccountClients,
    key: &str,
    what: &str,
) -> Result<bool, StepError> {
    let owner = key.split(':').nth(4).unwrap_or_default();
    if owner != plan.source.account_id {
        return Ok(false);
    }
    let Some(policy) = key_policy(src, key).await? else {
        return Ok(false);
    };
    let target = &plan.target.account_id;
    let missing = missing_ebs_actions(&policy, target);
    if missing.is_empty() {
        return Ok(true);
    }
    Err(StepError::invalid_plan(format!(
        "{what} {key}: its key policy lets account {target} describe it but not use it for EBS (nothing allows {}), so every launch from the images would end terminated (Client.InternalError); {}",
        missing.join(", "),
        key_policy_hint(target)
    )))
}

pub async fn check_encryption(
    plan: &Plan,
    src: &AccountClients,
    tgt: &AccountClients,
    instances: &[InstanceFacts],
) -> Result<EncryptionPlan, StepError> {
    let target = &plan.target.account_id;
    // Encrypted volumes by key, for messages that name the volumes a key protects.
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for inst in instances {
        for vol in inst.volumes.iter().filter(|v| v.encrypted) {
            let key = vol.kms_key_id.clone().ok_or_else(|| {
                StepError::invalid_plan(format!(
                    "volume {} of {} is encrypted but AWS reports no KMS key for it; check the volume before migrating",
                    vol.volume_id, inst.instance_id
                ))
            })?;
            by_key.entry(key).or_default().push(format!(
                "{} ({} of {})",
                vol.volume_id, vol.device_name, inst.instance_id
            ));
        }
    }

    if let Some(key) = &plan.options.kms_key_id {
        let meta = match key_as_seen_by(src, key).await? {
            KeyView::Visible(meta) => meta,
            KeyView::Unusable(why) => {
                return Err(StepError::invalid_plan(format!(
                    "options.kmsKeyId {key} cannot be used by the source account {} ({why}): the source account encrypts the image copies with it; name a key that account may use",
                    plan.source.account_id
                )));
            }
        };
        let problem = if meta.key_manager() == Some(&KeyManagerType::Aws) {
            Some("is an AWS managed key, which no other account may use; create a customer managed key".to_string())
        } else if meta.key_state() != Some(&KeyState::Enabled) {
            Some(format!(
                "is {}; enable it (or cancel its deletion) first",
                meta.key_state()
                    .map(|s| s.as_str())
                    .unwrap_or("not enabled")
            ))
        } else if meta.key_usage() != Some(&KeyUsageType::EncryptDecrypt)
            || meta.key_spec() != Some(&KeySpec::SymmetricDefault)
        {
            Some("is not a symmetric encryption key (EBS needs KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(StepError::invalid_plan(format!(
                "options.kmsKeyId {key} {problem}"
            )));
        }
        if let KeyView::Unusable(why) = key_as_seen_by(tgt, key).await? {
            return Err(StepError::invalid_plan(format!(
                "options.kmsKeyId {key} cannot be used by the target account {target} ({why}): it launches from the re-encrypted images, so {}",
                key_policy_hint(target)
            )));
        }
        let arn = meta.arn().unwrap_or(key).to_string();
        let policy_read = ebs_may_use(plan, src, &arn, "options.kmsKeyId").await?;
        return Ok(EncryptionPlan {
            check: format!(
                "images will be copied and re-encrypted with {arn}: a customer managed, enabled, symmetric key both accounts may use{}",
                if policy_read {
                    " (its policy lets the target account use it for EBS)"
                } else {
                    ""
                }
            ),
            reencrypt_with: Some(arn),
        });
    }

    for (key, volumes) in &by_key {
        let volumes = volumes.join(", ");
        let meta = match key_as_seen_by(src, key).await? {
            KeyView::Visible(meta) => meta,
            KeyView::Unusable(why) => {
                return Err(StepError::invalid_plan(format!(
                    "volume(s) {volumes} are encrypted with {key}, which the source account cannot describe ({why}); set options.kmsKeyId to a customer managed key ARN both accounts may use, and carveout copies the images re-encrypted with it"
                )));
            }
        };
        if meta.key_manager() == Some(&KeyManagerType::Aws) {
            return Err(StepError::invalid_plan(format!(
                "volume(s) {volumes} are encrypted with the AWS managed key {key} (aws/ebs): snapshots encrypted with it cannot be shared with another account; set options.kmsKeyId to the ARN of a customer managed key that account {target} may use, and carveout copies the images re-encrypted with it"
            )));
        }
        if let KeyView::Unusable(why) = key_as_seen_by(tgt, key).await? {
            return Err(StepError::invalid_plan(format!(
                "volume(s) {volumes} are encrypted with the customer managed key {key}, which the target account {target} may not use ({why}): either {}, or set options.kmsKeyId to a key it may use",
                key_policy_hint(target)
            )));
        }
        let arn = meta.arn().unwrap_or(key);
        ebs_may_use(
            plan,
            src,
            arn,
            &format!("volume(s) {volumes} are encrypted with"),
        )
        .await?;
    }
    Ok(EncryptionPlan {
        reencrypt_with: None,
        check: if by_key.is_empty() {
            "no volume is encrypted: images are shared as they are".into()
        } else {
            format!(
                "encrypted volumes use customer managed key(s) {} that the target account may use: images are shared as they are",
                by_key.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{aws_error, clients_with_kms};
    use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
    use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
    use aws_sdk_kms::types::KeyMetadata;
    use aws_smithy_mocks::{Rule, mock};

    const CMK: &str =
        "arn:aws:kms:ap-northeast-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EBS: &str =
        "arn:aws:kms:ap-northeast-1:111111111111:key/0000abcd-12ab-34cd-56ef-1234567890ab";

    fn plan(kms_key_id: Option<&str>) -> Plan {
        let mut plan = crate::test_support::plan();
        plan.options.kms_key_id = kms_key_id.map(str::to_string);
        plan
    }

    fn instance(key: Option<&str>) -> InstanceFacts {
        crate::test_support::instance("i-0123456789abcdef0", "t3.small", key)
    }

    fn key(arn: &str, manager: KeyManagerType, state: KeyState) -> Rule {
        let meta = KeyMetadata::builder()
            .key_id(arn.rsplit('/').next().unwrap())
            .arn(arn)
            .key_manager(manager)
            .key_state(state)
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .build()
            .unwrap();
        mock!(aws_sdk_kms::Client::describe_key).then_output(move || {
            DescribeKeyOutput::builder()
                .key_metadata(meta.clone())
                .build()
        })
    }

    fn denied() -> Rule {
        mock!(aws_sdk_kms::Client::describe_key)
            .then_error(|| DescribeKeyError::generic(aws_error("AccessDeniedException")))
    }

    async fn check(
        plan: &Plan,
        src: &[&Rule],
        tgt: &[&Rule],
        key: Option<&str>,
    ) -> Result<EncryptionPlan, StepError> {
        let src = clients_with_kms(&[], &[], &[], src);
        let tgt = clients_with_kms(&[], &[], &[], tgt);
        check_encryption(plan, &src, &tgt, &[instance(key)]).await
    }

    #[tokio::test]
    async fn unencrypted_volumes_need_no_key_and_no_kms_call() {
        let out = check(&plan(None), &[], &[], None).await.unwrap();
        assert_eq!(out.reencrypt_with, None);
    }

    #[tokio::test]
    async fn aws_managed_key_without_kms_key_id_is_refused_with_the_fix() {
        let ebs = key(EBS, KeyManagerType::Aws, KeyState::Enabled);
        let err = check(&plan(None), &[&ebs], &[], Some(EBS))
            .await
            .unwrap_err();
        let StepError::InvalidPlan(msg) = err else {
            panic!("{err:?}")
        };
        assert!(
            msg.contains("AWS managed key") && msg.contains("set options.kmsKeyId"),
            "{msg}"
        );
        assert!(msg.contains("vol-1"), "{msg}");
    }

    #[tokio::test]
    async fn customer_key_the_target_may_not_use_is_refused() {
        let cmk = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let no = denied();
        let err = check(&plan(None), &[&cmk], &[&no], Some(CMK))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StepError::InvalidPlan(m) if m.contains("222222222222") && m.contains("key policy")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn customer_key_both_may_use_shares_as_is() {
        let cmk = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let seen = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let usable = policy(&[
            "kms:DescribeKey",
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:GenerateDataKey*",
        ]);
        let out = check(&plan(None), &[&cmk, &usable], &[&seen], Some(CMK))
            .await
            .unwrap();
        assert_eq!(out.reencrypt_with, None);
    }

    #[tokio::test]
    async fn a_key_the_target_may_describe_but_not_use_for_ebs_is_refused() {
        let cmk = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let seen = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let describe_only = policy(&["kms:DescribeKey"]);
        match check(&plan(None), &[&cmk, &describe_only], &[&seen], Some(CMK)).await {
            Err(StepError::InvalidPlan(m)) => {
                assert!(m.contains("describe it but not use it for EBS"), "{m}");
                assert!(m.contains("kms:CreateGrant, kms:Decrypt"), "{m}");
            }
            other => panic!("expected InvalidPlan, got {other:?}"),
        }
    }

    /// GetKeyPolicy answering a policy that grants the target account `actions`.
    fn policy(actions: &[&str]) -> Rule {
        let doc = serde_json::json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": actions}]})
        .to_string();
        mock!(aws_sdk_kms::Client::get_key_policy)
            .then_output(move || GetKeyPolicyOutput::builder().policy(doc.clone()).build())
    }

    #[tokio::test]
    async fn kms_key_id_checked_from_both_accounts_then_used() {
        let cmk = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let seen = key(CMK, KeyManagerType::Customer, KeyState::Enabled);
        let usable = policy(&["kms:*"]);
        let out = check(&plan(Some(CMK)), &[&cmk, &usable], &[&seen], Some(EBS))
            .await
            .unwrap();
        assert_eq!(out.reencrypt_with.as_deref(), Some(CMK));
    }

    /// The check refuses with InvalidPlan and a message containing `word`.
    async fn refused(plan: &Plan, src: &[&Rule], tgt: &[&Rule], word: &str) {
        match check(plan, src, tgt, None).await {
            Err(StepError::InvalidPlan(m)) => assert!(m.contains(word), "{word:?} not in {m}"),
            other => panic!("expected InvalidPlan with {word:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn kms_key_id_must_be_customer_managed_enabled_and_usable_by_both() {
        let with_key = plan(Some(CMK));
        let aws = key(CMK, KeyManagerType::Aws, KeyState::Enabled);
        refused(&with_key, &[&aws], &[], "AWS managed").await;
        let off = key(CMK, KeyManagerType::Customer, KeyState::Disabled);
        refused(&with_key, &[&off], &[], "Disabled").await;
        let (cmk, no) = (
            key(CMK, KeyManagerType::Customer, KeyState::Enabled),
            denied(),
        );
        refused(&with_key, &[&cmk], &[&no], "target account").await;
        refused(&with_key, &[&denied()], &[], "source account").await;
    }
}
