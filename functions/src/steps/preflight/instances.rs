//! Preflight, the source instances: running, EBS-backed, every target of the group, their
//! volumes, and instance store data that an image would leave behind.

use std::collections::BTreeSet;

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};
use crate::plan::{Consistency, Plan};
use crate::state::{InstanceFacts, Tag, VolumeFacts};

use super::service::ResolvedService;

pub(super) async fn resolve_instances(
    plan: &Plan,
    src: &AccountClients,
    service: &ResolvedService,
) -> Result<Vec<InstanceFacts>, StepError> {
    let out = match src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(plan.source.instance_ids.clone()))
        .send()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)
    {
        Ok(out) => out,
        Err(f) if f.is_any(&["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]) => {
            return Err(StepError::invalid_plan(format!(
                "source.instanceIds: {} (account {})",
                f.message, plan.source.account_id
            )));
        }
        Err(f) => return Err(f.into()),
    };
    let found: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    let mut facts = Vec::new();
    for id in &plan.source.instance_ids {
        let inst = found
            .iter()
            .find(|i| i.instance_id() == Some(id.as_str()))
            .ok_or_else(|| {
                StepError::invalid_plan(format!(
                    "source instance {id} does not exist in account {}",
                    plan.source.account_id
                ))
            })?;
        let state = inst
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        if state != "running" {
            let resume = if plan.consistency == Consistency::StopSource && state == "stopped" {
                "; if an interrupted carveout execution of this migration stopped it, redrive that execution (aws stepfunctions redrive-execution) rather than starting a new one: it resumes with the action it saved and restores it on failure"
            } else {
                ""
            };
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is {state}; carveout moves running instances{resume}"
            )));
        }
        if inst.root_device_type().map(|t| t.as_str()) != Some("ebs") {
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is not EBS-backed: an image would not carry its data"
            )));
        }
        let private_ip = inst.private_ip_address().unwrap_or_default().to_string();
        let target_id = service.target_type.target_id(id, &private_ip);
        let registered = service.targets.iter().find(|(t, _)| t == target_id);
        let Some((_, port)) = registered else {
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is not registered in service.targetGroupArn {}",
                plan.service.target_group_arn
            )));
        };
        let volume_ids: Vec<String> = inst
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_string))
            .collect();
        let volumes = describe_volumes(src, inst, &volume_ids).await?;
        facts.push(InstanceFacts {
            instance_id: id.clone(),
            instance_type: inst
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            availability_zone: inst
                .placement()
                .and_then(|p| p.availability_zone())
                .unwrap_or_default()
                .to_string(),
            private_ip,
            image_id: inst.image_id().map(str::to_string),
            root_device_name: inst.root_device_name().map(str::to_string),
            state,
            port: *port,
            tags: inst
                .tags()
                .iter()
                .filter_map(|t| {
                    Some(Tag {
                        key: t.key()?.to_string(),
                        value: t.value()?.to_string(),
                    })
                })
                .collect(),
            volumes,
        });
    }
    // Moving only some of a group's targets would cut the others out of the traffic.
    let moving: BTreeSet<String> = facts
        .iter()
        .map(|f| {
            service
                .target_type
                .target_id(&f.instance_id, &f.private_ip)
                .to_string()
        })
        .collect();
    let left: Vec<&str> = service
        .targets
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !moving.contains(*t))
        .collect();
    if !left.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "target group {} also serves {}: after cutover they would receive no traffic; add them to source.instanceIds or give the moving service its own rule and target group",
            plan.service.target_group_arn,
            left.join(", ")
        )));
    }
    Ok(facts)
}

pub(super) async fn describe_volumes(
    src: &AccountClients,
    inst: &aws_sdk_ec2::types::Instance,
    volume_ids: &[String],
) -> Result<Vec<VolumeFacts>, StepError> {
    if volume_ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = src
        .ec2
        .describe_volumes()
        .set_volume_ids(Some(volume_ids.to_vec()))
        .send()
        .await
        .named("ec2:DescribeVolumes", &src.role_arn)?;
    Ok(inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            let vid = m.ebs()?.volume_id()?;
            let vol = out.volumes().iter().find(|v| v.volume_id() == Some(vid))?;
            Some(VolumeFacts {
                volume_id: vid.to_string(),
                device_name: m.device_name().unwrap_or_default().to_string(),
                encrypted: vol.encrypted().unwrap_or(false),
                kms_key_id: vol.kms_key_id().map(str::to_string),
            })
        })
        .collect())
}

/// An image holds the EBS volumes only: data on instance store volumes (always attached
/// to types like m5d) would not reach the new instances. Refused unless the plan says it
/// is scratch data.
pub(super) async fn check_instance_store(
    plan: &Plan,
    src: &AccountClients,
    instances: &[InstanceFacts],
) -> Result<String, StepError> {
    let types: BTreeSet<&str> = instances.iter().map(|i| i.instance_type.as_str()).collect();
    let out = src
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.iter().map(|t| (*t).into()).collect()))
        .send()
        .await
        .named("ec2:DescribeInstanceTypes", &src.role_arn)?;
    // Instance type -> instance store size (GB), for the types that have one.
    let store: std::collections::BTreeMap<String, i64> = out
        .instance_types()
        .iter()
        .filter(|t| t.instance_storage_supported() == Some(true))
        .filter_map(|t| {
            let size = t.instance_storage_info().and_then(|i| i.total_size_in_gb());
            Some((
                t.instance_type()?.as_str().to_string(),
                size.unwrap_or_default(),
            ))
        })
        .collect();
    if store.is_empty() {
        return Ok("no source instance type has instance store volumes".into());
    }
    let with_store: Vec<String> = store
        .iter()
        .map(|(t, gb)| format!("{t}: {gb} GB"))
        .collect();
    let affected: Vec<&str> = instances
        .iter()
        .filter(|i| store.contains_key(&i.instance_type))
        .map(|i| i.instance_id.as_str())
        .collect();
    if plan.options.allow_instance_store_data_loss {
        return Ok(format!(
            "instance store volumes of {} ({}) are left behind, as options.allowInstanceStoreDataLoss says",
            affected.join(", "),
            with_store.join(", ")
        ));
    }
    Err(StepError::invalid_plan(format!(
        "source instance(s) {} have instance store volumes ({}): an image does not contain them, so their data would not reach the new instances; move what must survive to EBS, or set options.allowInstanceStoreDataLoss to true if it is only scratch space",
        affected.join(", "),
        with_store.join(", ")
    )))
}
