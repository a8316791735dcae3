//! The plan: the execution input, a public contract (docs/design.md §3).
//!
//! The JSON Schema shipped in `schema/plan.schema.json` is generated from these types
//! (`carveout schema`), and [`Plan::parse`] checks everything the schema says plus what a
//! schema cannot (cross-field rules), with messages that say how to fix the plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::StepError;

mod options;
mod rules;

pub use options::Options;

pub const MIGRATION_ID: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,47}$";
pub const ACCOUNT_ID: &str = r"^[0-9]{12}$";
pub const REGION: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]$";
pub const ROLE_NAME: &str = r"^[A-Za-z0-9+=,.@_-]{1,64}$";
pub const LISTENER_ARN: &str = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+$";
pub const RULE_ARN: &str = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener-rule/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$";
pub const TARGET_GROUP_ARN: &str = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]+/[0-9a-f]+$";
pub const INSTANCE_ID: &str = r"^i-([0-9a-f]{8}|[0-9a-f]{17})$";
pub const VPC_ID: &str = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$";
pub const SECURITY_GROUP_ID: &str = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$";
pub const ROUTE_TABLE_ID: &str = r"^rtb-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A Route 53 hosted zone id, bare (`Z0123456789ABCDEFGHIJ`, not `/hostedzone/…`).
pub const HOSTED_ZONE_ID: &str = r"^[A-Z0-9]{1,32}$";
pub const SUBNET_ID: &str = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$";
/// A KMS key ARN (not a key id or alias: those resolve in the caller's account, and the
/// target account must name the same key).
pub const KMS_KEY_ARN: &str = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$";
pub const INSTANCE_TYPE: &str = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$";
/// An AWS Marketplace product code, as EC2 reports it on images and instances.
pub const PRODUCT_CODE: &str = r"^[A-Za-z0-9]{1,25}$";

/// A migration of one service (the instances behind one forward action) to a new account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "carveout plan")]
pub struct Plan {
    /// Names the migration: tags every created resource, keys idempotency and names the
    /// Step Functions execution. Up to 48 letters, digits and hyphens.
    #[schemars(pattern(MIGRATION_ID))]
    pub migration_id: String,
    /// The one region the migration works in.
    #[schemars(pattern(REGION))]
    pub region: String,
    /// Role assumed in every account (`arn:aws:iam::<account>:role/<roleName>`).
    #[serde(default = "default_role_name")]
    #[schemars(pattern(ROLE_NAME))]
    pub role_name: String,
    pub service: Service,
    pub source: Source,
    pub target: Target,
    pub consistency: Consistency,
    #[serde(default)]
    pub options: Options,
}

/// The forward action to move: the listener's default action, or the rule `ruleArn`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// The network account: owns the ALB, its VPC, the listener and the target group.
    #[schemars(pattern(ACCOUNT_ID))]
    pub account_id: String,
    #[schemars(pattern(LISTENER_ARN))]
    pub listener_arn: String,
    /// A rule of that listener; null or absent for the listener's default action.
    #[serde(default)]
    #[schemars(pattern(RULE_ARN))]
    pub rule_arn: Option<String>,
    /// The target group the action forwards to today.
    #[schemars(pattern(TARGET_GROUP_ARN))]
    pub target_group_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    #[schemars(pattern(ACCOUNT_ID))]
    pub account_id: String,
    /// The instances to move: every target of the service's target group.
    #[schemars(length(min = 1, max = 20), inner(pattern(INSTANCE_ID)))]
    pub instance_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    /// The new service account.
    #[schemars(pattern(ACCOUNT_ID))]
    pub account_id: String,
    #[schemars(pattern(VPC_ID))]
    pub vpc_id: String,
    /// Where the new instances go, spread across these subnets in order.
    #[schemars(length(min = 1, max = 16), inner(pattern(SUBNET_ID)))]
    pub subnet_ids: Vec<String>,
}

/// How the image is taken; decides whether data written during the move can be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Image without reboot: no downtime; writes after the image stay behind.
    Live,
    /// Image with one reboot of the source: file-system consistent.
    Reboot,
    /// Maintenance answer, stop, image, launch, cut over: no data lost.
    StopSource,
}

fn default_role_name() -> String {
    "CarveOutExecutionRole".to_string()
}
/// The ALB's limit for a fixed-response body.
pub const MAX_MAINTENANCE_BODY: usize = 1024;

/// The maintenance answer's body when the plan gives none.
pub const DEFAULT_MAINTENANCE_BODY: &str =
    "This service is being moved and will be back in a few minutes.";

/// Steps of a gradual cutover, the final 100 % included.
pub const MAX_SHIFT_STEPS: usize = 10;

/// The parts of an ELBv2 ARN that carveout checks against the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnParts {
    pub partition: String,
    pub region: String,
    pub account_id: String,
}

pub fn arn_parts(arn: &str) -> Option<ArnParts> {
    let mut it = arn.splitn(6, ':');
    let (_, partition, _service, region, account) =
        (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    Some(ArnParts {
        partition: partition.to_string(),
        region: region.to_string(),
        account_id: account.to_string(),
    })
}

fn matches(pattern: &str, value: &str) -> bool {
    regex_lite::Regex::new(pattern)
        .expect("plan patterns are valid regexes")
        .is_match(value)
}

impl Plan {
    /// Parses and validates a plan: against its JSON Schema and the rules a schema cannot
    /// express. Every problem found is listed in one InvalidPlan.
    pub fn parse(input: &serde_json::Value) -> Result<Plan, StepError> {
        let schema_problems = schema_problems(input);
        let plan: Plan = match serde_json::from_value(input.clone()) {
            Ok(plan) => plan,
            // Structural problems: the schema's messages name the field by its path.
            Err(e) if schema_problems.is_empty() => {
                return Err(StepError::invalid_plan(format!(
                    "the plan does not parse: {e}"
                )));
            }
            Err(_) => return Err(StepError::invalid_plan(schema_problems.join("; "))),
        };
        // The rules' messages say how to fix each value; the schema's are the fallback.
        let mut problems = plan.problems();
        if problems.is_empty() {
            problems = schema_problems;
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(StepError::invalid_plan(problems.join("; ")))
        }
    }

    pub fn validate(&self) -> Result<(), StepError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StepError::invalid_plan(problems.join("; ")))
        }
    }

    pub fn role_arn(&self, account_id: &str) -> String {
        let partition = arn_parts(&self.service.listener_arn)
            .map(|p| p.partition)
            .unwrap_or_else(|| "aws".into());
        format!("arn:{partition}:iam::{account_id}:role/{}", self.role_name)
    }
}

/// What the JSON Schema finds wrong with a plan document, each with its JSON path.
pub fn schema_problems(input: &serde_json::Value) -> Vec<String> {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        jsonschema::validator_for(&schema()).expect("the generated plan schema compiles")
    });
    validator
        .iter_errors(input)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "the plan".to_string()
            } else {
                path
            };
            format!("{at}: {e}")
        })
        .collect()
}

/// The plan's JSON Schema (draft 2020-12), as shipped in `schema/plan.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan)).expect("schema serializes")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn example() -> serde_json::Value {
        json!({
            "migrationId": "hp-2026-11",
            "region": "ap-northeast-1",
            "service": {
                "accountId": "111111111111",
                "listenerArn": "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener/app/main/0123456789abcdef/0123456789abcdef",
                "ruleArn": null,
                "targetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/hp/0123456789abcdef"
            },
            "source": { "accountId": "111111111111", "instanceIds": ["i-0123456789abcdef0"] },
            "target": { "accountId": "222222222222", "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"] },
            "consistency": "live"
        })
    }

    pub(crate) fn problems_of(mutate: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = example();
        mutate(&mut v);
        match Plan::parse(&v) {
            Err(StepError::InvalidPlan(msg)) => msg,
            other => panic!("expected InvalidPlan, got {other:?}"),
        }
    }

    #[test]
    fn the_example_plan_is_valid_and_gets_safe_defaults() {
        let plan = Plan::parse(&example()).unwrap();
        assert_eq!(plan.role_name, "CarveOutExecutionRole");
        assert!(
            !plan.options.share_security_group_with_ram,
            "RAM is opt-in: a default plan makes no RAM call"
        );
        assert_eq!(plan.options.traffic_shift, vec![100]);
        assert_eq!(
            plan.role_arn("222222222222"),
            "arn:aws:iam::222222222222:role/CarveOutExecutionRole"
        );
    }

    #[test]
    fn consistency_has_no_default() {
        let msg = problems_of(|v| {
            v.as_object_mut().unwrap().remove("consistency");
        });
        assert!(msg.contains("consistency"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_rejected_naming_where() {
        let msg = problems_of(|v| v["target"]["vpcID"] = json!("vpc-1"));
        assert!(msg.contains("vpcID") && msg.contains("/target"), "{msg}");
    }

    #[test]
    fn the_schema_itself_rejects_what_the_model_rejects() {
        assert!(schema_problems(&example()).is_empty());
        let mut v = example();
        v["consistency"] = json!("sometimes");
        v["source"]["instanceIds"] = json!([]);
        let found = schema_problems(&v).join("; ");
        assert!(
            found.contains("/consistency") && found.contains("/source/instanceIds"),
            "{found}"
        );
    }

    #[test]
    fn the_example_inputs_under_events_are_valid_plans() {
        for text in [
            include_str!("../../../events/plan.json"),
            include_str!("../../../events/plan-rule.json"),
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            Plan::parse(&value).unwrap();
        }
    }

    #[test]
    fn the_shipped_schema_is_generated_from_the_model() {
        let shipped: serde_json::Value =
            serde_json::from_str(include_str!("../../../schema/plan.schema.json")).unwrap();
        assert_eq!(
            shipped,
            schema(),
            "schema/plan.schema.json is stale: run `cargo run --bin carveout -- schema > schema/plan.schema.json`"
        );
    }
}
