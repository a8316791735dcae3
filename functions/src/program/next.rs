//! The program's loop, one wave at a time (pure): after each wave, what its services
//! became joins the results, and the next wave's services are each run, waited for (a
//! target picked by tag, not there yet) or skipped (refused by Preflight, a dependency
//! that did not succeed, the program stopped). A program stops starting services once
//! more have failed than `toleratedFailurePercentage` allows; services refused by
//! Preflight count from the start, so with the default 0 a refused service means nothing
//! runs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TargetTags;
use super::outcome::{ProgramReport, ServiceResult, ServiceStatus, report};
use super::preflight::{ProgramCheck, Standing};

/// What to do with one service of the wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start its migration with `plan`.
    Run,
    /// Wait for its target (picked by tag), then start it.
    Wait,
    /// Do not start it: `why`, reported as `skipStatus`.
    Skip,
}

/// One service of a wave, as the program's Map runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveItem {
    pub name: String,
    pub migration_id: String,
    /// Its migration's execution name: `<migrationId>-<programId>` (at most 48 + 1 + 24 of
    /// the 80 characters a name may have). A closed execution's name cannot be used again
    /// for 90 days (StartExecution answers ExecutionAlreadyExists,
    /// <https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html>),
    /// so a service that failed runs again in a program with a new programId; within one
    /// program a repeated start finds the running one. `carveout status --migration-id`
    /// lists it (`<migrationId>-…`).
    pub execution_name: String,
    pub action: Action,
    /// The service's plan (the target filled in once a vended one is found).
    pub plan: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_by_tag: Option<TargetTags>,
    /// A skipped item: why, and the status it is reported with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_status: Option<ServiceStatus>,
    /// A waiting item: when its wait began (the wave's start), epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_since_ms: Option<u64>,
}

/// The loop's state after a wave (`$.wave`): the next wave to run, or the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveState {
    /// How many waves have been handed out (this one included).
    pub index: usize,
    pub done: bool,
    pub run: Vec<WaveItem>,
    /// Every service that ended so far, in the order they ended.
    pub results: Vec<ServiceResult>,
    /// When done: the program report (in program order), and whether it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ProgramReport>,
    #[serde(default)]
    pub failed: bool,
}

/// After `check` (the program's Preflight), `previous` (the loop's state, None before the
/// first wave) and `ended` (what the last wave's services became), at `now_ms` (epoch ms:
/// a waiting item's wait begins then): the next step.
pub fn next(
    check: &ProgramCheck,
    previous: Option<&WaveState>,
    ended: Vec<ServiceResult>,
    now_ms: u64,
) -> WaveState {
    let mut results: Vec<ServiceResult> = previous.map(|p| p.results.clone()).unwrap_or_default();
    results.extend(ended);
    let index = previous.map_or(0, |p| p.index);
    let total = check.services.len();
    let ended = |name: &str| results.iter().find(|r| r.name == name);
    // Refused services count as failed from the start.
    let failures = check
        .services
        .iter()
        .filter(|s| match ended(&s.name) {
            Some(r) => r.status.failed(),
            None => matches!(s.standing, Standing::Refused { .. }),
        })
        .count();
    let stopped = failures * 100 > usize::from(check.tolerated_failure_percentage) * total;
    if stopped || index >= check.waves.len() {
        let why = format!(
            "not started: the program stopped after {failures} of {total} services failed (tolerated: {} %)",
            check.tolerated_failure_percentage
        );
        let in_order = check
            .services
            .iter()
            .map(|s| match ended(&s.name) {
                Some(r) => r.clone(),
                None => skipped(s.name.clone(), s.migration_id.clone(), &s.standing, &why),
            })
            .collect();
        // The report holds every result: the state keeps them once.
        return WaveState {
            index,
            done: true,
            run: Vec::new(),
            results: Vec::new(),
            report: Some(report(&check.program_id, in_order, stopped)),
            failed: stopped,
        };
    }
    let run = check.waves[index]
        .services
        .iter()
        .filter_map(|name| check.services.iter().find(|s| &s.name == name))
        .map(|s| {
            let item = |action, why: Option<String>, skip_status| WaveItem {
                name: s.name.clone(),
                migration_id: s.migration_id.clone(),
                execution_name: format!("{}-{}", s.migration_id, check.program_id),
                action,
                plan: s.plan.clone(),
                target_by_tag: s.target_by_tag.clone(),
                why,
                skip_status,
                wait_since_ms: (action == Action::Wait).then_some(now_ms),
            };
            let blocked = s
                .depends_on
                .iter()
                .find(|d| !ended(d).is_some_and(|r| r.status.moved()));
            match (&s.standing, blocked) {
                (Standing::Refused { error, cause }, _) => item(
                    Action::Skip,
                    Some(format!("refused by Preflight: {error}: {cause}")),
                    Some(ServiceStatus::Refused),
                ),
                (_, Some(d)) => item(
                    Action::Skip,
                    Some(format!(
                        "not started: it depends on {d}, which did not succeed ({})",
                        ended(d).map_or("not run".into(), |r| format!("{:?}", r.status))
                    )),
                    Some(ServiceStatus::NotStarted),
                ),
                (Standing::Waiting { .. }, None) => item(Action::Wait, None, None),
                (Standing::Ready { .. }, None) => item(Action::Run, None, None),
            }
        })
        .collect();
    WaveState {
        index: index + 1,
        done: false,
        run,
        results,
        report: None,
        failed: false,
    }
}

fn skipped(name: String, migration_id: String, standing: &Standing, why: &str) -> ServiceResult {
    let (status, summary) = match standing {
        Standing::Refused { error, cause } => (
            ServiceStatus::Refused,
            format!("refused by Preflight: {error}: {cause}"),
        ),
        _ => (ServiceStatus::NotStarted, why.to_string()),
    };
    ServiceResult {
        name,
        migration_id,
        status,
        execution_arn: None,
        summary,
        error: None,
        instances: Vec::new(),
        serving_target_group_arn: None,
        downtime_seconds: None,
    }
}
