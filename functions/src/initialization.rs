//! Cold volumes: the gate before traffic that waits until every volume of the new
//! instances is initialized, and when to look next. Pure: the step
//! (`steps/volumes.rs`) reads DescribeVolumes and DescribeVolumeStatus into
//! [`VolumeInit`]s and [`assess`] decides.
//!
//! A volume created from a snapshot (every volume launched from an image) fetches each
//! block from S3 on its first read, so it is slow until every block has been read once
//! (<https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html>). EBS reports
//! the progress in DescribeVolumeStatus (`initialization-state`, InitializationStatusDetails
//! with a percentage, and an ETA for volumes at a provisioned rate); "it can take up to 5
//! minutes for the volume initialization information to be updated"
//! (<https://docs.aws.amazon.com/ebs/latest/userguide/ebs-initialize-monitor.html>), so a
//! new volume without it is not taken for initialized.

use serde::{Deserialize, Serialize};

use crate::plan::Options;

/// The plan's wait for the volumes, resolved by Preflight (flattened into
/// `facts.options`: the state machine's choice reads `waitForVolumeInitialization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GateOptions {
    pub wait_for_volume_initialization: bool,
    /// The deadline for volumes at EBS's default rate, minutes from their creation.
    pub volume_initialization_timeout_minutes: u32,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions::of(&Options::default())
    }
}

impl GateOptions {
    /// The wait is on when asked for, or by default when a provisioned rate is set.
    pub fn of(o: &Options) -> Self {
        GateOptions {
            wait_for_volume_initialization: o
                .wait_for_volume_initialization
                .unwrap_or(o.volume_initialization_rate.is_some()),
            volume_initialization_timeout_minutes: o.volume_initialization_timeout_minutes,
        }
    }
}

/// What EBS says of one volume of a new instance. Sizes in GiB, times in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeInit {
    pub volume_id: String,
    pub instance_id: String,
    pub size_gib: i32,
    /// Created from a snapshot: only those initialize.
    pub from_snapshot: bool,
    /// Seconds since the volume's CreateTime.
    pub age_seconds: u64,
    /// The provisioned rate, MiB/s (DescribeVolumes VolumeInitializationRate).
    pub rate: Option<i32>,
    /// The `initialization-state` detail: `initializing` or `completed`; None: not reported.
    pub state: Option<String>,
    /// InitializationStatusDetails: percent done and (provisioned rate) seconds left.
    pub progress: Option<i64>,
    pub eta_seconds: Option<i64>,
}

impl VolumeInit {
    fn done(&self) -> bool {
        !self.from_snapshot
            || self.state.as_deref() == Some("completed")
            || self.progress == Some(100)
    }

    /// Seconds from creation after which waiting longer is a failure: at a provisioned
    /// rate, 1.5 × size / rate plus 15 minutes; at the default rate, the plan's timeout.
    pub fn deadline_seconds(&self, opts: &GateOptions) -> u64 {
        match self.rate {
            Some(rate) if rate > 0 => {
                let transfer = f64::from(self.size_gib) * 1024.0 / f64::from(rate);
                (transfer * 1.5) as u64 + 900
            }
            _ => u64::from(opts.volume_initialization_timeout_minutes) * 60,
        }
    }

    fn unreported(&self) -> bool {
        !self.done() && self.state.is_none() && self.progress.is_none()
    }

    /// Time left: EBS's ETA, else extrapolated from the progress so far.
    fn left(&self) -> Left {
        if self.done() {
            return Left::Eta(0);
        }
        if self.unreported() {
            return Left::Unreported;
        }
        if let Some(eta) = self.eta_seconds.filter(|e| *e >= 0) {
            return Left::Eta(eta as u64);
        }
        match self.progress {
            Some(p) if p > 0 && p < 100 => {
                Left::Extrapolated(self.age_seconds * (100 - p) as u64 / p as u64)
            }
            _ => Left::Unknown,
        }
    }

    fn remaining(&self) -> Option<u64> {
        match self.left() {
            Left::Eta(r) | Left::Extrapolated(r) => Some(r),
            Left::Unknown | Left::Unreported => None,
        }
    }
}

/// The gate's answer (`$.volumeGate`): ready, or when to look again and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReport {
    pub ready: bool,
    /// The state machine's Wait before the next look (`SecondsPath`).
    pub next_poll_seconds: u64,
    /// Percent of the volumes' bytes initialized (weighted by size).
    pub progress_percent: u8,
    /// Seconds until the last volume is initialized, when EBS or the progress tells.
    pub eta_seconds: Option<u64>,
    /// One line per volume still initializing.
    pub waiting: Vec<String>,
    pub summary: String,
}

/// Why the gate gives up (the step answers `CarveOut.ResourceFailed`, caught into
/// Rollback: no traffic has reached the new instances).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error(
        "volume {volume_id} of {instance_id} is still initializing after {age_minutes} min ({progress}), past its deadline of {deadline_minutes} min ({basis})"
    )]
    DeadlinePassed {
        volume_id: String,
        instance_id: String,
        age_minutes: u64,
        progress: String,
        deadline_minutes: u64,
        basis: String,
    },
    #[error(
        "volume {volume_id} of {instance_id} has no initialization details {age_minutes} min after its creation, and EBS reports them within 5 minutes (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-initialize-monitor.html)"
    )]
    NeverReported {
        volume_id: String,
        instance_id: String,
        age_minutes: u64,
    },
}

/// How the time left until every volume is initialized is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// EBS's ETA (provisioned rate), seconds.
    Eta(u64),
    /// Extrapolated from the progress so far (default rate), seconds: less reliable.
    Extrapolated(u64),
    /// Some volume reports progress 0 or none.
    Unknown,
    /// Some volume has no initialization details yet (EBS: within 5 minutes).
    Unreported,
}

/// A volume without initialization details this long after creation fails the gate.
pub const UNREPORTED_LIMIT_SECONDS: u64 = 600;

/// When to look next, in seconds, `age` seconds into a wait whose longest deadline is
/// `deadline` seconds. Halves the time left while it is long (few looks over hours), then
/// looks every `fine` = max(60 s, deadline / 120): a volume done is noticed within `fine`
/// of it when EBS's ETA holds, and within 10 minutes at most of an extrapolated finish.
/// Never more often than max(15 s, deadline / 120, a tenth of the wait so far), so a wait
/// takes at most [`worst_case_looks`] looks.
pub fn next_poll_seconds(left: Left, age: u64, deadline: u64) -> u64 {
    let coarse = deadline / 120;
    let floor = (age / 10).clamp(15, 60).max(coarse);
    let fine = coarse.max(60);
    match left {
        Left::Unreported => coarse.max(30),
        Left::Eta(r) if r > 2 * fine => (r / 2).min(3600).max(floor),
        Left::Extrapolated(r) if r > 2 * fine => (r / 2).min(fine.max(600)).max(floor),
        Left::Eta(r) | Left::Extrapolated(r) => r.clamp(floor, fine),
        Left::Unknown => floor,
    }
}

/// The most looks a gate with deadline `deadline_seconds` can take: every look but the
/// last waits at least max(15 s, deadline / 120). For the bound on the execution's
/// history (`workflow::history_events`).
pub fn worst_case_looks(deadline_seconds: u64) -> u64 {
    deadline_seconds / (deadline_seconds / 120).max(15) + 3
}

/// The latest deadline of any volume: `sizes_gib` of the new volumes, `rate` the plan's.
pub fn longest_deadline(opts: &GateOptions, rate: Option<i32>, sizes_gib: &[i32]) -> u64 {
    sizes_gib
        .iter()
        .map(|&size_gib| {
            VolumeInit {
                size_gib,
                rate,
                ..Default::default()
            }
            .deadline_seconds(opts)
        })
        .max()
        .unwrap_or(0)
}

fn minutes(seconds: u64) -> String {
    if seconds < 90 {
        format!("{seconds} s")
    } else {
        format!("{} min", seconds.div_ceil(60))
    }
}

/// The gate over every volume of the new instances. Errors: a volume past its deadline.
pub fn assess(volumes: &[VolumeInit], opts: &GateOptions) -> Result<GateReport, GateError> {
    let cold: Vec<&VolumeInit> = volumes.iter().filter(|v| v.from_snapshot).collect();
    let waiting: Vec<&VolumeInit> = cold.iter().copied().filter(|v| !v.done()).collect();
    for v in &waiting {
        if v.unreported() && v.age_seconds > UNREPORTED_LIMIT_SECONDS {
            return Err(GateError::NeverReported {
                volume_id: v.volume_id.clone(),
                instance_id: v.instance_id.clone(),
                age_minutes: v.age_seconds / 60,
            });
        }
        let deadline = v.deadline_seconds(opts);
        if v.age_seconds > deadline {
            return Err(GateError::DeadlinePassed {
                volume_id: v.volume_id.clone(),
                instance_id: v.instance_id.clone(),
                age_minutes: v.age_seconds / 60,
                progress: v
                    .progress
                    .map_or("progress not reported".into(), |p| format!("{p} %")),
                deadline_minutes: deadline / 60,
                basis: match v.rate {
                    Some(r) => format!("1.5 × {} GiB at {r} MiB/s + 15 min", v.size_gib),
                    None => "options.volumeInitializationTimeoutMinutes".into(),
                },
            });
        }
    }
    let total: i64 = cold.iter().map(|v| i64::from(v.size_gib.max(1))).sum();
    let done: i64 = cold
        .iter()
        .map(|v| {
            let p = if v.done() {
                100
            } else {
                v.progress.unwrap_or(0).clamp(0, 100)
            };
            i64::from(v.size_gib.max(1)) * p
        })
        .sum();
    let progress_percent = if total == 0 {
        100
    } else {
        (done / total) as u8
    };
    if waiting.is_empty() {
        return Ok(GateReport {
            ready: true,
            next_poll_seconds: 0,
            progress_percent: 100,
            eta_seconds: Some(0),
            waiting: Vec::new(),
            summary: format!("{} volumes initialized", cold.len()),
        });
    }
    let remaining: Option<u64> = waiting
        .iter()
        .map(|v| v.remaining())
        .collect::<Option<Vec<u64>>>()
        .and_then(|r| r.into_iter().max());
    let lefts: Vec<Left> = waiting.iter().map(|v| v.left()).collect();
    let left = if lefts.contains(&Left::Unreported) {
        Left::Unreported
    } else if lefts.contains(&Left::Unknown) {
        Left::Unknown
    } else if lefts.iter().all(|l| matches!(l, Left::Eta(_))) {
        Left::Eta(remaining.unwrap_or(0))
    } else {
        Left::Extrapolated(remaining.unwrap_or(0))
    };
    let age = waiting.iter().map(|v| v.age_seconds).max().unwrap_or(0);
    let longest = waiting
        .iter()
        .map(|v| v.deadline_seconds(opts))
        .max()
        .unwrap_or(0);
    // Never sleep past the first deadline: the look after it fails the gate on time.
    let to_deadline = waiting
        .iter()
        .map(|v| v.deadline_seconds(opts).saturating_sub(v.age_seconds) + 1)
        .min()
        .unwrap_or(u64::MAX);
    let next = next_poll_seconds(left, age, longest).min(to_deadline.max(5));
    let lines: Vec<String> = waiting
        .iter()
        .map(|v| {
            let at = v
                .rate
                .map_or("default rate".into(), |r| format!("{r} MiB/s"));
            match (v.progress, v.remaining()) {
                (None, _) => format!(
                    "{} of {}: not reported yet ({at})",
                    v.volume_id, v.instance_id
                ),
                (Some(p), Some(r)) => format!(
                    "{} of {}: {p} %, about {} left ({at})",
                    v.volume_id,
                    v.instance_id,
                    minutes(r)
                ),
                (Some(p), None) => format!("{} of {}: {p} % ({at})", v.volume_id, v.instance_id),
            }
        })
        .collect();
    let eta = remaining.map_or("no ETA yet".into(), |r| format!("ETA {}", minutes(r)));
    Ok(GateReport {
        ready: false,
        next_poll_seconds: next,
        progress_percent,
        eta_seconds: remaining,
        summary: format!(
            "{} of {} volumes initializing, {progress_percent} % done, {eta}; next look in {}",
            waiting.len(),
            cold.len(),
            minutes(next)
        ),
        waiting: lines,
    })
}

#[cfg(test)]
#[path = "initialization_tests.rs"]
mod tests;
