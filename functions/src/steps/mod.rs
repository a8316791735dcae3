//! The steps of the workflow, one function each; [`Step`] names them and [`run`]
//! dispatches JSON in, JSON out, exactly as Lambda and the local runner call them.

// The step modules are private: callers go through [`run`] (Lambda, the local runner)
// or [`preflight`] (`carveout plan` runs the same read-only checks).
mod hosted_zones;
mod image;
mod image_wait;
mod launch;
mod maintenance;
mod network;
mod outcome;
mod preflight;
mod routing;
mod share;
mod target_group;
mod volumes;

pub use outcome::{RollbackOut, rollback};
pub use preflight::{preflight, rules_in_use, vcpu_use};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::context::Context;
use crate::error::StepError;
#[cfg(doc)]
use crate::state::State;

macro_rules! steps {
    ($($variant:ident => $bin:literal, $func:path;)*) => {
        /// Every step, with the name of its binary (and Lambda function).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Step { $($variant),* }

        impl Step {
            pub const ALL: &'static [Step] = &[$(Step::$variant),*];

            /// The binary name: `create-peering`.
            pub fn binary(self) -> &'static str {
                match self { $(Step::$variant => $bin),* }
            }

            pub fn from_binary(name: &str) -> Option<Step> {
                match name { $($bin => Some(Step::$variant),)* _ => None }
            }
        }

        /// Runs one step on its JSON input: parsed into what the handler takes (a
        /// [`State`], or for Preflight the raw plan, so its errors name plan fields).
        pub async fn run(step: Step, ctx: &Context, input: Value) -> Result<Value, StepError> {
            match step {
                $(Step::$variant => to_json($func(ctx, parse(step, input)?).await?),)*
            }
        }
    };
}

steps! {
    Preflight => "preflight", preflight::preflight_step;
    EnterMaintenance => "enter-maintenance", maintenance::enter_maintenance;
    StopSource => "stop-source", maintenance::stop_source;
    WaitSourceStopped => "wait-source-stopped", maintenance::wait_source_stopped;
    CreatePeering => "create-peering", network::create_peering;
    AcceptPeering => "accept-peering", network::accept_peering;
    AddRoutes => "add-routes", network::add_routes;
    AssociateHostedZones => "associate-hosted-zones", hosted_zones::associate_hosted_zones;
    ShareSecurityGroup => "share-security-group", share::share_security_group;
    WaitShareAssociated => "wait-share-associated", share::wait_share_associated;
    CreateImage => "create-image", image::create_image;
    WaitImageAvailable => "wait-image-available", image_wait::wait_image_available;
    CopyImage => "copy-image", image::copy_image;
    ShareImage => "share-image", image::share_image;
    LaunchInstance => "launch-instance", launch::launch_instance;
    WaitInstanceReady => "wait-instance-ready", launch::wait_instance_ready;
    CreateTargetGroup => "create-target-group", target_group::create_target_group;
    AttachProbeRule => "attach-probe-rule", routing::attach_probe_rule;
    CheckVolumesInitialized => "check-volumes-initialized", volumes::check_volumes_initialized;
    WaitTargetsHealthy => "wait-targets-healthy", routing::wait_targets_healthy;
    ShiftTraffic => "shift-traffic", routing::shift_traffic;
    CheckShift => "check-shift", routing::check_shift;
    Cutover => "cutover", routing::cutover;
    Rollback => "rollback", outcome::rollback;
    Report => "report", outcome::report;
}

/// What one invocation of a watching step may spend: a watch of up to `seconds` (reads
/// again while it sleeps, the reads' own time included), then one last look of up to
/// `calls` AWS calls, each bounded by the SDK's worst case. Its function's Timeout must
/// hold both and 5 s to answer (`make lint` reads this from `carveout-lambda --contract`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub seconds: u64,
    pub calls: u64,
}

impl Step {
    /// The watch of a step that watches (None: the step answers after its calls).
    pub fn watch(self) -> Option<Watch> {
        let (seconds, calls) = match self {
            // Predicted looks (looks::next): DescribeImages, then DescribeSnapshots.
            Step::WaitImageAvailable => (crate::looks::LOOK_WATCH_SECONDS, 2),
            // Retry-polled waits (idiom::watching). A look that finds the work done may
            // make one more call: the instance's private IP.
            Step::WaitInstanceReady => (crate::looks::WATCH_BUDGET_SECONDS, 2),
            // The accepter's read, the accept, the requester's read.
            Step::AcceptPeering => (crate::looks::WATCH_BUDGET_SECONDS, 3),
            Step::WaitShareAssociated | Step::WaitSourceStopped | Step::WaitTargetsHealthy => {
                (crate::looks::WATCH_BUDGET_SECONDS, 1)
            }
            _ => return None,
        };
        Some(Watch { seconds, calls })
    }
}

fn parse<T: DeserializeOwned>(step: Step, input: Value) -> Result<T, StepError> {
    serde_json::from_value(input).map_err(|e| {
        StepError::InvalidPlan(format!(
            "the input of step {} does not parse: {e}",
            step.binary()
        ))
    })
}

fn to_json<T: Serialize>(value: T) -> Result<Value, StepError> {
    serde_json::to_value(value)
        .map_err(|e| StepError::ResourceFailed(format!("output does not serialize: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_round_trip() {
        for step in Step::ALL {
            assert_eq!(Step::from_binary(step.binary()), Some(*step));
        }
        assert_eq!(Step::ALL.len(), 25);
    }
}
