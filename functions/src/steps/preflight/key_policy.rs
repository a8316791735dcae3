//! Can another account use a customer managed key for EBS? Read from the key policy,
//! because no call of that account can prove it without using the key: EBS performs
//! CreateGrant, Decrypt and GenerateDataKeyWithoutPlaintext with the caller's permissions
//! and `kms:ViaService ec2.*` (<https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html>),
//! so a direct DryRun from the role would be refused by exactly the policies that work.
//!
//! The reading is lenient where it cannot be exact: conditions are taken as met (EBS meets
//! the usual ones: ViaService, GrantIsForAWSResource, CallerAccount), any principal of the
//! account counts (IAM in that account decides the rest), Deny statements are not read. It
//! refuses only a policy that grants the account none of an action EBS needs.

use serde_json::Value;

/// What EBS does with the launching (or copying) account's permissions on the key.
pub(super) const EBS_ACTIONS: [&str; 3] = [
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
];

/// The actions of [`EBS_ACTIONS`] the policy grants `account` none of (empty: EBS may use
/// the key). A policy that does not parse grants nothing.
pub(super) fn missing_ebs_actions(policy: &str, account: &str) -> Vec<&'static str> {
    let doc: Value = serde_json::from_str(policy).unwrap_or(Value::Null);
    let statements = as_list(&doc["Statement"]);
    EBS_ACTIONS
        .into_iter()
        .filter(|action| {
            !statements.iter().any(|s| {
                s["Effect"] == "Allow"
                    && names_account(&s["Principal"], account)
                    && as_list(&s["Action"])
                        .iter()
                        .filter_map(|a| a.as_str())
                        .any(|a| action_matches(a, action))
            })
        })
        .collect()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn names_account(principal: &Value, account: &str) -> bool {
    let names = match principal {
        Value::String(s) => vec![Value::String(s.clone())],
        Value::Object(o) => o.get("AWS").map(as_list).unwrap_or_default(),
        _ => Vec::new(),
    };
    names
        .iter()
        .filter_map(|n| n.as_str())
        .any(|n| n == "*" || n == account || n.starts_with(&format!("arn:aws:iam::{account}:")))
}

/// IAM action matching: exact (case-insensitive) or a trailing-`*` wildcard.
fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    match p.strip_suffix('*') {
        Some(prefix) => a.starts_with(prefix),
        None => p == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "222222222222";

    #[test]
    fn the_documented_key_policy_lets_the_target_account_use_the_key_through_ebs() {
        let policy = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*"},
            {"Effect": "Allow", "Principal": {"AWS": [format!("arn:aws:iam::{T}:root")]},
             "Action": ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKeyWithoutPlaintext"],
             "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{T}:root")},
             "Action": "kms:CreateGrant", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
        ]});
        assert!(missing_ebs_actions(&policy.to_string(), T).is_empty());
    }

    #[test]
    fn describe_only_is_not_enough_and_the_missing_actions_are_named() {
        let policy = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": T}, "Action": "kms:DescribeKey"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "kms:*"}
        ]});
        assert_eq!(
            missing_ebs_actions(&policy.to_string(), T),
            EBS_ACTIONS.to_vec()
        );
        assert_eq!(missing_ebs_actions("not json", T).len(), 3);
        let star = serde_json::json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*"}});
        assert!(missing_ebs_actions(&star.to_string(), T).is_empty());
    }
}
