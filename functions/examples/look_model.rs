//! `make bench`'s model of a predicted-poll wait (bench/README.md, "Predicted polls"): the
//! real decision (`carveout::looks::next`, replayed by `looks::replay`) against simulated snapshot progress, for waits
//! of 1 to 480 minutes. Prints one JSON object: per wait, mean and worst looks, billed
//! transitions, Lambda seconds and detection latency.
//!
//! The progress model: a work of T seconds (sampled within ±5 % of the wait) reports 0 %
//! for its first 2 %, then advances in 10 segments whose speeds vary (log-normal, σ 0.3),
//! reported in whole percents below 100 until it is done at T. Each read takes 0.05 s.
//! The deadline is 3 × T + 30 minutes (Preflight's derived deadline is above the work).

use carveout::looks::replay;

/// xorshift64*: the bench needs repeatable draws, not a cryptographic generator.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Percent done at `t` of a work of `total` seconds with segment speeds `speeds`.
fn progress(t: f64, total: f64, speeds: &[f64]) -> Option<f64> {
    let start = 0.02 * total;
    if t < start {
        return Some(0.0);
    }
    let span = (total - start) / speeds.len() as f64;
    let sum: f64 = speeds.iter().sum();
    let mut done = 0.0;
    for (i, s) in speeds.iter().enumerate() {
        let from = start + span * i as f64;
        let part = ((t - from) / span).clamp(0.0, 1.0);
        done += part * s / sum;
    }
    Some((done * 100.0).floor().min(99.0))
}

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    // The waits (minutes) after the sample count, else the bench's six.
    let waits: Vec<u64> = std::env::args()
        .skip(2)
        .filter_map(|s| s.parse().ok())
        .collect();
    let waits = if waits.is_empty() {
        vec![1, 5, 20, 60, 240, 480]
    } else {
        waits
    };
    let mut rng = Rng(0x5EED_CA4E_u64);
    let mut out = serde_json::Map::new();
    for minutes in waits {
        let (mut looks, mut worst_looks, mut reads, mut watched) = (0.0, 0u64, 0.0, 0.0);
        let (mut late, mut worst_late) = (0.0, 0.0f64);
        for _ in 0..samples {
            let total = minutes as f64 * 60.0 * (0.95 + 0.1 * rng.unit());
            let speeds: Vec<f64> = (0..10).map(|_| (0.3 * rng.normal()).exp()).collect();
            let deadline = (3.0 * total) as u64 + 1800;
            let r = replay(total, deadline, 0.05, |t| progress(t, total, &speeds));
            looks += r.looks as f64;
            worst_looks = worst_looks.max(r.looks);
            reads += r.reads as f64;
            watched += r.watched;
            late += r.late;
            worst_late = worst_late.max(r.late);
        }
        let n = samples as f64;
        out.insert(
            minutes.to_string(),
            serde_json::json!({
                "looks": looks / n,
                "worstLooks": worst_looks,
                // Task and Choice per look, a Wait between looks.
                "transitions": 3.0 * looks / n - 1.0,
                "invocations": looks / n,
                "reads": reads / n,
                "lambdaSeconds": (reads * 0.05 + watched) / n,
                "latencyMean": late / n,
                "latencyWorst": worst_late,
            }),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}
