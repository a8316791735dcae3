//! What each state of a successful run changes, in words, for `carveout plan`. The states
//! come from walking the ASL itself on the resolved facts (`carveout::workflow`), so the
//! list follows the workflow: a Task state without a description here is an error, not a
//! silent gap.

use serde_json::Value;

use carveout::names;
use carveout::plan::Plan;
use carveout::state::Facts;
use carveout::workflow::{self, Entered};

/// The planned run: every Task state entered (in order), and the changes they make.
pub struct Planned {
    pub states: Vec<String>,
    pub changes: Vec<String>,
    /// The execution's history events: at least (no poll) and at most (every attempt).
    pub history: workflow::HistoryEvents,
}

/// Walks the built-in ASL on the plan and its facts. Errors: the walk fails, or it enters a
/// Task state [`describe`] does not know (a new step without its plan text).
pub fn planned(plan: &Plan, facts: &Facts) -> Result<Planned, String> {
    let asl: Value = serde_json::from_str(workflow::ASL).map_err(|e| format!("the ASL: {e}"))?;
    let to_json = |v: serde_json::Result<Value>| v.map_err(|e| e.to_string());
    let input = workflow::planned_input(
        &to_json(serde_json::to_value(plan))?,
        &to_json(serde_json::to_value(facts))?,
    );
    let history = workflow::history_events(&asl, &input)?;
    let entered: Vec<Entered> = workflow::path(&asl, &input)?
        .into_iter()
        .filter(|e| e.kind == "Task")
        .collect();
    let mut changes = Vec::new();
    let mut launches = 0;
    for e in &entered {
        changes.extend(describe(plan, facts, e, &mut launches)?);
    }
    Ok(Planned {
        states: entered.into_iter().map(|e| e.state).collect(),
        changes,
        history,
    })
}

/// What one Task state changes (nothing for the read-only ones: Preflight, the waits and
/// checks, Report). `launches` counts LaunchInstance states so far (they spread over the
/// target subnets in order).
fn describe(
    plan: &Plan,
    f: &Facts,
    e: &Entered,
    launches: &mut usize,
) -> Result<Vec<String>, String> {
    let (n, t, s) = (
        &plan.service.account_id,
        &plan.target.account_id,
        &plan.source.account_id,
    );
    let id = &plan.migration_id;
    let item_instance = || e.item.as_ref().and_then(|i| i["instanceId"].as_str());
    let port = f
        .instances
        .first()
        .map(|i| i.port)
        .unwrap_or(f.service.target_group.port);
    let action = f
        .service
        .rule_arn
        .as_deref()
        .map_or("the listener's default action".to_string(), |r| {
            format!("rule {r}")
        });
    let one = |line: String| Ok(vec![line]);
    match e.state.as_str() {
        "Preflight"
        | "WaitSourceStopped"
        | "WaitShareAssociated"
        | "WaitImageAvailable"
        | "WaitCopyAvailable"
        | "WaitInstanceReady"
        | "CheckVolumesInitialized"
        | "WaitTargetsHealthy"
        | "CheckShift"
        | "Report"
        // The child executions: their own states say what they change.
        | "ImageWorkflow"
        | "PreImageWorkflow"
        | "LaunchWorkflow"
        | "ShiftWorkflow" => Ok(Vec::new()),
        "EnterMaintenance" => one(format!(
            "[{n}] maintenance: {action} answers 503 instead of forwarding (downtime starts)"
        )),
        "StopSourceInstances" => one(format!(
            "[{s}] stop {} (left stopped and intact after cutover)",
            plan.source.instance_ids.join(", ")
        )),
        "CreatePeering" => one(format!(
            "[{n}] request VPC peering {} ({}) -> {} ({}) in {t}",
            f.network.vpc_id,
            f.network.cidrs.join(", "),
            f.target.vpc_id,
            f.target.cidrs.join(", ")
        )),
        "AcceptPeering" => one(format!("[{t}] accept the peering")),
        "AddRoutes" => Ok(f
            .network
            .route_table_ids
            .iter()
            .map(|rt| {
                format!(
                    "[{n}] route {} -> the peering in {rt}",
                    f.target.cidrs.join(", ")
                )
            })
            .chain(f.target.route_table_ids.iter().map(|rt| {
                format!(
                    "[{t}] route {} -> the peering in {rt}",
                    f.network.cidrs.join(", ")
                )
            }))
            .collect()),
        "AssociateHostedZones" => Ok(f
            .options
            .carry
            .hosted_zones
            .iter()
            .map(|(zone, name)| {
                format!(
                    "[{n}] tag private hosted zone {zone} ({name}) carveout:vpc-association:{0} and authorize {0}; [{t}] associate {0} with it; removed by cleanup",
                    f.target.vpc_id
                )
            })
            .collect()),
        "ShareSecurityGroup" => one(format!(
            "[{n}] share {} with {t} through RAM ({})",
            f.network.security_group_ids.join(", "),
            names::resource_share(id)
        )),
        "CreateImage" if e.execution.as_deref().is_some_and(|x| x.starts_with("PreImage")) => {
            one(format!(
                "[{s}] pre-image {} while it still serves, without reboot (the image after the stop copies only what changed since)",
                item_instance().unwrap_or("?")
            ))
        }
        "CreateImage" => one(format!(
            "[{s}] image {} {}",
            item_instance().unwrap_or("?"),
            if f.options.no_reboot {
                "without reboot"
            } else {
                "with one reboot"
            }
        )),
        "CopyImageReEncrypted" => one(format!(
            "[{s}] copy the image of {} re-encrypted with {}",
            item_instance().unwrap_or("?"),
            f.options.kms_key_id.as_deref().unwrap_or("?")
        )),
        "ShareImage" => one(format!(
            "[{s}] share the image of {} (launch permission, snapshots) with {t}",
            item_instance().unwrap_or("?")
        )),
        "LaunchInstance" => {
            let k = *launches;
            *launches += 1;
            let source = e.item.as_ref().and_then(|i| i["sourceInstanceId"].as_str());
            let instance = f
                .instances
                .iter()
                .find(|i| Some(i.instance_id.as_str()) == source);
            let subnet = &f.target.subnets[k % f.target.subnets.len().max(1)];
            let mut lines = Vec::new();
            if k == 0 {
                lines.push(format!(
                    "[{t}] security group {} in {}: tcp {port} from {}",
                    names::security_group(id),
                    f.target.vpc_id,
                    f.network
                        .security_group_ids
                        .iter()
                        .map(|g| format!("{n}/{g}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            lines.push(format!(
                "[{t}] launch {} from the image of {} in {} ({}), IMDSv2 required, tags copied",
                plan.options
                    .instance_type
                    .as_deref()
                    .or(instance.map(|i| i.instance_type.as_str()))
                    .unwrap_or("?"),
                source.unwrap_or("?"),
                subnet.subnet_id,
                subnet.availability_zone
            ));
            Ok(lines)
        }
        "CreateTargetGroup" => {
            let tg = &f.service.target_group;
            Ok(vec![
                format!(
                    "[{n}] IP target group {} ({}:{}, health check {} {}) in {}",
                    names::target_group(id),
                    tg.protocol,
                    tg.port,
                    tg.health_check_protocol.as_deref().unwrap_or("HTTP"),
                    tg.health_check_path.as_deref().unwrap_or("/"),
                    f.network.vpc_id
                ),
                format!("[{n}] register the new private IPs on port {port}, AvailabilityZone=all"),
            ])
        }
        "AttachProbeRule" => one(format!(
            "[{n}] probe rule at priority {} (header {}: {id}) until the new targets are healthy",
            f.service.probe_priority,
            names::PROBE_HEADER
        )),
        "Shift" => one(format!(
            "[{n}] gradual cutover: {action} sends {} % of the traffic to {}, held {} s with health checks",
            e.item.as_ref().and_then(Value::as_u64).unwrap_or(0),
            names::target_group(id),
            f.options.shift_interval_seconds
        )),
        "Cutover" => one(format!(
            "[{n}] cutover: {action} forwards to {} instead of {}; the probe rule is removed",
            names::target_group(id),
            f.service.target_group_arn
        )),
        other => Err(format!(
            "the workflow enters Task state {other}, which cli/src/changes.rs does not describe"
        )),
    }
}
