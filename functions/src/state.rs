//! The documents the steps pass to each other through the state machine.
//!
//! Preflight resolves the plan against what exists into [`Facts`]; later steps use those
//! facts instead of guessing again. Field names are camelCase JSON, like the plan.

use serde::{Deserialize, Serialize};

pub use crate::resolved::ResolvedOptions;

use crate::plan::Plan;
pub use crate::step_outputs::*;
use crate::traffic::{ActionModel, maintenance_actions};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    /// What Preflight verified, in order (shown by `carveout plan`).
    #[serde(default)]
    pub checks: Vec<String>,
    pub network: NetworkSide,
    pub target: TargetSide,
    pub service: ServiceFacts,
    /// Every source instance, in the plan's order. Empty in a child execution's input:
    /// the Map passes the child its own instance as `sourceInstance` and leaves the others
    /// (and `checks`) out, so a failed child's description stays within the 32,768
    /// characters of a task failure's cause.
    #[serde(default)]
    pub instances: Vec<InstanceFacts>,
    pub options: ResolvedOptions,
}

/// The ALB's side (in the plan's `service.accountId`): its VPC and the route tables of the ALB's subnets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSide {
    pub vpc_id: String,
    pub cidrs: Vec<String>,
    pub route_table_ids: Vec<String>,
    pub load_balancer_arn: String,
    pub security_group_ids: Vec<String>,
}

/// The new account's side (the plan's `target.accountId`): its VPC, subnets and their route tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSide {
    pub vpc_id: String,
    pub cidrs: Vec<String>,
    pub route_table_ids: Vec<String>,
    pub subnets: Vec<SubnetFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetFacts {
    pub subnet_id: String,
    pub availability_zone: String,
    pub cidr: String,
}

/// The forward action being moved and the target group it forwards to today.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceFacts {
    pub listener_arn: String,
    pub rule_arn: Option<String>,
    pub target_group_arn: String,
    /// The action list exactly as described before any change: what Rollback restores.
    pub original_actions: Vec<ActionModel>,
    pub target_group: TargetGroupSettings,
    /// A listener-rule priority no rule uses: where the probe rule goes.
    pub probe_priority: i32,
}

/// Protocol, port and health check of the original group, copied to the new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupSettings {
    pub protocol: String,
    pub port: i32,
    pub protocol_version: Option<String>,
    pub ip_address_type: Option<String>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval_seconds: Option<i32>,
    pub health_check_timeout_seconds: Option<i32>,
    pub healthy_threshold_count: Option<i32>,
    pub unhealthy_threshold_count: Option<i32>,
    pub matcher_http_code: Option<String>,
    pub matcher_grpc_code: Option<String>,
    /// Every attribute of the original group (DescribeTargetGroupAttributes), key -> value:
    /// the new group gets those `carried::attributes_to_carry` keeps.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl TargetGroupSettings {
    /// Every port the ALB uses to reach a target registered on `traffic_port`: that port,
    /// and the health-check port when the group checks another one (`HealthCheckPort` is
    /// `traffic-port` or a number,
    /// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html>).
    pub fn alb_ports(&self, traffic_port: i32) -> Vec<i32> {
        let health = self
            .health_check_port
            .as_deref()
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(traffic_port);
        let mut ports = vec![traffic_port, health];
        ports.dedup();
        ports
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceFacts {
    pub instance_id: String,
    pub instance_type: String,
    pub availability_zone: String,
    pub private_ip: String,
    pub image_id: Option<String>,
    pub root_device_name: Option<String>,
    pub state: String,
    /// The port the service listens on: the registered target port.
    pub port: i32,
    /// `x86_64`, `arm64`…: what its image boots on.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Whether ENA is enabled on it (and so in its image).
    #[serde(default)]
    pub ena_support: Option<bool>,
    /// Its AWS Marketplace product codes (type `marketplace`): they travel into the image
    /// and the new instance, and the target account must be subscribed to each.
    #[serde(default)]
    pub product_codes: Vec<String>,
    /// `spot` or `scheduled` when not an On-Demand instance (EC2's InstanceLifecycle).
    #[serde(default)]
    pub lifecycle: Option<String>,
    pub tags: Vec<Tag>,
    pub volumes: Vec<VolumeFacts>,
    /// Everything else that makes it this service (profile, metadata, monitoring…):
    /// `carried::decide` says what the new instance gets of each.
    #[serde(default)]
    pub settings: crate::carried::InstanceSettings,
}

impl InstanceFacts {
    /// What the new instance of this source gets, under the resolved options.
    pub fn decision(&self, options: &ResolvedOptions) -> crate::carried::Decision {
        crate::carried::decide(
            &self.instance_id,
            &self.instance_type,
            &self.settings,
            &options.carry,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFacts {
    pub volume_id: String,
    pub device_name: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// The state document of an execution: the plan, the facts, and what each step added
/// under its own key (`ResultPath`). A step takes what it needs with the typed accessor
/// of that key (`state.image()?`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub plan: Plan,
    #[serde(default)]
    pub facts: Option<Facts>,
    #[serde(default)]
    pub peering: Option<PeeringOut>,
    #[serde(default)]
    pub routes: Option<Vec<RouteOut>>,
    #[serde(default)]
    pub share: Option<ShareOut>,
    /// Image Map iteration: the source instance being imaged.
    #[serde(default)]
    pub source_instance: Option<InstanceFacts>,
    #[serde(default)]
    pub image: Option<ImageOut>,
    /// Image child execution of PreImageEachInstance: the full image taken while the source
    /// still serves (stop-source), not the one that is shared and launched.
    #[serde(default)]
    pub pre_image: Option<bool>,
    /// Image child execution: the migration execution's StartTime (`names::per_execution`).
    #[serde(default)]
    pub execution_started_at: Option<String>,
    #[serde(default)]
    pub prepared: Option<Prepared>,
    /// Launch Map iteration: the position of the instance (spreads over the subnets).
    #[serde(default)]
    pub index: Option<usize>,
    #[serde(default)]
    pub launched: Option<LaunchedInstance>,
    #[serde(default)]
    pub instances: Option<Vec<LaunchedInstance>>,
    #[serde(default)]
    pub target_group: Option<TargetGroupOut>,
    /// Null when the service already forwarded to the new group (a re-run).
    #[serde(default)]
    pub probe_rule: Option<ProbeRuleOut>,
    /// Gradual cutover Map iteration: the percentage of traffic this step sends to the
    /// new targets.
    #[serde(default)]
    pub shift_percent: Option<u8>,
    /// stop-source: the maintenance answer in place since then.
    #[serde(default)]
    pub maintenance: Option<MaintenanceOut>,
    #[serde(default)]
    pub cutover: Option<CutoverOut>,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

/// Typed accessors for what earlier states put in the document: `state.peering()?` is
/// the `peering` an earlier step returned, or a ResourceFailed naming the missing JSON key
/// (an ASL wiring error: the state machine did not pass it).
macro_rules! needs {
    ($($field:ident: $ty:ty = $json:literal;)*) => {
        impl State {
            $(
                #[doc = concat!("`", $json, "`, set by an earlier state.")]
                pub fn $field(&self) -> Result<&$ty, crate::error::StepError> {
                    self.$field.as_ref().ok_or_else(|| missing($json))
                }
            )*
        }
    };
}

fn missing(key: &str) -> crate::error::StepError {
    crate::error::StepError::ResourceFailed(format!(
        "step input has no `{key}`: the state machine did not pass it (ASL wiring error)"
    ))
}

needs! {
    facts: Facts = "facts";
    peering: PeeringOut = "peering";
    routes: Vec<RouteOut> = "routes";
    share: ShareOut = "share";
    source_instance: InstanceFacts = "sourceInstance";
    image: ImageOut = "image";
    prepared: Prepared = "prepared";
    launched: LaunchedInstance = "launched";
    instances: Vec<LaunchedInstance> = "instances";
    target_group: TargetGroupOut = "targetGroup";
    shift_percent: u8 = "shiftPercent";
}

impl State {
    /// The source instances' ids, as Preflight resolved them.
    pub fn source_instance_ids(&self) -> Result<Vec<String>, crate::error::StepError> {
        Ok(self
            .facts()?
            .instances
            .iter()
            .map(|i| i.instance_id.clone())
            .collect())
    }

    /// The maintenance answer of this migration (its original actions with every forward
    /// replaced by the 503), when it stops its source; `None` otherwise.
    pub fn maintenance_actions(&self) -> Result<Option<Vec<ActionModel>>, crate::error::StepError> {
        let facts = self.facts()?;
        Ok(facts.options.stop_source.then(|| {
            maintenance_actions(
                &facts.service.original_actions,
                &facts.options.maintenance_body,
            )
        }))
    }
}

/// The Catch output of Step Functions: `{Error, Cause}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl CaughtError {
    /// The failure itself: a failed child execution (the image or launch work) fails its
    /// `.sync:2` Task with `States.TaskFailed` and the child's description, its `Error` and
    /// `Cause` inside, as JSON, in the cause.
    /// The cause may be cut at 32,768 characters (it carries the child's input too): then
    /// the two fields are read from the text as far as it goes.
    pub fn innermost(self) -> CaughtError {
        if self.error != "States.TaskFailed" {
            return self;
        }
        let field = |name: &str| -> Option<String> {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&self.cause) {
                return v[name].as_str().map(str::to_string);
            }
            // A JSON string field at the top level: inside the escaped input its quotes
            // are escaped, so they do not match.
            let re = regex_lite::Regex::new(&format!(r#""{name}":("(?:[^"\\]|\\.)*")"#)).ok()?;
            let text = re.captures(&self.cause)?.get(1)?.as_str().to_string();
            serde_json::from_str(&text).ok()
        };
        match field("Error") {
            Some(error) => CaughtError {
                error,
                cause: field("Cause").unwrap_or_default(),
            }
            .innermost(),
            None => self,
        }
    }
}

/// Milliseconds since the epoch, for the downtime of a stop-source migration.
pub fn now_epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
