//! The plan: the execution input, a public contract (docs/design.md §3).
//!
//! The JSON Schema shipped in `schema/plan.schema.json` is generated from these types
//! (`carveout schema`), and [`Plan::parse`] checks everything the schema says plus what a
//! schema cannot (cross-field rules), with messages that say how to fix the plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::StepError;

mod rules;

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Also share the ALB's security groups with the target account through AWS RAM.
    /// Off by default: the ingress rule that lets the ALB in references its group across
    /// the peering without RAM. A shared security group is usable only by participants
    /// launching into the owner's shared subnets (shared VPCs), so this is only for
    /// targets in subnets the network account shares
    /// (<https://docs.aws.amazon.com/vpc/latest/userguide/security-group-sharing.html>).
    #[serde(default)]
    pub share_security_group_with_ram: bool,
    /// Percent of traffic on the new targets per cutover step; must end at 100.
    #[serde(default = "all_at_once")]
    #[schemars(length(min = 1, max = 10), inner(range(min = 1, max = 100)))]
    pub traffic_shift: Vec<u8>,
    /// How long each traffic step is held while the new targets stay healthy.
    #[serde(default = "default_shift_interval")]
    #[schemars(range(min = 0, max = 3600))]
    pub shift_interval_seconds: u32,
    /// Body of the 503 answer the service gives while the source is stopped (consistency
    /// stop-source); default: a short text saying the service is being moved.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub maintenance_body: Option<String>,
    /// ARN of a customer managed KMS key (symmetric, enabled, in the plan's region) that
    /// the source account may encrypt with and the target account may use. When set, each
    /// image is copied, re-encrypted with this key, and the copy is shared and launched:
    /// required when a volume is encrypted with the AWS managed key `aws/ebs`, which
    /// cannot be shared.
    #[serde(default)]
    #[schemars(pattern(KMS_KEY_ARN))]
    pub kms_key_id: Option<String>,
    /// The source instances' instance store volumes (types like m5d) hold nothing that must
    /// survive (scratch space, caches). An image never contains instance store data, so by
    /// default Preflight refuses such instances.
    #[serde(default)]
    pub allow_instance_store_data_loss: bool,
    /// Instance type of the new instances; default: the source instance's type.
    #[serde(default)]
    #[schemars(pattern(INSTANCE_TYPE))]
    pub instance_type: Option<String>,
    /// AWS Marketplace product codes the target account is subscribed to. A source
    /// launched from a Marketplace image carries its product code into the image and the
    /// new instance, and RunInstances fails (`OptInRequired`) in an account that has not
    /// subscribed to the product; Preflight refuses a source whose code is not listed here
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/paid-amis.html>).
    #[serde(default)]
    #[schemars(length(max = 20), inner(pattern(PRODUCT_CODE)))]
    pub marketplace_subscriptions: Vec<String>,
    /// The service keeps no state on its instances (no database, no files it writes):
    /// required for a `trafficShift` of more than one step, during which old and new
    /// instances serve at once and writes would split between two copies.
    #[serde(default)]
    pub stateless: bool,
    /// Instance profiles for the new instances: the source's profile name -> the name of
    /// an instance profile in the target account. A source with a profile and no entry is
    /// refused by Preflight: roles do not cross accounts, and carveout does not create
    /// them. Each named profile must exist in the target account with a role tagged
    /// `carveout:instance-role=true`, the only roles the member role may pass
    /// (templates/member-role.yaml).
    #[serde(default)]
    #[schemars(extend("maxProperties" = 20))]
    pub instance_profiles: std::collections::BTreeMap<String, String>,
    /// Launch the new instances with IMDSv2 required (HttpTokens `required`). Off by
    /// default: the source's metadata options are copied exactly, because forcing tokens
    /// breaks software that uses IMDSv1 today (old SDKs, agents).
    #[serde(default)]
    pub require_imdsv2: bool,
    /// Pass the source's user data to the new instances. Off by default: on a copy of a
    /// configured machine, first-boot scripts would run a second time.
    #[serde(default)]
    pub pass_user_data: bool,
    /// Placement groups for the new instances: the source's group name -> a placement
    /// group of the target account. A source in a group with no entry is refused.
    #[serde(default)]
    #[schemars(extend("maxProperties" = 20))]
    pub placement_groups: std::collections::BTreeMap<String, String>,
    /// Move sources that others reach by an address that does not move with an image
    /// (secondary private IPs, extra network interfaces, an Elastic IP): Preflight refuses
    /// them unless this is set, naming each address.
    #[serde(default)]
    pub accept_address_changes: bool,
    /// Security groups whose rules reference the sources' groups (callees that admit the
    /// service, callers it admits) that the operator has dealt with: Preflight refuses
    /// every other such reference, because the new instances have a new group in another
    /// account, which those rules do not name.
    #[serde(default)]
    #[schemars(length(max = 50), inner(pattern(SECURITY_GROUP_ID)))]
    pub acknowledged_security_group_references: Vec<String>,
    /// More route tables of the ALB's VPC that get the route to the target VPC: those of
    /// subnets where the service's callees run (instances in a group that admits a source
    /// group), so their answers find the way back. Preflight names each such table that
    /// the ALB's subnets' tables do not already cover.
    #[serde(default)]
    #[schemars(length(max = 50), inner(pattern(ROUTE_TABLE_ID)))]
    pub additional_route_table_ids: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            share_security_group_with_ram: false,
            traffic_shift: all_at_once(),
            shift_interval_seconds: default_shift_interval(),
            maintenance_body: None,
            kms_key_id: None,
            allow_instance_store_data_loss: false,
            instance_type: None,
            marketplace_subscriptions: Vec::new(),
            stateless: false,
            instance_profiles: Default::default(),
            require_imdsv2: false,
            pass_user_data: false,
            placement_groups: Default::default(),
            accept_address_changes: false,
            acknowledged_security_group_references: Vec::new(),
            additional_route_table_ids: Vec::new(),
        }
    }
}

fn default_role_name() -> String {
    "CarveOutExecutionRole".to_string()
}
fn all_at_once() -> Vec<u8> {
    vec![100]
}
/// The ALB's limit for a fixed-response body.
pub const MAX_MAINTENANCE_BODY: usize = 1024;

/// The maintenance answer's body when the plan gives none.
pub const DEFAULT_MAINTENANCE_BODY: &str =
    "This service is being moved and will be back in a few minutes.";

/// Steps of a gradual cutover, the final 100 % included.
pub const MAX_SHIFT_STEPS: usize = 10;

fn default_shift_interval() -> u32 {
    60
}

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
