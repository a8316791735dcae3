//! How long one AWS call may take: the SDK's retry and timeout policy, in one place.
//!
//! Three clocks must nest or a burst of throttling turns into a rollback: one SDK call
//! (with every retry) ends before the function's `Timeout` (template.yaml), which ends
//! before the Task's `TimeoutSeconds` (the ASL). `carveout-lambda --contract` prints
//! [`contract`] and `make lint` (scripts/check_timeouts.py) checks the order.
//!
//! AWS sources: standard retry mode and its backoff
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>),
//! SDK timeouts (<https://docs.aws.amazon.com/sdk-for-rust/latest/dg/timeouts.html>).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use serde_json::{Value, json};

use crate::error::NAMES;

/// Attempts per call, the first included (throttling and 5xx are retried inside the SDK).
pub const MAX_ATTEMPTS: u32 = 8;
/// Standard mode: attempt n waits a random time up to `min(INITIAL × 2ⁿ⁻¹, MAX)`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Connecting to an endpoint (a dead endpoint fails fast and is retried).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt, request sent to response read.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One call, every attempt and backoff included: the hard bound the clocks above rely on.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The retry policy of every client.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The timeouts of every client.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Worst case of one call: every attempt runs to its timeout and every backoff is at
/// its cap, bounded by the operation timeout.
pub fn worst_case_call() -> Duration {
    let backoffs: Duration = (0..MAX_ATTEMPTS - 1)
        .map(|n| (INITIAL_BACKOFF * 2u32.pow(n)).min(MAX_BACKOFF))
        .sum();
    (ATTEMPT_TIMEOUT * MAX_ATTEMPTS + backoffs).min(OPERATION_TIMEOUT)
}

/// What the ASL and the template may rely on: the SDK's clock (seconds) and every error
/// name a step can raise (`errorType`).
pub fn contract() -> Value {
    json!({
        "sdk": {
            "maxAttempts": MAX_ATTEMPTS,
            "initialBackoffSeconds": INITIAL_BACKOFF.as_secs(),
            "maxBackoffSeconds": MAX_BACKOFF.as_secs(),
            "attemptTimeoutSeconds": ATTEMPT_TIMEOUT.as_secs(),
            "operationTimeoutSeconds": OPERATION_TIMEOUT.as_secs(),
            "worstCaseCallSeconds": worst_case_call().as_secs(),
        },
        "errorNames": NAMES,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_is_bounded_by_the_operation_timeout() {
        // 8 attempts of 10 s plus 1+2+4+8+16+20+20 s of backoff would be 151 s.
        assert_eq!(worst_case_call(), Duration::from_secs(60));
        assert_eq!(contract()["sdk"]["worstCaseCallSeconds"], 60);
    }

    #[test]
    fn the_contract_lists_every_error_name_a_step_raises() {
        let listed: Vec<String> = serde_json::from_value(contract()["errorNames"].clone()).unwrap();
        assert_eq!(listed, NAMES.map(str::to_string));
    }
}
