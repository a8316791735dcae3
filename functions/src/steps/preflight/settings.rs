//! Preflight, the same service: every setting of each source instance is read, each
//! mapping of the plan is resolved in the target account, and `carried::decide` refuses
//! what would silently change (docs/same-service.md).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Instance, InstanceAttributeName, InstanceTypeInfo, Volume};

use crate::accounts::AccountClients;
use crate::aws::ec2::filter;
use crate::carried::{CarryOptions, CpuOptions, InstanceSettings, MetadataOptions, VolumeSettings};
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;
use crate::state::{InstanceFacts, ResolvedOptions};

use super::check::Verdict;

/// The tag a role needs for the member role to pass it to EC2 (the condition of its
/// `PassInstanceRoles` statement, templates/member-role.yaml).
pub(super) const PASSABLE_ROLE_TAG: (&str, &str) = ("carveout:instance-role", "true");

/// The settings of `inst` beyond its identity: DescribeInstances' own fields, its
/// attributes (DescribeInstanceAttribute: userData, instanceInitiatedShutdownBehavior,
/// disableApiTermination), its CPU credits (burstable types) and its Elastic IP.
/// `volumes`: DescribeVolumes of its EBS volumes; `types`: DescribeInstanceTypes of the
/// sources' types.
pub(super) async fn read_settings(
    src: &AccountClients,
    inst: &Instance,
    volumes: &[Volume],
    types: &[InstanceTypeInfo],
) -> Result<InstanceSettings, StepError> {
    let id = inst.instance_id().unwrap_or_default();
    let attribute = |name: InstanceAttributeName| {
        src.ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(name)
            .send()
    };
    let user_data = attribute(InstanceAttributeName::UserData)
        .await
        .named("ec2:DescribeInstanceAttribute", &src.role_arn)?;
    let shutdown = attribute(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .await
        .named("ec2:DescribeInstanceAttribute", &src.role_arn)?;
    let termination = attribute(InstanceAttributeName::DisableApiTermination)
        .await
        .named("ec2:DescribeInstanceAttribute", &src.role_arn)?;
    let instance_type = inst.instance_type().map(|t| t.as_str()).unwrap_or_default();
    let cpu_credits = if matches!(
        instance_type.split('.').next(),
        Some("t2" | "t3" | "t3a" | "t4g")
    ) {
        src.ec2
            .describe_instance_credit_specifications()
            .instance_ids(id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeInstanceCreditSpecifications", &src.role_arn)?
            .into_iter()
            .find_map(|c| c.cpu_credits().map(str::to_string))
    } else {
        None
    };
    let elastic_ip = src
        .ec2
        .describe_addresses()
        .filters(filter("instance-id", &[id]))
        .send()
        .await
        .named("ec2:DescribeAddresses", &src.role_arn)?
        .addresses()
        .iter()
        .find_map(|a| a.public_ip().map(str::to_string));
    let primary = |n: &&aws_sdk_ec2::types::InstanceNetworkInterface| {
        n.attachment().and_then(|a| a.device_index()) == Some(0)
    };
    let nics = inst.network_interfaces();
    Ok(InstanceSettings {
        instance_profile_arn: inst
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(str::to_string),
        metadata: inst.metadata_options().map(|m| MetadataOptions {
            http_tokens: m
                .http_tokens()
                .map_or("optional", |t| t.as_str())
                .to_string(),
            http_put_response_hop_limit: m.http_put_response_hop_limit().unwrap_or(1),
            http_endpoint: m
                .http_endpoint()
                .map_or("enabled", |e| e.as_str())
                .to_string(),
            instance_metadata_tags: m
                .instance_metadata_tags()
                .map_or("disabled", |t| t.as_str())
                .to_string(),
            http_protocol_ipv6: m.http_protocol_ipv6().map(|p| p.as_str().to_string()),
        }),
        has_user_data: user_data
            .user_data()
            .and_then(|v| v.value())
            .is_some_and(|v| !v.is_empty()),
        detailed_monitoring: inst
            .monitoring()
            .and_then(|m| m.state())
            .map(|s| s.as_str())
            == Some("enabled"),
        ebs_optimized: inst.ebs_optimized().unwrap_or(false),
        cpu_options: custom_cpu_options(inst, types),
        cpu_credits,
        tenancy: inst
            .placement()
            .and_then(|p| p.tenancy())
            .map(|t| t.as_str().to_string()),
        hibernation: inst
            .hibernation_options()
            .and_then(|h| h.configured())
            .unwrap_or(false),
        source_dest_check: inst.source_dest_check(),
        shutdown_behavior: shutdown
            .instance_initiated_shutdown_behavior()
            .and_then(|v| v.value())
            .map(str::to_string),
        termination_protection: termination
            .disable_api_termination()
            .and_then(|v| v.value())
            .unwrap_or(false),
        placement_group: inst
            .placement()
            .and_then(|p| p.group_name())
            .filter(|g| !g.is_empty())
            .map(str::to_string),
        secondary_private_ips: nics
            .iter()
            .filter(primary)
            .flat_map(|n| n.private_ip_addresses())
            .filter(|a| a.primary() != Some(true))
            .filter_map(|a| a.private_ip_address().map(str::to_string))
            .collect(),
        extra_network_interfaces: nics
            .iter()
            .filter(|n| !primary(n))
            .filter_map(|n| n.network_interface_id().map(str::to_string))
            .collect(),
        public_ip: inst.public_ip_address().map(str::to_string),
        elastic_ip,
        key_name: inst.key_name().map(str::to_string),
        security_group_ids: inst
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        volumes: volume_settings(inst, volumes),
    })
}

/// The instance's CPU options when they are not its type's defaults (DescribeInstanceTypes'
/// VCpuInfo): only such options are a setting to carry. DescribeInstances answers CPU
/// options for every instance, and passing the defaults back is refused for types that
/// take no CPU options (T2, bare metal:
/// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cpu-options-supported-instances-values.html>).
fn custom_cpu_options(inst: &Instance, types: &[InstanceTypeInfo]) -> Option<CpuOptions> {
    let c = inst.cpu_options()?;
    let (cores, threads, t) = (
        c.core_count()?,
        c.threads_per_core()?,
        inst.instance_type()?,
    );
    let defaults = types
        .iter()
        .find(|i| i.instance_type() == Some(t))
        .and_then(|i| i.v_cpu_info())
        .map(|v| (v.default_cores(), v.default_threads_per_core()));
    match defaults {
        Some((Some(dc), Some(dt))) if (dc, dt) != (cores, threads) => Some(CpuOptions {
            core_count: cores,
            threads_per_core: threads,
        }),
        // The defaults, or unknown defaults: nothing to carry (the type's own apply).
        _ => None,
    }
}

/// What the image will record of each EBS volume: type, size, IOPS and throughput from
/// the volume, delete-on-termination from the instance's mapping.
fn volume_settings(inst: &Instance, volumes: &[Volume]) -> Vec<VolumeSettings> {
    inst.block_device_mappings()
        .iter()
        .filter_map(|m| {
            let ebs = m.ebs()?;
            let vol = volumes.iter().find(|v| v.volume_id() == ebs.volume_id())?;
            Some(VolumeSettings {
                device_name: m.device_name().unwrap_or_default().to_string(),
                volume_type: vol
                    .volume_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                size_gib: vol.size().unwrap_or_default(),
                iops: vol.iops(),
                throughput: vol.throughput(),
                delete_on_termination: ebs.delete_on_termination().unwrap_or(false),
            })
        })
        .collect()
}

/// The plan's mappings resolved in the target account: each instance profile named in
/// options.instanceProfiles that a source uses is read with GetInstanceProfile (it must
/// exist and hold a role the member role may pass: tagged [`PASSABLE_ROLE_TAG`], read
/// with ListRoleTags), each placement group of options.placementGroups with
/// DescribePlacementGroups. Errors: InvalidPlan naming the missing profile, role tag or
/// group.
pub(super) async fn resolve_carry(
    plan: &Plan,
    tgt: &AccountClients,
    instances: &[InstanceFacts],
    subnets: &[crate::state::SubnetFacts],
) -> Result<CarryOptions, StepError> {
    let o = &plan.options;
    let mut profiles = BTreeMap::new();
    for arn in instances
        .iter()
        .filter_map(|i| i.settings.instance_profile_arn.as_deref())
    {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        let Some(wanted) = o.instance_profiles.get(name) else {
            continue;
        };
        if profiles.contains_key(arn) {
            continue;
        }
        let profile = match tgt
            .iam
            .get_instance_profile()
            .instance_profile_name(wanted)
            .send()
            .await
            .named("iam:GetInstanceProfile", &tgt.role_arn)
        {
            Ok(out) => out.instance_profile,
            Err(f) if f.is("NoSuchEntity") => {
                return Err(StepError::invalid_plan(format!(
                    "options.instanceProfiles maps {name} to {wanted}, which does not exist in target account {}",
                    plan.target.account_id
                )));
            }
            Err(f) => return Err(f.into()),
        };
        let profile = profile.ok_or_else(|| {
            StepError::ResourceFailed(format!("GetInstanceProfile {wanted} answered no profile"))
        })?;
        let [role] = profile.roles() else {
            return Err(StepError::invalid_plan(format!(
                "instance profile {wanted} of target account {} holds {} roles; a profile used by EC2 holds exactly one",
                plan.target.account_id,
                profile.roles().len()
            )));
        };
        let tags = tgt
            .iam
            .list_role_tags()
            .role_name(role.role_name())
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("iam:ListRoleTags", &tgt.role_arn)?;
        let (key, value) = PASSABLE_ROLE_TAG;
        if !tags.iter().any(|t| t.key() == key && t.value() == value) {
            return Err(StepError::invalid_plan(format!(
                "role {} of instance profile {wanted} (target account {}) is not tagged {key}={value}: the member role may pass only roles so tagged to EC2 (templates/member-role.yaml); tag it",
                role.role_name(),
                plan.target.account_id
            )));
        }
        profiles.insert(arn.to_string(), profile.arn().to_string());
    }
    let mut groups = BTreeMap::new();
    for group in instances
        .iter()
        .filter_map(|i| i.settings.placement_group.as_deref())
    {
        let Some(wanted) = o.placement_groups.get(group) else {
            continue;
        };
        let found = tgt
            .ec2
            .describe_placement_groups()
            .filters(filter("group-name", &[wanted]))
            .send()
            .await
            .named("ec2:DescribePlacementGroups", &tgt.role_arn)?;
        let Some(found) = found
            .placement_groups()
            .iter()
            .find(|g| g.group_name() == Some(wanted.as_str()))
        else {
            return Err(StepError::invalid_plan(format!(
                "options.placementGroups maps {group} to {wanted}, which does not exist in target account {}",
                plan.target.account_id
            )));
        };
        let strategy = found.strategy().map(|s| s.as_str()).unwrap_or_default();
        // Launch i goes to subnet i mod n: the group's members decide the zones it needs.
        let members = instances
            .iter()
            .filter(|i| i.settings.placement_group.as_deref() == Some(group))
            .count();
        let used: Vec<crate::state::SubnetFacts> = instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.settings.placement_group.as_deref() == Some(group))
            .filter_map(|(n, _)| subnets.get(n % subnets.len().max(1)).cloned())
            .collect();
        cluster_in_one_zone(wanted, strategy, &used, members)?;
        groups.insert(group.to_string(), wanted.clone());
    }
    Ok(CarryOptions {
        instance_profiles: profiles,
        require_imdsv2: o.require_imdsv2,
        pass_user_data: o.pass_user_data,
        placement_groups: groups,
        accept_address_changes: o.accept_address_changes,
        instance_type: o.instance_type.clone(),
        volume_initialization_rate: o.volume_initialization_rate.map(i32::from),
        // Resolved by the hosted zone check (hosted_zones.rs).
        hosted_zones: Default::default(),
    })
}

/// A cluster placement group lives in one Availability Zone: the launches (spread over the
/// first `launches` target subnets in order) must all be in one zone, or RunInstances fails
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/placement-strategies.html#placement-groups-cluster>).
fn cluster_in_one_zone(
    group: &str,
    strategy: &str,
    subnets: &[crate::state::SubnetFacts],
    launches: usize,
) -> Result<(), StepError> {
    let zones: std::collections::BTreeSet<&str> = subnets
        .iter()
        .take(launches.max(1))
        .map(|s| s.availability_zone.as_str())
        .collect();
    if strategy == "cluster" && zones.len() > 1 {
        return Err(StepError::invalid_plan(format!(
            "placement group {group} is a cluster group, which lives in one Availability Zone, and the new instances would launch in {}: list target subnets of one zone first",
            zones.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// Every source's settings carried, or mapped by the plan: the refusals of
/// `carried::decide`, all of them in one InvalidPlan.
pub(super) fn same_service(instances: &[InstanceFacts], options: &ResolvedOptions) -> Verdict {
    let decisions: Vec<_> = instances.iter().map(|i| i.decision(options)).collect();
    let refused: Vec<&str> = decisions
        .iter()
        .flat_map(|d| d.refused.iter().map(String::as_str))
        .collect();
    if !refused.is_empty() {
        return Err(StepError::invalid_plan(refused.join("; ")));
    }
    let (mut carried, mut mapped, mut not) = (0, 0, 0);
    for row in decisions.iter().flat_map(|d| &d.rows) {
        match row.handling {
            crate::carried::Handling::Carried => carried += 1,
            crate::carried::Handling::Mapped => mapped += 1,
            crate::carried::Handling::NotCarried => not += 1,
        }
    }
    Ok(format!(
        "every instance setting is carried ({carried}), mapped by the plan ({mapped}) or knowingly not carried ({not}): see the table below"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::subnet;

    #[test]
    fn a_cluster_group_takes_launches_of_one_zone_only() {
        let two = [subnet("subnet-a", "az-a"), subnet("subnet-b", "az-b")];
        let err = cluster_in_one_zone("pg", "cluster", &two, 2).unwrap_err();
        assert!(err.to_string().contains("az-a, az-b"), "{err}");
        // One instance uses the first subnet only; spread groups span zones.
        assert!(cluster_in_one_zone("pg", "cluster", &two, 1).is_ok());
        assert!(cluster_in_one_zone("pg", "spread", &two, 2).is_ok());
    }
}
