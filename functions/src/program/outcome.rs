//! What became of each service, and the program report (pure): shaped from what a
//! service's child execution answered (`states:startExecution.sync:2`: its status and its
//! output), or from the error the program's Map caught, or from why it never started.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::CaughtError;

/// A service's end in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    /// Migrated: every request goes to the new instances.
    Succeeded,
    /// Migrated, and a later step failed: traffic stays on the new copy, something is left
    /// to tidy (the migration's own MIGRATED_WITH_ISSUES).
    MigratedWithIssues,
    /// Its migration failed and rolled back its own routing.
    Failed,
    /// Its Preflight refused it: nothing of it ran.
    Refused,
    /// Never started: a service it depends on did not succeed, or the program stopped.
    NotStarted,
}

impl ServiceStatus {
    /// Whether the service now serves from its new account.
    pub fn moved(self) -> bool {
        matches!(
            self,
            ServiceStatus::Succeeded | ServiceStatus::MigratedWithIssues
        )
    }

    /// Whether it counts against `toleratedFailurePercentage`.
    pub fn failed(self) -> bool {
        matches!(self, ServiceStatus::Failed | ServiceStatus::Refused)
    }
}

/// One new instance of a moved service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewInstance {
    pub source_instance_id: String,
    pub instance_id: String,
    pub private_ip: String,
}

/// What became of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResult {
    pub name: String,
    pub migration_id: String,
    pub status: ServiceStatus,
    /// Its migration's execution (absent when it never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    /// The migration's summary, or why it failed or did not start.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub instances: Vec<NewInstance>,
    /// The target group the service's forward action sends its requests to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_target_group_arn: Option<String>,
    /// stop-source: seconds the service answered with the maintenance page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_seconds: Option<f64>,
}

/// A service of a wave, as the program's Map hands it to its outcome: the item, and the
/// child execution's answer (`run`: `{status, executionArn, output}`) or the caught error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ended {
    pub name: String,
    pub migration_id: String,
    /// Why it did not run (a skipped item), with the status to report.
    #[serde(default)]
    pub why: Option<String>,
    #[serde(default)]
    pub skip_status: Option<ServiceStatus>,
    #[serde(default)]
    pub run: Option<Value>,
    #[serde(default)]
    pub failure: Option<CaughtError>,
}

/// The service's result from how its item ended.
pub fn service_result(ended: Ended) -> ServiceResult {
    let mut out = ServiceResult {
        name: ended.name,
        migration_id: ended.migration_id,
        status: ServiceStatus::NotStarted,
        execution_arn: None,
        summary: String::new(),
        error: None,
        instances: Vec::new(),
        serving_target_group_arn: None,
        downtime_seconds: None,
    };
    if let Some(failure) = ended.failure {
        let failure = failure.innermost();
        out.status = ServiceStatus::Failed;
        // The cause says what happened: a migration's Rollback tells what it did to the
        // service's routing; a wait or a start that failed changed nothing.
        out.summary = format!("failed: {}", failure.cause);
        out.error = Some(failure.error);
        return out;
    }
    let Some(run) = ended.run else {
        out.status = ended.skip_status.unwrap_or(ServiceStatus::NotStarted);
        out.summary = ended.why.unwrap_or_else(|| "not started".into());
        return out;
    };
    out.execution_arn = run["executionArn"].as_str().map(str::to_string);
    let output = &run["output"];
    if output["status"] == "MIGRATED_WITH_ISSUES" {
        out.status = ServiceStatus::MigratedWithIssues;
        // The Rollback's answer after the point of no return: its cause says what is left.
        out.summary = output["cause"]
            .as_str()
            .unwrap_or("migrated; a later step failed")
            .to_string();
        out.error = output["error"]["Error"].as_str().map(str::to_string);
        return out;
    }
    // The migration's output is its Report (carveout.asl.json: Report's OutputPath).
    let report = output;
    out.status = ServiceStatus::Succeeded;
    out.summary = report["summary"].as_str().unwrap_or("migrated").to_string();
    out.instances = serde_json::from_value(report["instances"].clone()).unwrap_or_default();
    out.serving_target_group_arn = report["targetGroupArn"].as_str().map(str::to_string);
    out.downtime_seconds = report["downtimeSeconds"].as_f64();
    out
}

/// The program's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgramStatus {
    /// Every service moved.
    Succeeded,
    /// Some failed, within the tolerated share; the others moved.
    SucceededWithFailures,
    /// More failed than tolerated: the program stopped starting services.
    Failed,
}

/// The program report: per service, what became of it; and the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramReport {
    pub program_id: String,
    pub status: ProgramStatus,
    /// `3 of 5 services moved; 1 failed, 1 refused by Preflight`.
    pub summary: String,
    pub services: Vec<ServiceResult>,
}

/// The report of a program whose services ended as `results` (in program order).
pub fn report(program_id: &str, results: Vec<ServiceResult>, stopped: bool) -> ProgramReport {
    let count = |s: ServiceStatus| results.iter().filter(|r| r.status == s).count();
    let moved = results.iter().filter(|r| r.status.moved()).count();
    let mut parts = vec![format!("{moved} of {} services moved", results.len())];
    for (status, words) in [
        (ServiceStatus::MigratedWithIssues, "with issues"),
        (ServiceStatus::Failed, "failed"),
        (ServiceStatus::Refused, "refused by Preflight"),
        (ServiceStatus::NotStarted, "not started"),
    ] {
        let n = count(status);
        if n > 0 {
            parts.push(format!("{n} {words}"));
        }
    }
    let status = if stopped {
        ProgramStatus::Failed
    } else if results.iter().any(|r| !r.status.moved()) {
        ProgramStatus::SucceededWithFailures
    } else {
        ProgramStatus::Succeeded
    };
    ProgramReport {
        program_id: program_id.to_string(),
        status,
        summary: parts.join(", "),
        services: results,
    }
}
