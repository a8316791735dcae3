//! The program execution's history, at most (pure): its services' polls are in their own
//! executions, so the program's own events grow with services and waves only. Step
//! Functions keeps at most 25,000 events per execution
//! (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>); a program
//! whose worst case passes [`HISTORY_LIMIT`] is refused by its Preflight.

/// The most events the program's execution may be planned to write (the service's limit
/// is 25,000; the rest is margin, as for a migration).
pub const HISTORY_LIMIT: u64 = 10_000;

/// Retries of a wait for a vended target (statemachine/program.asl.json, WaitForTarget's
/// `CarveOut.NotReady` MaxAttempts: every 10 minutes, 4 hours and 10 minutes).
pub const TARGET_WAIT_ATTEMPTS: u64 = 25;
/// Retries of RunMigration on `StepFunctions.ExecutionLimitExceeded`.
pub const START_ATTEMPTS: u64 = 6;
/// Retries of a program Lambda Task on the platform's errors.
pub const LAMBDA_ATTEMPTS: u64 = 3;

/// A Lambda Task: entered, scheduled, started, succeeded, exited; each retry a failure,
/// a schedule and a start more.
fn lambda_task(retries: u64) -> u64 {
    5 + 3 * retries
}

/// The worst case of the program's own history for `services` services with `waiting`
/// of them waiting for a vended target, in `waves` waves: every retry taken.
pub fn worst_case(services: u64, waiting: u64, waves: u64) -> u64 {
    // Start and end of the execution, the Preflight and the final state.
    let fixed = 2 + lambda_task(LAMBDA_ATTEMPTS + 6) + 2;
    // Per wave: NextWave, the Choice, the Map (entered, started, succeeded, exited); and
    // the last NextWave and Choice.
    let per_wave = lambda_task(LAMBDA_ATTEMPTS) + 2 + 4;
    // Per service: its iteration (started, succeeded), the Choice, RunMigration (entered,
    // scheduled, started, submitted, succeeded, exited; a retry 4 more), the outcome.
    let per_service = 2 + 2 + (6 + 4 * START_ATTEMPTS) + lambda_task(LAMBDA_ATTEMPTS);
    let per_wait = lambda_task(TARGET_WAIT_ATTEMPTS + LAMBDA_ATTEMPTS);
    fixed + per_wave * (waves + 1) + per_service * services + per_wait * waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asl() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../statemachine/program.asl.json")).unwrap()
    }

    #[test]
    fn the_retry_counts_are_the_state_machines() {
        let items = &asl()["States"]["RunWave"]["ItemProcessor"]["States"];
        assert_eq!(
            items["WaitForTarget"]["Retry"][0]["ErrorEquals"][0],
            "CarveOut.NotReady"
        );
        assert_eq!(
            items["WaitForTarget"]["Retry"][0]["MaxAttempts"],
            TARGET_WAIT_ATTEMPTS
        );
        assert_eq!(
            items["RunMigration"]["Retry"][0]["MaxAttempts"],
            START_ATTEMPTS
        );
        assert_eq!(
            items["ServiceOutcome"]["Retry"][0]["MaxAttempts"],
            LAMBDA_ATTEMPTS
        );
    }

    #[test]
    fn fifty_services_one_a_wave_all_waiting_stay_below_the_limit() {
        let worst = worst_case(50, 50, 50);
        assert!(worst < HISTORY_LIMIT, "{worst}");
        assert!(
            worst_case(5, 0, 3) < 400,
            "the seed's program: a few hundred at most"
        );
    }
}
