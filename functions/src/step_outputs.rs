//! What each step answers under its own key of the state document (`ResultPath`):
//! the resources it made or found, and when, so the next wait knows how young it is.

use serde::{Deserialize, Serialize};

use crate::traffic::ActionModel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeeringOut {
    pub peering_connection_id: String,
    /// True when an existing peering between the two VPCs was reused (not ours to delete).
    pub reused: bool,
    /// When carveout requested it (or found it), epoch ms: AcceptPeering's wait starts
    /// there, watched while young (`idiom::watching`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteOut {
    pub account_id: String,
    pub route_table_id: String,
    pub destination_cidr: String,
    /// Routes cannot be tagged: a route through this migration's own peering is this
    /// migration's (the peering is new, nobody else routes through it).
    pub peering_connection_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareOut {
    pub resource_share_arn: String,
    pub security_group_arns: Vec<String>,
    /// When carveout made (or found) the share, epoch ms: WaitShareAssociated's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageOut {
    pub source_instance_id: String,
    pub image_id: String,
    #[serde(default)]
    pub snapshot_ids: Vec<String>,
    /// Set on a re-encrypted copy: the image it was copied from (itself carveout's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
    /// The last look of its wait (`looks.rs`): the state machine's Choice reads `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look: Option<crate::looks::Look>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkOut {
    pub peering: PeeringOut,
    pub routes: Vec<RouteOut>,
    #[serde(default)]
    pub share: Option<ShareOut>,
    /// The private hosted zones associated with the target VPC (options.associateHostedZones).
    #[serde(default)]
    pub hosted_zones: Vec<AssociatedZone>,
}

/// One zone associated with the target VPC: `{hostedZoneId, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedZone {
    pub hosted_zone_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prepared {
    pub network: NetworkOut,
    pub images: Vec<ImageOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchedInstance {
    pub source_instance_id: String,
    pub instance_id: String,
    pub image_id: String,
    pub subnet_id: String,
    pub private_ip: String,
    pub security_group_id: String,
    pub port: i32,
    /// The instance's LaunchTime as EC2 reports it, epoch ms: WaitInstanceReady's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupOut {
    pub target_group_arn: String,
    pub name: String,
    /// When CreateTargetGroup registered the new targets, epoch ms: WaitTargetsHealthy's
    /// start (its watch's age). None in a group found before registering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRuleOut {
    pub rule_arn: String,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CutoverOut {
    /// What the action forwards to now.
    pub actions: Vec<ActionModel>,
    /// When the new targets took the traffic (ms since the epoch).
    #[serde(default)]
    pub at_epoch_ms: u64,
    /// False when an earlier run had already cut over.
    pub changed: bool,
    pub probe_rule_removed: bool,
}

/// The maintenance answer (503) the service gives while the source is stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceOut {
    /// When the maintenance answer took over (ms since the epoch): the downtime's start.
    pub since_epoch_ms: u64,
    pub actions: Vec<ActionModel>,
}

/// One step of a gradual cutover: the weighted forward action now in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftOut {
    pub percent: u8,
    pub actions: Vec<ActionModel>,
    /// False when an earlier run had already set this step.
    pub changed: bool,
}
