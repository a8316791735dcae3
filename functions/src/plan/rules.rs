//! The plan's cross-field rules: what the JSON Schema cannot express (ids unique, ARNs of
//! the plan's region and listener, accounts distinct, shifts that end at 100, options that
//! exclude each other), each with a message that says how to fix the plan.

use std::collections::BTreeSet;

use super::*;

impl Plan {
    /// Everything wrong with the plan on its own (without looking at AWS).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        fn check_into(p: &mut Vec<String>, ok: bool, msg: String) {
            if !ok {
                p.push(msg)
            }
        }
        macro_rules! check {
            ($ok:expr, $msg:expr $(,)?) => {
                check_into(&mut p, $ok, $msg)
            };
        }
        check!(
            matches(MIGRATION_ID, &self.migration_id),
            format!(
                "migrationId {:?} must be 1-48 letters, digits or hyphens, starting with a letter or digit",
                self.migration_id
            ),
        );
        check!(
            matches(REGION, &self.region),
            format!(
                "region {:?} is not a region name like ap-northeast-1",
                self.region
            ),
        );
        check!(
            matches(ROLE_NAME, &self.role_name),
            format!("roleName {:?} is not a valid IAM role name", self.role_name),
        );
        for (field, id) in [
            ("service.accountId", &self.service.account_id),
            ("source.accountId", &self.source.account_id),
            ("target.accountId", &self.target.account_id),
        ] {
            check!(
                matches(ACCOUNT_ID, id),
                format!("{field} {id:?} must be a 12-digit AWS account id"),
            );
        }
        check!(
            self.target.account_id != self.source.account_id,
            format!(
                "target.accountId equals source.accountId ({}): carveout moves a service into another account; pick the new account as target",
                self.source.account_id
            ),
        );
        check!(
            self.target.account_id != self.service.account_id,
            format!(
                "target.accountId equals service.accountId ({}): the ALB stays in the network account and the instances move to a different one",
                self.service.account_id
            ),
        );
        let arns = [
            (
                "service.listenerArn",
                Some(&self.service.listener_arn),
                LISTENER_ARN,
            ),
            ("service.ruleArn", self.service.rule_arn.as_ref(), RULE_ARN),
            (
                "service.targetGroupArn",
                Some(&self.service.target_group_arn),
                TARGET_GROUP_ARN,
            ),
        ];
        for (field, arn, pattern) in arns {
            let Some(arn) = arn else { continue };
            if !matches(pattern, arn) {
                p.push(format!(
                    "{field} {arn:?} is not an ALB ARN of the expected kind"
                ));
                continue;
            }
            if let Some(parts) = arn_parts(arn) {
                if parts.region != self.region {
                    p.push(format!(
                        "{field} is in region {} but the plan's region is {}: one migration works inside one region",
                        parts.region, self.region
                    ));
                }
                if parts.account_id != self.service.account_id {
                    p.push(format!(
                        "{field} belongs to account {} but service.accountId is {}",
                        parts.account_id, self.service.account_id
                    ));
                }
            }
        }
        if let (Some(rule), Some(lst)) = (
            &self.service.rule_arn,
            listener_id(&self.service.listener_arn),
        ) && !rule.contains(&format!("listener-rule/{lst}/"))
        {
            p.push(format!(
                "service.ruleArn {rule:?} is not a rule of service.listenerArn"
            ));
        }
        ids(
            &mut p,
            "source.instanceIds",
            &self.source.instance_ids,
            INSTANCE_ID,
            20,
        );
        check!(
            matches(VPC_ID, &self.target.vpc_id),
            format!(
                "target.vpcId {:?} is not a VPC id (vpc-…)",
                self.target.vpc_id
            ),
        );
        ids(
            &mut p,
            "target.subnetIds",
            &self.target.subnet_ids,
            SUBNET_ID,
            16,
        );
        if self.consistency == Consistency::StopSource && self.options.traffic_shift.len() > 1 {
            p.push(format!(
                "consistency \"stop-source\" stops the old targets, so there is nothing to shift from gradually: use options.trafficShift [100] (not {:?}), or consistency \"live\" for a gradual cutover",
                self.options.traffic_shift
            ));
        }
        // Old and new copies serve at once during a gradual shift: with state on the
        // instance (its database, files) each copy takes writes the other never sees.
        if self.consistency != Consistency::StopSource
            && self.options.traffic_shift.len() > 1
            && !self.options.stateless
        {
            p.push(format!(
                "options.trafficShift {:?} has old and new instances serve at once, so writes split between two copies of any state kept on the instance (a database, uploaded files): set options.stateless true if the service keeps no state there, or use [100] (one switch)",
                self.options.traffic_shift
            ));
        }
        if let Some(body) = &self.options.maintenance_body
            && body.len() > MAX_MAINTENANCE_BODY
        {
            p.push(format!(
                "options.maintenanceBody has {} characters; the ALB's fixed response takes at most {MAX_MAINTENANCE_BODY}",
                body.len()
            ));
        }
        let shift = &self.options.traffic_shift;
        if shift.is_empty()
            || shift.last() != Some(&100)
            || shift.iter().any(|&s| s == 0 || s > 100)
            || shift.windows(2).any(|w| w[0] >= w[1])
        {
            p.push(format!(
                "options.trafficShift {shift:?} must be increasing percentages ending at 100, for example [10, 50, 100]"
            ));
        } else if shift.len() > MAX_SHIFT_STEPS {
            p.push(format!(
                "options.trafficShift {shift:?} has {} steps; at most {MAX_SHIFT_STEPS}, for example [10, 50, 100]",
                shift.len()
            ));
        }
        if let Some(key) = &self.options.kms_key_id {
            if !matches(KMS_KEY_ARN, key) {
                p.push(format!(
                    "options.kmsKeyId {key:?} must be a key ARN (arn:aws:kms:<region>:<account>:key/<key-id>): key ids and aliases resolve in the calling account, and the target account must name the same key"
                ));
            } else if let Some(parts) = arn_parts(key)
                && parts.region != self.region
            {
                p.push(format!(
                    "options.kmsKeyId is in region {} but the plan's region is {}: images are re-encrypted in the plan's region with a key of that region",
                    parts.region, self.region
                ));
            }
        }
        if let Some(t) = &self.options.instance_type
            && !matches(INSTANCE_TYPE, t)
        {
            p.push(format!(
                "options.instanceType {t:?} is not an instance type like t3.small"
            ));
        }
        p
    }
}

fn listener_id(listener_arn: &str) -> Option<&str> {
    listener_arn.split_once(":listener/").map(|(_, rest)| rest)
}

fn ids(problems: &mut Vec<String>, field: &str, values: &[String], pattern: &str, max: usize) {
    if values.is_empty() {
        problems.push(format!("{field} must list at least one id"));
    }
    if values.len() > max {
        problems.push(format!(
            "{field} lists {} ids; at most {max} per migration",
            values.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for id in values {
        if !matches(pattern, id) {
            problems.push(format!("{field} contains {id:?}, which is not a valid id"));
        }
        if !seen.insert(id) {
            problems.push(format!("{field} lists {id} twice"));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::Plan;
    use crate::plan::tests::{example, problems_of};
    use serde_json::json;

    #[test]
    fn stop_source_cannot_shift_gradually() {
        let msg = problems_of(|v| {
            v["consistency"] = json!("stop-source");
            v["options"] = json!({"trafficShift": [10, 100]});
        });
        assert!(
            msg.contains("stop-source") && msg.contains("[100]"),
            "{msg}"
        );
    }

    #[test]
    fn a_gradual_shift_needs_a_service_without_state_on_the_instance() {
        let msg = problems_of(|v| v["options"] = json!({"trafficShift": [10, 100]}));
        assert!(
            msg.contains("options.stateless") && msg.contains("writes split"),
            "{msg}"
        );
        let mut v = crate::plan::tests::example();
        v["options"] = json!({"trafficShift": [10, 100], "stateless": true});
        assert!(Plan::parse(&v).is_ok());
    }

    #[test]
    fn kms_key_id_must_be_a_key_arn_of_the_plans_region() {
        let key =
            "arn:aws:kms:ap-northeast-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut ok = example();
        ok["options"] = json!({"kmsKeyId": key});
        assert_eq!(
            Plan::parse(&ok).unwrap().options.kms_key_id.as_deref(),
            Some(key)
        );
        let msg = problems_of(|v| v["options"] = json!({"kmsKeyId": "alias/aws/ebs"}));
        assert!(
            msg.contains("options.kmsKeyId") && msg.contains("key ARN"),
            "{msg}"
        );
        let msg = problems_of(|v| {
            v["options"] = json!({"kmsKeyId": key.replace("ap-northeast-1", "eu-west-1")})
        });
        assert!(msg.contains("eu-west-1") && msg.contains("region"), "{msg}");
    }

    #[test]
    fn bad_ids_and_cross_region_arns_are_named() {
        let msg = problems_of(|v| {
            v["source"]["instanceIds"] = json!(["i-xyz", "i-xyz"]);
            v["target"]["accountId"] = json!("2222");
            v["region"] = json!("us-east-1");
        });
        assert!(msg.contains("\"i-xyz\""), "{msg}");
        assert!(msg.contains("twice"), "{msg}");
        assert!(msg.contains("12-digit"), "{msg}");
        assert!(
            msg.contains("one migration works inside one region"),
            "{msg}"
        );
    }

    #[test]
    fn same_source_and_target_account_is_refused() {
        let msg = problems_of(|v| v["target"]["accountId"] = json!("111111111111"));
        assert!(
            msg.contains("target.accountId equals source.accountId"),
            "{msg}"
        );
    }

    #[test]
    fn a_rule_of_another_listener_is_refused() {
        let msg = problems_of(|v| {
            v["service"]["ruleArn"] = json!(
                "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener-rule/app/main/0123456789abcdef/fedcba9876543210/0011223344556677"
            )
        });
        assert!(msg.contains("not a rule of service.listenerArn"), "{msg}");
    }

    #[test]
    fn traffic_shift_must_end_at_100() {
        let msg = problems_of(|v| v["options"] = json!({"trafficShift": [50, 10]}));
        assert!(msg.contains("ending at 100"), "{msg}");
    }
}
