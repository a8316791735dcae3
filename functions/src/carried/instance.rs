//! The instance settings of one source and what the new instance gets for each.

use serde::{Deserialize, Serialize};

use super::{CarryOptions, SettingRow};

/// What DescribeInstances, DescribeInstanceAttribute, DescribeInstanceCreditSpecifications
/// and DescribeAddresses say of a source instance beyond its identity (read by Preflight).
/// Sizes in GiB, throughput in MiB/s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceSettings {
    pub instance_profile_arn: Option<String>,
    pub metadata: Option<MetadataOptions>,
    /// Whether the source has user data (its content is never put in the facts: it often
    /// holds secrets, and the facts are in the execution's history).
    pub has_user_data: bool,
    /// Detailed (1-minute) CloudWatch monitoring.
    pub detailed_monitoring: bool,
    pub ebs_optimized: bool,
    pub cpu_options: Option<CpuOptions>,
    /// `standard` or `unlimited`, for burstable (T) types.
    pub cpu_credits: Option<String>,
    /// `default`, `dedicated` or `host`.
    pub tenancy: Option<String>,
    pub hibernation: bool,
    /// False on an instance that routes others' traffic (NAT, VPN).
    pub source_dest_check: Option<bool>,
    /// `stop` or `terminate`.
    pub shutdown_behavior: Option<String>,
    pub termination_protection: bool,
    pub placement_group: Option<String>,
    pub secondary_private_ips: Vec<String>,
    /// Network interfaces beyond the primary one (eni ids).
    pub extra_network_interfaces: Vec<String>,
    pub public_ip: Option<String>,
    /// The Elastic IP associated with the instance, when it has one.
    pub elastic_ip: Option<String>,
    pub key_name: Option<String>,
    pub security_group_ids: Vec<String>,
    /// Every EBS volume, in the mapping's order: what the image records of each.
    pub volumes: Vec<VolumeSettings>,
}

/// Instance metadata service options (EC2's InstanceMetadataOptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    /// `optional` (IMDSv1 allowed) or `required` (IMDSv2 only).
    pub http_tokens: String,
    pub http_put_response_hop_limit: i32,
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// Tags readable in the metadata: `enabled` or `disabled`.
    pub instance_metadata_tags: String,
    #[serde(default)]
    pub http_protocol_ipv6: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuOptions {
    pub core_count: i32,
    pub threads_per_core: i32,
}

/// One EBS volume as the image will record it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeSettings {
    pub device_name: String,
    pub volume_type: String,
    pub size_gib: i32,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub delete_on_termination: bool,
}

impl VolumeSettings {
    fn describe(&self) -> String {
        let mut s = format!("{} {} GiB", self.volume_type, self.size_gib);
        if let Some(iops) = self.iops {
            s.push_str(&format!(", {iops} IOPS"));
        }
        if let Some(t) = self.throughput {
            s.push_str(&format!(", {t} MiB/s"));
        }
        s.push_str(if self.delete_on_termination {
            ", deleted with the instance"
        } else {
            ", kept after termination"
        });
        s
    }
}

/// The parameters of RunInstances (and the one ModifyInstanceAttribute after it) that
/// [`decide`] sets from a source's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchSettings {
    pub instance_type: String,
    pub instance_profile_arn: Option<String>,
    pub metadata: Option<MetadataOptions>,
    pub pass_user_data: bool,
    pub detailed_monitoring: bool,
    pub ebs_optimized: bool,
    pub cpu_options: Option<CpuOptions>,
    pub cpu_credits: Option<String>,
    pub tenancy: Option<String>,
    pub hibernation: bool,
    pub shutdown_behavior: Option<String>,
    pub placement_group: Option<String>,
    /// Set after the launch (RunInstances has no such parameter): Some(false) only.
    pub source_dest_check: Option<bool>,
    /// options.volumeInitializationRate, MiB/s, for each device in `initialized_devices`.
    pub volume_initialization_rate: Option<i32>,
    pub initialized_devices: Vec<String>,
}

/// What the new instance of one source gets: the launch parameters, the rows of the
/// report, and what Preflight refuses (each naming the plan option that accepts it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub launch: LaunchSettings,
    pub rows: Vec<SettingRow>,
    pub refused: Vec<String>,
}

fn on_off(b: bool) -> &'static str {
    if b { "enabled" } else { "disabled" }
}

fn profile_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The decision for one source of type `instance_type` with settings `s`, under the
/// plan's answers `opts`. Pure; the same call gives the launch step its parameters and
/// Preflight its refusals, so what is reported is what is launched.
pub fn decide(
    instance_id: &str,
    instance_type: &str,
    s: &InstanceSettings,
    opts: &CarryOptions,
) -> Decision {
    let mut d = Decision::default();
    let new_type = opts
        .instance_type
        .clone()
        .unwrap_or_else(|| instance_type.to_string());
    d.launch.instance_type = new_type.clone();

    match s.instance_profile_arn.as_deref() {
        None => d.rows.push(SettingRow::carried("IamInstanceProfile", "none")),
        Some(arn) => match opts.instance_profiles.get(arn) {
            Some(mapped) => {
                d.launch.instance_profile_arn = Some(mapped.clone());
                d.rows.push(SettingRow::mapped("IamInstanceProfile", arn, mapped.as_str(), "options.instanceProfiles"));
            }
            None => d.refused.push(format!(
                "source instance {instance_id} has instance profile {arn}, and account roles do not cross accounts: map it to an instance profile of the target account with options.instanceProfiles {{\"{}\": \"<profile name in the target account>\"}} (carveout does not create roles)",
                profile_name(arn)
            )),
        },
    }

    if let Some(m) = &s.metadata {
        let mut new = m.clone();
        let describe = |m: &MetadataOptions| {
            format!(
                "tokens {}, hop limit {}, endpoint {}, tags {}",
                m.http_tokens,
                m.http_put_response_hop_limit,
                m.http_endpoint,
                m.instance_metadata_tags
            )
        };
        if opts.require_imdsv2 && m.http_tokens != "required" {
            new.http_tokens = "required".into();
            d.rows.push(SettingRow::mapped(
                "MetadataOptions",
                describe(m),
                describe(&new),
                "options.requireImdsv2",
            ));
        } else {
            d.rows
                .push(SettingRow::carried("MetadataOptions", describe(m)));
        }
        d.launch.metadata = Some(new);
    }

    match (s.has_user_data, opts.pass_user_data) {
        (false, _) => d.rows.push(SettingRow::carried("UserData", "none")),
        (true, true) => {
            d.launch.pass_user_data = true;
            d.rows.push(SettingRow::mapped("UserData", "present", "the source's", "options.passUserData"));
        }
        (true, false) => d.rows.push(SettingRow::not_carried(
            "UserData", "present", "none",
            "on a copy of a configured machine first-boot scripts would run again; options.passUserData passes it",
        )),
    }

    for v in &s.volumes {
        d.rows.push(SettingRow::carried(
            &format!("BlockDeviceMappings {}", v.device_name),
            v.describe(),
        ));
    }
    // Every image volume is created from a snapshot, the case the rate is for.
    if !s.volumes.is_empty() {
        match opts.volume_initialization_rate {
            Some(rate) => {
                d.launch.volume_initialization_rate = Some(rate);
                d.launch.initialized_devices =
                    s.volumes.iter().map(|v| v.device_name.clone()).collect();
                d.rows.push(SettingRow::mapped(
                    "VolumeInitializationRate",
                    "none (a volume from a snapshot starts cold)",
                    format!("{rate} MiB/s for every volume"),
                    "options.volumeInitializationRate",
                ));
            }
            None => d.rows.push(SettingRow::carried(
                "VolumeInitializationRate",
                "EBS's default rate",
            )),
        }
    }

    // EBS optimization and hibernation depend on the type: with another type, that type's
    // own support applies (RunInstances refuses either where the type has none).
    let same_type = new_type == instance_type;
    if same_type || !s.ebs_optimized {
        d.launch.ebs_optimized = s.ebs_optimized;
        d.rows.push(SettingRow::carried(
            "EbsOptimized",
            s.ebs_optimized.to_string(),
        ));
    } else {
        d.rows.push(SettingRow::not_carried(
            "EbsOptimized",
            "true",
            format!("{new_type}'s default"),
            "options.instanceType changes the type; EBS optimization belongs to a type",
        ));
    }
    d.launch.detailed_monitoring = s.detailed_monitoring;
    d.rows.push(SettingRow::carried(
        "Monitoring",
        on_off(s.detailed_monitoring),
    ));

    if let Some(cpu) = s.cpu_options {
        let value = format!(
            "{} cores × {} threads",
            cpu.core_count, cpu.threads_per_core
        );
        if new_type == instance_type {
            d.launch.cpu_options = Some(cpu);
            d.rows.push(SettingRow::carried("CpuOptions", value));
        } else {
            d.rows.push(SettingRow::not_carried(
                "CpuOptions",
                value,
                format!("{new_type}'s default"),
                "options.instanceType changes the type; CPU options belong to a type",
            ));
        }
    }
    if let Some(credits) = &s.cpu_credits {
        if is_burstable(&new_type) {
            d.launch.cpu_credits = Some(credits.clone());
            d.rows
                .push(SettingRow::carried("CreditSpecification", credits.as_str()));
        } else {
            d.rows.push(SettingRow::not_carried(
                "CreditSpecification",
                credits.as_str(),
                "none",
                "the new type is not burstable",
            ));
        }
    }
    match s.tenancy.as_deref() {
        Some("host") => d.refused.push(format!(
            "source instance {instance_id} runs on a Dedicated Host (tenancy host): carveout launches on shared or dedicated tenancy only; move it by hand"
        )),
        Some(t) => {
            d.launch.tenancy = (t != "default").then(|| t.to_string());
            d.rows.push(SettingRow::carried("Placement.Tenancy", t));
        }
        None => {}
    }
    if same_type || !s.hibernation {
        d.launch.hibernation = s.hibernation;
        d.rows.push(SettingRow::carried(
            "HibernationOptions",
            on_off(s.hibernation),
        ));
    } else {
        d.rows.push(SettingRow::not_carried(
            "HibernationOptions",
            "enabled",
            "disabled",
            "options.instanceType changes the type, which may not support hibernation",
        ));
    }
    if let Some(check) = s.source_dest_check {
        d.launch.source_dest_check = (!check).then_some(false);
        d.rows
            .push(SettingRow::carried("SourceDestCheck", check.to_string()));
    }
    if let Some(b) = &s.shutdown_behavior {
        d.launch.shutdown_behavior = Some(b.clone());
        d.rows.push(SettingRow::carried(
            "InstanceInitiatedShutdownBehavior",
            b.as_str(),
        ));
    }
    if let Some(group) = s.placement_group.as_deref().filter(|g| !g.is_empty()) {
        match opts.placement_groups.get(group) {
            Some(mapped) => {
                d.launch.placement_group = Some(mapped.clone());
                d.rows.push(SettingRow::mapped("Placement.GroupName", group, mapped.as_str(), "options.placementGroups"));
            }
            None => d.refused.push(format!(
                "source instance {instance_id} is in placement group {group}, which is the source account's: map it to a group of the target account with options.placementGroups {{\"{group}\": \"<group in the target account>\"}}"
            )),
        }
    }

    addresses(instance_id, s, opts, &mut d);

    d.rows.push(SettingRow::not_carried(
        "KeyName",
        s.key_name.as_deref().unwrap_or("none"),
        "none",
        "key pairs are per account; the image keeps the keys already authorized on the instance",
    ));
    if s.termination_protection {
        d.rows.push(SettingRow::not_carried(
            "DisableApiTermination", "true", "false",
            "Rollback and cleanup must be able to remove the new instance; turn it on once the migration is final",
        ));
    }
    d.rows.push(SettingRow::not_carried(
        "SecurityGroups", s.security_group_ids.join(", "), "a new group admitting the ALB's groups on its ports",
        "other callers the source's groups admit are listed by Preflight (options.acknowledgedSecurityGroupReferences)",
    ));
    d
}

/// Addresses others may know the source by: they do not move with an image.
fn addresses(instance_id: &str, s: &InstanceSettings, opts: &CarryOptions, d: &mut Decision) {
    let mut changes = Vec::new();
    if !s.secondary_private_ips.is_empty() {
        let ips = s.secondary_private_ips.join(", ");
        changes.push(format!(
            "secondary private IPs {ips} (the new instance has one private IP in the target subnet)"
        ));
        d.rows.push(SettingRow::not_carried(
            "SecondaryPrivateIpAddresses",
            ips,
            "none",
            "addresses belong to the source subnet",
        ));
    }
    if !s.extra_network_interfaces.is_empty() {
        let enis = s.extra_network_interfaces.join(", ");
        changes.push(format!(
            "network interfaces {enis} beyond the primary one (the new instance has one)"
        ));
        d.rows.push(SettingRow::not_carried(
            "NetworkInterfaces",
            format!("primary + {enis}"),
            "primary only",
            "interfaces belong to the source VPC",
        ));
    }
    if let Some(eip) = &s.elastic_ip {
        changes.push(format!("Elastic IP {eip} (clients that use it keep reaching the source; after cutover, transfer it to the target account with an Elastic IP address transfer and associate it with the new instance)"));
        d.rows.push(SettingRow::not_carried(
            "ElasticIp",
            eip.as_str(),
            "none",
            "an Elastic IP moves between accounts only by an address transfer",
        ));
    } else if let Some(ip) = &s.public_ip {
        d.rows.push(SettingRow::not_carried(
            "PublicIpAddress",
            ip.as_str(),
            "none",
            "the ALB reaches the new instance by its private IP",
        ));
    }
    if !changes.is_empty() && !opts.accept_address_changes {
        d.refused.push(format!(
            "source instance {instance_id} is reached by addresses that do not move: {}; set options.acceptAddressChanges to move it anyway",
            changes.join("; ")
        ));
    }
}

/// T2/T3/T3a/T4g types, which have a CPU credit option.
fn is_burstable(instance_type: &str) -> bool {
    matches!(
        instance_type.split('.').next(),
        Some("t2" | "t3" | "t3a" | "t4g")
    )
}

#[cfg(test)]
#[path = "instance_tests.rs"]
mod tests;
