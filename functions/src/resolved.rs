//! The plan's options as Preflight resolved them (`facts.options`): what the state
//! machine's Choices and the steps read.

use serde::{Deserialize, Serialize};

/// `facts.options`: the plan's options resolved against the accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedOptions {
    pub share_security_group_with_ram: bool,
    pub no_reboot: bool,
    /// True when traffic moves in steps (the plan's trafficShift has more than [100]).
    #[serde(default)]
    pub gradual: bool,
    /// The weighted steps before the full cutover, in percent of traffic to the new
    /// targets (trafficShift without its final 100).
    #[serde(default)]
    pub shift_steps: Vec<u8>,
    /// How long each step is held, the new targets staying healthy, before the next.
    #[serde(default)]
    pub shift_interval_seconds: u32,
    /// The hold of each step cut into waits, each followed by a health check (so an
    /// unhealthy target ends the step early); see `traffic::hold_checks`.
    #[serde(default)]
    pub hold_checks: Vec<u32>,
    /// consistency stop-source: maintenance answer, stop, image, restart on failure.
    #[serde(default)]
    pub stop_source: bool,
    /// stop-source with options.preImage (default): a full image of each source instance
    /// is taken while it serves, before the maintenance answer (`PreImage?`).
    #[serde(default)]
    pub pre_image: bool,
    /// The body of the maintenance answer (stop-source).
    #[serde(default)]
    pub maintenance_body: String,
    /// Key ARN every image is copied and re-encrypted with before it is shared
    /// (options.kmsKeyId, checked by Preflight); null: images are shared as they are.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// How many images the image Map takes at once (`MaxConcurrencyPath`): 1 with
    /// consistency reboot (one target down at a time), 5 otherwise.
    #[serde(default = "default_image_concurrency")]
    pub image_concurrency: u32,
    /// How long an image (and a re-encrypted copy) may stay pending, minutes from its
    /// creation: options.imageTimeoutMinutes, else derived from the largest instance's
    /// volumes (`looks::image_deadline_minutes`). Past it the migration rolls back.
    #[serde(default = "default_image_deadline")]
    pub image_deadline_minutes: u32,
    /// The plan's answers for settings that are not carried as they are (profiles,
    /// metadata, user data, placement groups, addresses), resolved in the target account.
    #[serde(default)]
    pub carry: crate::carried::CarryOptions,
    /// The wait for the new volumes' initialization (`waitForVolumeInitialization`…).
    #[serde(flatten)]
    pub volume_gate: crate::initialization::GateOptions,
}

fn default_image_concurrency() -> u32 {
    5
}

fn default_image_deadline() -> u32 {
    240
}
