//! What makes the new instance the same service: every setting of a source instance and of
//! its target group, and for each one whether it is carried exactly, mapped by the plan, or
//! not carried (and why). Pure: Preflight reads the settings
//! ([`InstanceSettings`]), [`decide`] turns them into the launch parameters, the refusals
//! and the rows `carveout plan` and the Report show; the launch step applies the same
//! decision. docs/same-service.md is the table of these rules (a test keeps it true).

mod instance;
mod target_group;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use instance::{
    CpuOptions, Decision, InstanceSettings, LaunchSettings, MetadataOptions, VolumeSettings, decide,
};
pub use target_group::{attributes_rows, attributes_to_carry};

/// How a setting reaches the new side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handling {
    /// The new instance (or group) has the source's value.
    Carried,
    /// The plan names the value the new side gets (an instance profile of the target
    /// account, `requireImdsv2`…).
    Mapped,
    /// The new side does not get it; `why` says what it gets instead.
    NotCarried,
}

impl Handling {
    pub fn word(self) -> &'static str {
        match self {
            Handling::Carried => "carried",
            Handling::Mapped => "mapped",
            Handling::NotCarried => "not carried",
        }
    }
}

/// One line of the "what moved" table: `{setting, source, new, handling, why}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingRow {
    /// The setting's name as EC2 or ELB calls it (`IamInstanceProfile`, `MetadataOptions`…).
    pub setting: String,
    pub source: String,
    pub new: String,
    pub handling: Handling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl SettingRow {
    pub(crate) fn carried(setting: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        SettingRow {
            setting: setting.into(),
            source: value.clone(),
            new: value,
            handling: Handling::Carried,
            why: None,
        }
    }

    pub(crate) fn mapped(
        setting: &str,
        source: impl Into<String>,
        new: impl Into<String>,
        why: &str,
    ) -> Self {
        SettingRow {
            setting: setting.into(),
            source: source.into(),
            new: new.into(),
            handling: Handling::Mapped,
            why: Some(why.into()),
        }
    }

    pub(crate) fn not_carried(
        setting: &str,
        source: impl Into<String>,
        new: impl Into<String>,
        why: &str,
    ) -> Self {
        SettingRow {
            setting: setting.into(),
            source: source.into(),
            new: new.into(),
            handling: Handling::NotCarried,
            why: Some(why.into()),
        }
    }
}

/// The "what moved" table of one source instance (or, with `sourceInstanceId`
/// `targetGroup`, of the target group): what `carveout plan` prints and the Report lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsTable {
    pub source_instance_id: String,
    pub rows: Vec<SettingRow>,
}

/// The plan's answers to the settings that cannot be carried as they are, resolved by
/// Preflight (`facts.options.carry`): names in the plan become the target account's ARNs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CarryOptions {
    /// Source instance profile ARN -> the target account's instance profile ARN
    /// (options.instanceProfiles, checked to exist and to be passable by the member role).
    pub instance_profiles: BTreeMap<String, String>,
    /// options.requireImdsv2: the new instances require session tokens (IMDSv2).
    pub require_imdsv2: bool,
    /// options.passUserData: the source's user data is passed to the new instance.
    pub pass_user_data: bool,
    /// Source placement group name -> the target account's group (options.placementGroups).
    pub placement_groups: BTreeMap<String, String>,
    /// options.acceptAddressChanges: secondary private IPs, extra network interfaces and
    /// Elastic IPs stay behind, knowingly.
    pub accept_address_changes: bool,
    /// options.instanceType: the new instances' type when it is not the source's.
    pub instance_type: Option<String>,
    /// options.volumeInitializationRate: MiB/s for every volume of the new instances.
    pub volume_initialization_rate: Option<i32>,
    /// Private hosted zones to associate with the target VPC (options.associateHostedZones,
    /// those the target VPC lacks): zone id -> zone name.
    pub hosted_zones: BTreeMap<String, String>,
}

/// A setting and how carveout handles it, for docs/same-service.md: every setting
/// [`decide`] and the target group copy consider, in the table's order.
pub const CATALOGUE: &[(&str, &str)] = &[
    (
        "IamInstanceProfile",
        "mapped (options.instanceProfiles), else refused",
    ),
    (
        "MetadataOptions",
        "carried (options.requireImdsv2 maps HttpTokens to required)",
    ),
    ("UserData", "not carried (options.passUserData carries it)"),
    ("BlockDeviceMappings", "carried through the image"),
    (
        "VolumeInitializationRate",
        "mapped (options.volumeInitializationRate), else EBS's default rate",
    ),
    (
        "EbsOptimized",
        "carried (not when options.instanceType changes the type)",
    ),
    ("Monitoring", "carried"),
    (
        "CpuOptions",
        "carried when not the type's defaults (not when options.instanceType changes the type)",
    ),
    ("CreditSpecification", "carried"),
    ("Placement.Tenancy", "carried (host: refused)"),
    (
        "HibernationOptions",
        "carried (not when options.instanceType changes the type)",
    ),
    ("SourceDestCheck", "carried"),
    ("InstanceInitiatedShutdownBehavior", "carried"),
    (
        "Placement.GroupName",
        "mapped (options.placementGroups), else refused",
    ),
    (
        "SecondaryPrivateIpAddresses",
        "not carried: refused unless options.acceptAddressChanges",
    ),
    (
        "NetworkInterfaces",
        "not carried: refused unless options.acceptAddressChanges",
    ),
    (
        "ElasticIp",
        "not carried: refused unless options.acceptAddressChanges",
    ),
    ("PublicIpAddress", "not carried"),
    ("KeyName", "not carried"),
    ("DisableApiTermination", "not carried"),
    (
        "SecurityGroups",
        "not carried (a new group admits the ALB on its ports)",
    ),
    ("Tags", "carried"),
    ("TargetGroupAttributes", "carried"),
    ("HealthCheck", "carried"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_docs_table_is_the_catalogue() {
        let doc = include_str!("../../../docs/same-service.md");
        let table: Vec<String> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(str::to_string)
            .collect();
        let want: Vec<String> = super::CATALOGUE
            .iter()
            .map(|(s, how)| format!("| `{s}` | {how} |"))
            .collect();
        assert_eq!(
            table, want,
            "docs/same-service.md's table is not carried::CATALOGUE"
        );
    }
}
