//! Preflight, the source instances: running, EBS-backed, every target of the group, their
//! volumes, and instance store data that an image would leave behind.

use std::collections::{BTreeMap, BTreeSet};

use crate::accounts::AccountClients;
use crate::error::{PlanIdResultExt, SdkResultExt, StepError};
use crate::plan::{Consistency, Plan};
use crate::state::{InstanceFacts, Tag, VolumeFacts};
use aws_sdk_ec2::types::{InstanceTypeInfo, ProductCodeValues};

use super::check::Verdict;
use super::service::{ResolvedService, TargetType};

/// The facts of the plan's source instances (every page of DescribeInstances), each
/// running, EBS-backed and registered in the service's group, and what
/// DescribeInstanceTypes says of their types (read once, for CPU defaults and instance
/// store).
pub(super) async fn resolve_instances(
    plan: &Plan,
    src: &AccountClients,
    service: &ResolvedService,
) -> Result<(Vec<InstanceFacts>, Vec<InstanceTypeInfo>), StepError> {
    let reservations = src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(plan.source.instance_ids.clone()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)
        .plan_id(
            &["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"],
            |f| {
                format!(
                    "source.instanceIds: {} (account {})",
                    f.message, plan.source.account_id
                )
            },
        )?;
    let found: Vec<_> = reservations
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    let source_types: BTreeSet<&str> = found
        .iter()
        .filter(|i| {
            plan.source
                .instance_ids
                .iter()
                .any(|id| i.instance_id() == Some(id.as_str()))
        })
        .filter_map(|i| i.instance_type().map(|t| t.as_str()))
        .collect();
    let types = read_source_types(src, &source_types).await?;
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
                "; if a carveout execution of this migration stopped it, that execution's Rollback, or the watcher when it ended without one, starts it again and says so on the notification topic (a read just after may still show it stopped: check again in a minute); if the watcher reports it could not, start it yourself"
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
        let (volumes, described) = describe_volumes(src, inst, &volume_ids).await?;
        let settings = super::settings::read_settings(src, inst, &described, &types).await?;
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
            architecture: inst.architecture().map(|a| a.as_str().to_string()),
            ena_support: inst.ena_support(),
            lifecycle: inst.instance_lifecycle().map(|l| l.as_str().to_string()),
            product_codes: inst
                .product_codes()
                .iter()
                .filter(|p| p.product_code_type() == Some(&ProductCodeValues::Marketplace))
                .filter_map(|p| p.product_code_id().map(str::to_string))
                .collect(),
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
            settings,
        });
    }
    Ok((facts, types))
}

/// Moving only some of a group's targets would cut the others out of the traffic.
/// `targets`: the group's registered targets (id, port), named as `target_type` says.
pub(super) fn every_target_moves(
    plan: &Plan,
    targets: &[(String, i32)],
    target_type: TargetType,
    instances: &[InstanceFacts],
) -> Verdict {
    let moving: BTreeSet<&str> = instances
        .iter()
        .map(|f| target_type.target_id(&f.instance_id, &f.private_ip))
        .collect();
    let left: Vec<&str> = targets
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
    Ok(format!(
        "{} source instance(s) running, EBS-backed, and together every target of the group",
        instances.len()
    ))
}

/// The EBS volumes of `inst` (every page of DescribeVolumes), in its mapping's order, and
/// the volumes as described.
pub(super) async fn describe_volumes(
    src: &AccountClients,
    inst: &aws_sdk_ec2::types::Instance,
    volume_ids: &[String],
) -> Result<(Vec<VolumeFacts>, Vec<aws_sdk_ec2::types::Volume>), StepError> {
    if volume_ids.is_empty() {
        return Ok(Default::default());
    }
    let volumes = src
        .ec2
        .describe_volumes()
        .set_volume_ids(Some(volume_ids.to_vec()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVolumes", &src.role_arn)?;
    let facts = inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            let vid = m.ebs()?.volume_id()?;
            let vol = volumes.iter().find(|v| v.volume_id() == Some(vid))?;
            Some(VolumeFacts {
                volume_id: vid.to_string(),
                device_name: m.device_name().unwrap_or_default().to_string(),
                encrypted: vol.encrypted().unwrap_or(false),
                kms_key_id: vol.kms_key_id().map(str::to_string),
            })
        })
        .collect();
    Ok((facts, volumes))
}

/// Instance type -> instance store size (GB), for the source types that have one (every
/// page of DescribeInstanceTypes).
/// DescribeInstanceTypes of the source instances' types (every page).
async fn read_source_types(
    src: &AccountClients,
    types: &BTreeSet<&str>,
) -> Result<Vec<InstanceTypeInfo>, StepError> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    Ok(src
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.iter().map(|t| (*t).into()).collect()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstanceTypes", &src.role_arn)?)
}

/// Instance type -> total instance store size (GB), for the types that have one.
pub(super) fn store_sizes(infos: &[InstanceTypeInfo]) -> BTreeMap<String, i64> {
    infos
        .iter()
        .filter(|t| t.instance_storage_supported() == Some(true))
        .filter_map(|t| {
            let size = t.instance_storage_info().and_then(|i| i.total_size_in_gb());
            Some((
                t.instance_type()?.as_str().to_string(),
                size.unwrap_or_default(),
            ))
        })
        .collect()
}

/// An image holds the EBS volumes only: data on instance store volumes (always attached
/// to types like m5d) would not reach the new instances
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/creating-an-ami-ebs.html>).
/// Refused unless the plan says it is scratch data. `store`: [`read_instance_store`].
pub(super) fn instance_store(
    plan: &Plan,
    store: &BTreeMap<String, i64>,
    instances: &[InstanceFacts],
) -> Verdict {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{instance, plan};

    #[test]
    fn a_group_target_left_behind_is_refused_by_name() {
        let moving = [instance("i-a", "t3.small", None)];
        let targets = vec![("i-a".to_string(), 80), ("i-b".to_string(), 80)];
        let err = every_target_moves(&plan(), &targets, TargetType::Instance, &moving).unwrap_err();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        assert!(err.to_string().contains("also serves i-b"), "{err}");
        // An ip group names the same instance by its private address.
        let by_ip = vec![("10.0.10.5".to_string(), 80)];
        assert!(every_target_moves(&plan(), &by_ip, TargetType::Ip, &moving).is_ok());
    }

    #[tokio::test]
    async fn instance_store_of_types_on_every_page_is_read() {
        use crate::test_support::{clients, two_pages};
        use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput as Out;
        use aws_sdk_ec2::types::{InstanceStorageInfo, InstanceType};
        let store = |t: InstanceType, gb: i64| {
            InstanceTypeInfo::builder()
                .instance_type(t)
                .instance_storage_supported(true)
                .instance_storage_info(InstanceStorageInfo::builder().total_size_in_gb(gb).build())
                .build()
        };
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_instance_types,
            next_token => next_token,
            Out::builder().instance_types(store(InstanceType::C5dLarge, 50)),
            Out::builder().instance_types(store(InstanceType::M5dLarge, 75)),
        );
        let types = BTreeSet::from(["c5d.large", "m5d.large"]);
        let infos = read_source_types(&clients(&[&first, &second], &[], &[]), &types)
            .await
            .unwrap();
        let found = store_sizes(&infos);
        assert_eq!(found.get("m5d.large"), Some(&75));
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn instance_store_data_is_refused_unless_the_plan_accepts_losing_it() {
        let moving = [instance("i-a", "m5d.large", None)];
        let store = BTreeMap::from([("m5d.large".to_string(), 75)]);
        let err = instance_store(&plan(), &store, &moving).unwrap_err();
        assert!(
            err.to_string()
                .contains("i-a have instance store volumes (m5d.large: 75 GB)"),
            "{err}"
        );
        let mut accepting = plan();
        accepting.options.allow_instance_store_data_loss = true;
        assert!(
            instance_store(&accepting, &store, &moving)
                .unwrap()
                .contains("left behind")
        );
        assert!(instance_store(&plan(), &BTreeMap::new(), &moving).is_ok());
    }
}
