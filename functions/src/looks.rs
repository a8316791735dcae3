//! Predicted polls: when to look again at work AWS does over minutes or hours (an image's
//! snapshots), decided from what one look saw. Pure: the step reads AWS, [`next`] decides,
//! and the state machine waits what the answer says (a Wait with `SecondsPath`), so a
//! wait of hours costs a handful of looks instead of a poll a minute.
//!
//! Two ways to wait, priced apart (bench/README.md, "Predicted polls"):
//! - between invocations: a Task → Choice → Wait loop, 3 billed transitions per look;
//! - inside one invocation ("watching"): reads every few seconds, for at most
//!   [`LOOK_WATCH_SECONDS`]. 45 s of a 128 MB arm64 function cost what those 3 transitions
//!   cost, so a look that would come sooner than [`WATCH_INSTEAD_BELOW`] starts a watch
//!   instead (which may last the rest of the invocation's budget), and so do the end of
//!   a wait and all of a short one.
//!
//! AWS does not predict snapshot durations ("there is no way to predict EBS snapshot
//! creation time", <https://repost.aws/knowledge-center/ebs-incremental-snapshot-creation-slow>),
//! so the time left is extrapolated from the progress EBS reports and trusted only in part:
//! with little progress the next look comes after a quarter to 40 % of it; from 10 % done,
//! early enough that the rest going [`SPEED_UP`] times faster than seen is still noticed
//! within [`LATE_SLACK`] seconds (never later than 60 s, issue 15), and never later than half
//! of it.

use serde::{Deserialize, Serialize};

/// The most a look watches inside one invocation, seconds. The image-wait function's
/// Timeout (template.yaml) is above this, its last read's calls at their worst case and 5 s
/// to answer; `make lint` checks it through the contract (`Step::watch` in steps/mod.rs).
pub const LOOK_WATCH_SECONDS: u64 = 180;

/// A work younger than this is watched (it may be a short one, and its progress says
/// little yet), seconds.
pub const YOUNG_SECONDS: u64 = 40;

/// A look that would come sooner than this starts a watch instead, seconds. A look costs 3
/// transitions (45 s of watching), and one this close to the end is followed by more (each
/// trusts the time left divided by [`SPEED_UP`]), so watching the rest saves transitions.
/// 110 is the lowest setting that keeps 5x fewer transitions than the Retry poll before
/// issue 15 at every wait of 5 to 240 minutes in the bench's model (60 gave 4.3x at 45
/// minutes, 100 gave 4.8x at 60); it adds about $0.00005 to a 20-minute image's wait
/// (bench/README.md, "Where 5x fewer transitions stops"). The watch may run on to the end
/// of the budget (the bench's Lambda seconds count it).
pub const WATCH_INSTEAD_BELOW: u64 = 110;

/// With little progress, a look comes at least this long before the predicted end,
/// seconds (half a look's watch).
pub const EARLY_BY_SECONDS: u64 = 90;

/// How much faster than seen so far the rest of a work may go and still be noticed on
/// time. Searched with a copy of this decision over the bench's progress model (10
/// segments, speeds log-normal with σ 0.3; five seeds of 300 waits): the smallest value
/// that kept every wait of 1 to 480 minutes within the rule (2.5 did not); `make bench`
/// (2c) checks the setting (bench/README.md, "Predicted polls").
pub const SPEED_UP: f64 = 2.75;

/// Seconds a look may come after the end of a work that sped up [`SPEED_UP`] times: at most
/// this, and a tenth of the time so far (detection within 10 % of the wait, issue 15).
pub const LATE_SLACK: u64 = 40;

/// The longest wait in the last percent, seconds: EBS says 99 % until done, so the end may
/// come any moment, and must be seen within 60 s.
pub const LAST_PERCENT_LOOK_SECONDS: u64 = 45;

/// Points of progress since the last look that make its rate count: a stretch faster than
/// the average so far shortens the time left (fewer are mostly rounding).
pub const RECENT_POINTS: f64 = 3.0;

/// What one read saw: `elapsed` seconds since the work began (AWS's own start time),
/// `progress` the percent done AWS reports (None: no progress reported yet), `since`
/// the first (elapsed, progress) this wait saw with progress above 0, if earlier, and
/// `last` the (elapsed, progress) of the last look's answer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sighting {
    pub elapsed: u64,
    pub progress: Option<f64>,
    pub since: Option<(u64, f64)>,
    pub last: Option<(u64, f64)>,
}

impl Sighting {
    /// Seconds left (None while the progress is 0 or unknown), at the rate seen since the
    /// first progress (a snapshot may sit at 0 % a while: a rate from the start would
    /// predict too late), else since the start. EBS reports whole percents, so `p` % means
    /// up to `p + 1` % done: the extrapolation takes the upper end, and errs early (an
    /// extra look) rather than late.
    pub fn remaining(&self) -> Option<u64> {
        let done = (self.progress?.floor() + 1.0).min(100.0);
        Some(((100.0 - done) / self.rate()?).round() as u64)
    }

    /// Percent per second: since the first progress once it has moved 5 points (fewer are
    /// mostly rounding), else since the start; or since the last look, when that is faster
    /// and over at least [`RECENT_POINTS`] (a work that speeds up ends sooner).
    pub fn rate(&self) -> Option<f64> {
        let p = self.progress.filter(|p| *p > 0.0)?.floor();
        let between = |(t0, p0): (u64, f64), points: f64| {
            (self.elapsed > t0 && p >= p0.floor() + points)
                .then(|| (p - p0.floor()) / (self.elapsed - t0) as f64)
        };
        let overall = self
            .since
            .and_then(|s| between(s, 5.0))
            .unwrap_or_else(|| (p + 1.0).min(100.0) / self.elapsed.max(1) as f64);
        let recent = self.last.and_then(|l| between(l, RECENT_POINTS));
        Some(recent.map_or(overall, |r| r.max(overall)))
    }

    /// This read as the next look's `last`, if it has progress.
    pub fn seen(&self) -> Option<(u64, f64)> {
        self.progress
            .filter(|p| *p > 0.0)
            .map(|p| (self.elapsed, p))
    }

    /// The base to carry to the next read: `since`, else this read if it has progress.
    pub fn base(&self) -> Option<(u64, f64)> {
        self.since.or_else(|| {
            self.progress
                .filter(|p| *p > 0.0)
                .map(|p| (self.elapsed, p))
        })
    }
}

/// What to do after a read that did not find the work done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read again in `every` seconds, inside this invocation.
    Watch { every: u64 },
    /// Answer, and let the state machine wait `seconds` before the next look; `close`: a
    /// wait shorter than the [`floor`], one of the [`CLOSE_LOOKS`].
    Wait { seconds: u64, close: bool },
}

/// The shortest wait between two looks for a work with this deadline (seconds): at least
/// 15 s, and a 120th of the deadline, except for [`CLOSE_LOOKS`] looks, so a wait takes
/// at most [`worst_case_looks`]: with every retry a look may take, an image child
/// execution's two waits stay far below Step Functions' 25,000 events (`looks_tests.rs`).
pub fn floor(deadline: u64) -> u64 {
    (deadline / 120).max(CLOSE_FLOOR)
}

/// Looks of one wait that may come closer than [`floor`] (never closer than
/// [`CLOSE_FLOOR`]): the approach to a predicted end, which a long deadline's floor
/// would overshoot.
pub const CLOSE_LOOKS: u32 = 40;

/// The shortest wait between two looks, seconds.
pub const CLOSE_FLOOR: u64 = 15;

/// Seconds between reads while watching: a twentieth of the wait so far, 2 to 10 s, so a
/// finish is seen within 5 % of the wait (10 s at most).
pub fn cadence(elapsed: u64) -> u64 {
    (elapsed / 20).clamp(2, 10)
}

/// Waits polled through a Retry (peering, share, instance, targets, source stop) watch
/// inside an invocation while the wait is younger than this, seconds. The break-even:
/// a second of a 128 MB arm64 function costs a fifteenth of a transition, and a Retry
/// poll that keeps detection within a tenth of the wait comes every `age / 10` seconds,
/// one transition each: watching is the cheaper way to look until `age / 10` reaches
/// 15 s; a little past it, the first Retry poll (15 s after) stays within the tenth
/// (`bench/polling.py --sweep`, bench/README.md, "Watching").
pub const WATCH_WHILE_YOUNGER_THAN: u64 = 180;

/// The most one invocation of a Retry-polled wait watches, seconds: the whole young phase
/// in one invocation, so the Retry that follows starts at the interval an old wait needs
/// (15 s, x1.1, at most 60 s apart; `bench/polling.py --sweep`). A waiting function's
/// Timeout (template.yaml; `make lint` checks it through the contract, `Step::watch`) is
/// this watch, then its last read's calls at their worst case (60 s each with every SDK
/// retry, `sdk_policy`: 250 s for one call, AcceptPeering's 370 s for three), and the 5 s
/// the step keeps to answer (`runtime::within_deadline`), so a slow last read is never
/// cut off.
pub const WATCH_BUDGET_SECONDS: u64 = 180;

/// Whether a Retry-polled wait that began `age` seconds ago, with `watched` seconds of
/// this invocation's watch spent, reads again inside the invocation: the seconds to sleep
/// first ([`cadence`]), or None to answer `CarveOut.NotReady` and let the state's Retry
/// take over (a young wait's end is watched; an old one's polls are the Retry's).
pub fn watch_again(age: u64, watched: u64) -> Option<u64> {
    let every = cadence(age);
    (age < WATCH_WHILE_YOUNGER_THAN && watched + every <= WATCH_BUDGET_SECONDS).then_some(every)
}

/// What slows a watch's sleeps locally (`CARVEOUT_WATCH_TIME_SCALE`, 0 to 1; 1 on AWS):
/// the emulator's phases count reads, not seconds. The arithmetic uses nominal seconds.
pub fn time_scale() -> f64 {
    std::env::var("CARVEOUT_WATCH_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(1.0, |s| s.clamp(0.0, 1.0))
}

/// The most looks a wait with `deadline` seconds can take: every look but the last and
/// the close ones is followed by a Wait of at least [`floor`]. For
/// `workflow::history_events`.
pub fn worst_case_looks(deadline: u64) -> u64 {
    deadline / floor(deadline) + u64::from(CLOSE_LOOKS) + 2
}

/// After a read that saw `s` (not done), with `watched` seconds of this invocation's watch
/// already spent, `close_used` of the wait's [`CLOSE_LOOKS`] used, and the work due by
/// `deadline` seconds after its start: watch on, or answer with the wait before the next
/// look.
pub fn next(s: &Sighting, deadline: u64, watched: u64, close_used: u32) -> Next {
    let budget = LOOK_WATCH_SECONDS.saturating_sub(watched);
    let every = cadence(s.elapsed);
    let remaining = s.remaining();
    // A young work may be a short one (and its progress says little yet); an old one is
    // watched when its end is predicted within what is left of the watch.
    let soon = s.elapsed < YOUNG_SECONDS || remaining.is_some_and(|r| r <= budget);
    if soon && every <= budget {
        return Next::Watch { every };
    }
    let wait = match (remaining, s.rate()) {
        // The last percent: EBS says 99 % until done, so the end is within one percent's
        // time; look again after a third of it, within LAST_PERCENT_LOOK_SECONDS.
        (Some(0), Some(rate)) => ((1.0 / rate / 3.0) as u64).min(LAST_PERCENT_LOOK_SECONDS),
        // With little progress the extrapolation is mostly noise: a quarter of the time
        // left is trusted at 5 % done, 40 % from 8 %, and EARLY_BY_SECONDS early at least.
        (Some(r), _) if s.progress.unwrap_or(0.0) < 10.0 => {
            let trust = (s.progress.unwrap_or(0.0) / 20.0).clamp(0.25, 0.4);
            ((r as f64 * trust) as u64).min(r.saturating_sub(EARLY_BY_SECONDS))
        }
        // Early enough that a rest SPEED_UP times faster is seen within the slack, and no
        // later than half the time left.
        (Some(r), _) => {
            let slack = (s.elapsed / 10).min(LATE_SLACK);
            ((r as f64 / SPEED_UP) as u64 + slack).min(r / 2)
        }
        // No progress yet: half again the time so far (the floor at least: close looks are
        // kept for the approach to a predicted end).
        (None, _) => (s.elapsed / 2).max(floor(deadline)),
    };
    if wait < WATCH_INSTEAD_BELOW && every <= budget {
        return Next::Watch { every };
    }
    let to_deadline = deadline.saturating_sub(s.elapsed) + 1;
    let close = wait < floor(deadline) && close_used < CLOSE_LOOKS;
    let least = if close { CLOSE_FLOOR } else { floor(deadline) };
    Next::Wait {
        seconds: wait.clamp(least, least.max(3600)).min(to_deadline),
        close,
    }
}

/// What replaying one wait's looks found ([`replay`]): looks (invocations), reads, seconds
/// watched, and seconds between the work's end and the read that saw it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Replay {
    pub looks: u64,
    pub reads: u64,
    pub watched: f64,
    pub late: f64,
}

/// Replays the looks of one wait as the image wait runs them (each answer carrying its
/// `since` and `last` to the next look) against a work done at `end` seconds whose
/// progress at `t` is `progress(t)`, each read taking `read_seconds`: for the tests and
/// `make bench`'s model (`functions/examples/look_model.rs`).
pub fn replay(
    end: f64,
    deadline: u64,
    read_seconds: f64,
    progress: impl Fn(f64) -> Option<f64>,
) -> Replay {
    let mut run = Replay::default();
    let (mut t, mut close, mut since, mut last) = (0.0f64, 0u32, None, None);
    loop {
        run.looks += 1;
        let mut watched = 0;
        loop {
            run.reads += 1;
            t += read_seconds;
            if t >= end {
                run.late = t - end;
                return run;
            }
            let s = Sighting {
                elapsed: t as u64,
                progress: progress(t),
                since,
                last,
            };
            since = s.base();
            match next(&s, deadline, watched, close) {
                Next::Watch { every } => {
                    t += every as f64;
                    watched += every;
                    run.watched += every as f64;
                }
                Next::Wait { seconds, close: c } => {
                    last = s.seen().or(last);
                    t += seconds as f64;
                    close += u32::from(c);
                    break;
                }
            }
        }
    }
}

/// A look's answer, kept in the state under the work's key (`$.image.look`): the
/// state machine's Choice reads `ready`, its Wait `nextPollSeconds`; the CLI prints
/// `summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Look {
    pub ready: bool,
    /// Seconds the state machine waits before the next look (0 when ready).
    pub next_poll_seconds: u64,
    /// Percent done as AWS reports it, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    /// Seconds left by the extrapolation, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
    /// Seconds since the work began, at this look.
    pub elapsed_seconds: u64,
    /// How many of the wait's [`CLOSE_LOOKS`] are used: the next look reads it here.
    #[serde(default)]
    pub close_looks: u32,
    /// The first (elapsed seconds, percent) with progress: the next look's rate base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<(u64, f64)>,
    /// This look's (elapsed seconds, percent), when it saw progress: the next look's
    /// recent rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<(u64, f64)>,
    pub summary: String,
}

impl Look {
    /// The answer of a look that found the work done.
    pub fn ready(elapsed: u64, what: &str) -> Self {
        Look {
            ready: true,
            next_poll_seconds: 0,
            progress_percent: Some(100),
            eta_seconds: Some(0),
            elapsed_seconds: elapsed,
            close_looks: 0,
            since: None,
            last: None,
            summary: format!("{what} ready after {}", duration(elapsed)),
        }
    }

    /// The answer of a look that waits `seconds` before the next, `close_looks` used.
    pub fn again(s: &Sighting, seconds: u64, close_looks: u32, what: &str) -> Self {
        let progress = s.progress.map(|p| p.clamp(0.0, 100.0) as u8);
        let eta = s.remaining();
        let done = progress.map_or("no progress reported yet".into(), |p| format!("{p} % done"));
        let eta_text = eta.map_or(String::new(), |r| format!(", ETA {}", duration(r)));
        Look {
            ready: false,
            next_poll_seconds: seconds,
            progress_percent: progress,
            eta_seconds: eta,
            elapsed_seconds: s.elapsed,
            close_looks,
            since: s.base(),
            last: s.seen().or(s.last),
            summary: format!(
                "{what} {done} after {}{eta_text}; next look in {}",
                duration(s.elapsed),
                duration(seconds)
            ),
        }
    }
}

/// `45 s`, `12 min`, `3 h 20 min`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 90 => format!("{s} s"),
        s if s < 5400 => format!("{} min", s.div_ceil(60)),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The image deadline, minutes from CreateImage (or CopyImage), when the plan gives none:
/// 30 minutes, plus every volume of the instance at 10 MiB/s (36 GiB an hour), far below
/// what EBS usually sustains, because AWS promises no rate; at most
/// [`IMAGE_DEADLINE_CAP_MINUTES`]. `sizes_gib`: the instance's volumes.
pub fn image_deadline_minutes(sizes_gib: &[i32]) -> u32 {
    let gib: u64 = sizes_gib.iter().map(|s| (*s).max(0) as u64).sum();
    (30 + (gib * 1024 / 10).div_ceil(60)).min(u64::from(IMAGE_DEADLINE_CAP_MINUTES)) as u32
}

/// The longest derived image deadline, minutes (48 hours, as options.imageTimeoutMinutes):
/// in stop-source the service answers 503 while the image is taken, so a deadline of days
/// must be asked for, never derived.
pub const IMAGE_DEADLINE_CAP_MINUTES: u32 = 2880;

#[cfg(test)]
#[path = "looks_tests.rs"]
mod tests;
