//! The plan's `options`: every choice with a default, so a plan names only what differs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    HOSTED_ZONE_ID, INSTANCE_TYPE, KMS_KEY_ARN, PRODUCT_CODE, ROUTE_TABLE_ID, SECURITY_GROUP_ID,
};

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
    /// The EBS Provisioned Rate for Volume Initialization, in MiB/s (100-300), given to
    /// every volume of the new instances. Volumes created from snapshots (all of an
    /// image's) read slowly until every block has been fetched once; at a provisioned rate
    /// they are fully initialized in size / rate, and EBS reports an ETA. Billed per
    /// volume (<https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html>).
    /// Default: none, the volumes initialize at EBS's default, unpredictable rate.
    #[serde(default)]
    #[schemars(range(min = 100, max = 300))]
    pub volume_initialization_rate: Option<u16>,
    /// Wait, before any traffic reaches the new instances, until every one of their
    /// volumes is initialized (a database on a cold volume can miss its health budget for
    /// hours). Default: on when `volumeInitializationRate` is set, else off.
    #[serde(default)]
    pub wait_for_volume_initialization: Option<bool>,
    /// How long that wait may take for volumes at the default rate, which EBS does not
    /// predict: then the migration is rolled back. At a provisioned rate the deadline is
    /// derived from each volume's size instead (1.5 x size / rate, plus 15 minutes).
    #[serde(default = "default_initialization_timeout")]
    #[schemars(range(min = 10, max = 2880))]
    pub volume_initialization_timeout_minutes: u32,
    /// How long an image (and its re-encrypted copy) may stay pending before the
    /// migration rolls back, minutes from its creation. Default: derived from the volumes,
    /// 30 minutes plus every volume of the instance at 10 MiB/s, because AWS promises no
    /// snapshot rate (an 8 GiB instance 44 minutes, 500 GiB about 15 hours); the largest
    /// instance's sets it for all.
    #[serde(default)]
    #[schemars(range(min = 15, max = 2880))]
    pub image_timeout_minutes: Option<u32>,
    /// consistency stop-source: take a full image of each source instance while it still
    /// serves, before the maintenance answer and the stop (default true). The image taken
    /// after the stop is then incremental over it: EBS copies only the blocks changed since
    /// the volume's previous snapshot
    /// (<https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html>), so the
    /// downtime grows with the changed data, not the disk size. False skips it (small disks,
    /// where a second image costs more time than it saves). Ignored without stop-source.
    /// With kmsKeyId the re-encrypted copy after the stop is still a full copy.
    #[serde(default)]
    pub pre_image: Option<bool>,
    /// Private hosted zones associated with the ALB's VPC (ids, `Z…`) that carveout also
    /// associates with the target VPC, so the new instances resolve the names the source
    /// resolves: the network account authorizes, the target account associates, and
    /// `carveout cleanup` removes the association. Only zones the network account owns.
    #[serde(default)]
    #[schemars(length(max = 50), inner(pattern(HOSTED_ZONE_ID)))]
    pub associate_hosted_zones: Vec<String>,
    /// Private hosted zones of the ALB's VPC that the new instances do not need. Preflight
    /// refuses every zone of the ALB's VPC that the target VPC lacks and neither list names.
    #[serde(default)]
    #[schemars(length(max = 50), inner(pattern(HOSTED_ZONE_ID)))]
    pub acknowledged_hosted_zones: Vec<String>,
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
            volume_initialization_rate: None,
            wait_for_volume_initialization: None,
            volume_initialization_timeout_minutes: default_initialization_timeout(),
            image_timeout_minutes: None,
            pre_image: None,
            associate_hosted_zones: Vec::new(),
            acknowledged_hosted_zones: Vec::new(),
        }
    }
}

fn all_at_once() -> Vec<u8> {
    vec![100]
}
fn default_shift_interval() -> u32 {
    60
}
/// Eight hours: the default rate is not published and varies; a day-long wait is asked for
/// explicitly.
fn default_initialization_timeout() -> u32 {
    480
}
