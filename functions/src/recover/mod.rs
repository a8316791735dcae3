//! The watcher: an execution can end with no Catch running, so with no Rollback. An
//! operator's StopExecution (ABORTED), the execution's timeout (TIMED_OUT), a service
//! limit such as the 25,000-event history (FAILED, `States.Runtime`): in stop-source the
//! listener would keep answering 503 and the sources stay stopped; in a gradual shift part
//! of the traffic stays on the new copy. An EventBridge rule on the state machine's
//! ABORTED, TIMED_OUT and FAILED executions invokes this function
//! (<https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html>).
//!
//! It reads the execution's history for the last state it held (Preflight's facts hold
//! the original action; nothing outside the execution needs to), waits out an invocation
//! still in flight, then runs the same restore as the Rollback step: routing back exactly
//! before the point of no return, sources started in stop-source; past it, traffic stays
//! on the new copy. It then notifies the topic. Idempotent: EventBridge may deliver an
//! event twice, and an execution whose own Rollback finished is left alone.

pub mod history;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{SdkResultExt, StepError};
use crate::state::CaughtError;
use crate::steps::{Context, RollbackOut, rollback};
use history::{Event, Finding, finding};

/// The handler name of the watcher function.
pub const RECOVER_HANDLER: &str = "recover-execution";

/// The statuses the EventBridge rule sends (template.yaml `RecoverExecutionFunction`).
pub const STOPPED_STATUSES: [&str; 3] = ["ABORTED", "TIMED_OUT", "FAILED"];

const WHO: &str = "the watcher function's role";

/// How often a restore that is not possible yet (a source still stopping) is tried again
/// within one invocation.
const RETRY_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RecoverConfig {
    /// `NOTIFICATION_TOPIC_ARN`: where the outcome is published (optional).
    pub topic_arn: Option<String>,
}

impl RecoverConfig {
    pub fn from_env() -> Self {
        RecoverConfig {
            topic_arn: std::env::var("NOTIFICATION_TOPIC_ARN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }
}

/// The function's own clients (its role in the workflow account).
pub struct RecoverClients {
    pub sfn: aws_sdk_sfn::Client,
    pub sns: aws_sdk_sns::Client,
}

impl RecoverClients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        RecoverClients {
            sfn: aws_sdk_sfn::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}

/// The `detail` of "Step Functions Execution Status Change" (the same fields as
/// DescribeExecution).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    /// How many times the execution was redriven when it took this status.
    #[serde(default)]
    pub redrive_count: i32,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

/// What the watcher did, as its invocation answers and the notification says.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryOut {
    pub execution_arn: String,
    pub status: String,
    /// `ignored`, `superseded`, `nothing-changed`, `rollback-ran` or `restored`.
    pub outcome: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackOut>,
}

/// Reads the event's `detail`; an event of another status is ignored.
pub fn status_change(event: &Value) -> Result<StatusChange, String> {
    let detail = event
        .get("detail")
        .ok_or("not an EventBridge event: no detail")?;
    serde_json::from_value(detail.clone())
        .map_err(|e| format!("not a Step Functions Execution Status Change: {e}"))
}

/// Handles one status-change event, and says on the topic what it did or why it could
/// not. Errors: NotReady (the restore is still not possible when the invocation's time
/// runs out: Lambda's asynchronous retries try again), AccessDenied, ResourceFailed.
pub async fn handle(
    ctx: &Context,
    clients: &RecoverClients,
    config: &RecoverConfig,
    event: Value,
) -> Result<RecoveryOut, StepError> {
    let change = status_change(&event).map_err(StepError::InvalidPlan)?;
    let mut out = RecoveryOut {
        execution_arn: change.execution_arn.clone(),
        status: change.status.clone(),
        outcome: "ignored".into(),
        summary: format!("{} ended {}: nothing to do", change.name, change.status),
        rollback: None,
    };
    if !STOPPED_STATUSES.contains(&change.status.as_str()) {
        return Ok(out);
    }
    match watch(ctx, clients, &change, &mut out).await {
        Ok(()) => {
            tracing::warn!(outcome = out.outcome, summary = out.summary, "watched");
            notify(clients, config, &out, None).await?;
            Ok(out)
        }
        Err(e) => {
            tracing::error!(error = %e, "the watcher could not restore");
            // Said on the topic too: the event goes to Lambda's retries, then the queue.
            if let Err(n) = notify(clients, config, &out, Some(&e)).await {
                tracing::error!(error = %n, "and could not say so");
            }
            Err(e)
        }
    }
}

async fn watch(
    ctx: &Context,
    clients: &RecoverClients,
    change: &StatusChange,
    out: &mut RecoveryOut,
) -> Result<(), StepError> {
    let (name, status) = (&change.name, &change.status);
    if let Some(why) = superseded(clients, change, None).await? {
        out.outcome = "superseded".into();
        out.summary = why;
        return Ok(());
    }
    let events = read_history(clients, &change.execution_arn).await?;
    let (mut state, quiet_after_ms) = match finding(&events) {
        Finding::NothingChanged => {
            out.outcome = "nothing-changed".into();
            out.summary = format!(
                "migration {name} ended {status} before Preflight passed: nothing was changed"
            );
            return Ok(());
        }
        Finding::RollbackRan => {
            out.outcome = "rollback-ran".into();
            out.summary = format!(
                "migration {name} ended {status} after its Rollback ran: see the execution's cause"
            );
            return Ok(());
        }
        Finding::Unreadable => {
            return Err(StepError::ResourceFailed(format!(
                "migration {name} ended {status} after Preflight passed, but no state in its history parses: check the listener and the source instances by hand"
            )));
        }
        Finding::Restore {
            state,
            quiet_after_ms,
        } => (state, quiet_after_ms),
    };
    if let Some(until) = quiet_after_ms {
        let wait = until - crate::state::now_epoch_ms() as i64;
        if wait > 0 {
            tracing::info!(
                wait_ms = wait,
                "an invocation may still run: waiting it out"
            );
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
    // Checked again after the wait: a redrive or a new execution may have begun meanwhile.
    if let Some(why) = superseded(clients, change, Some(&state.plan.migration_id)).await? {
        out.outcome = "superseded".into();
        out.summary = why;
        return Ok(());
    }
    // The failure Rollback itself was handling (its input's error) stays the root cause.
    let ended = format!("the execution ended {status} with no Rollback");
    state.error = Some(match state.error.take() {
        Some(caught) => CaughtError {
            cause: format!("{} | {ended}", caught.cause),
            ..caught
        },
        None => CaughtError {
            error: change
                .error
                .clone()
                .unwrap_or_else(|| match status.as_str() {
                    "ABORTED" => "ExecutionAborted".into(),
                    "TIMED_OUT" => "ExecutionTimedOut".into(),
                    _ => "ExecutionFailed".into(),
                }),
            cause: change.cause.clone().unwrap_or(ended),
        },
    });
    let done = loop {
        match rollback(ctx, (*state).clone()).await {
            Err(StepError::NotReady(why)) => {
                tracing::info!(why, "not restorable yet");
                tokio::time::sleep(RETRY_EVERY).await;
            }
            other => break other?,
        }
    };
    out.outcome = "restored".into();
    out.summary = format!(
        "migration {name} ended {status} with no Rollback: routing {}",
        done.routing
    );
    out.rollback = Some(done);
    Ok(())
}

/// Why the event no longer describes what runs, if it does not: the execution's status or
/// redrive count moved on (a redrive; EventBridge delivers at least once, in no set order,
/// and Lambda may hold an event for hours), or another execution of the migration runs
/// (a copy started under another name). Restoring then would undo a live run.
async fn superseded(
    clients: &RecoverClients,
    change: &StatusChange,
    migration_id: Option<&str>,
) -> Result<Option<String>, StepError> {
    let now = clients
        .sfn
        .describe_execution()
        .execution_arn(&change.execution_arn)
        .send()
        .await
        .named("states:DescribeExecution", WHO)?;
    let (status, redrives) = (now.status().as_str(), now.redrive_count().unwrap_or(0));
    if status != change.status || redrives != change.redrive_count {
        return Ok(Some(format!(
            "{} is {status} now (redriven {redrives} time(s)), not the {} this event reports: nothing done",
            change.name, change.status
        )));
    }
    let Some(id) = migration_id else {
        return Ok(None);
    };
    let running: Vec<_> = clients
        .sfn
        .list_executions()
        .state_machine_arn(&change.state_machine_arn)
        .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("states:ListExecutions", WHO)?;
    // A name is only a hint (`hp` and a program's `hp-2-…` share a prefix): the running
    // execution's own input says which migration it is.
    for e in running.iter().filter(|e| {
        e.execution_arn() != change.execution_arn
            && (e.name() == id || e.name().starts_with(&format!("{id}-")))
    }) {
        let described = clients
            .sfn
            .describe_execution()
            .execution_arn(e.execution_arn())
            .send()
            .await
            .named("states:DescribeExecution", WHO)?;
        let input = described
            .input()
            .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok());
        if input.is_some_and(|v| v["migrationId"] == id) {
            return Ok(Some(format!(
                "another execution of migration {id} runs ({}): nothing done",
                e.execution_arn()
            )));
        }
    }
    Ok(None)
}

/// Every event of the execution, newest first (every page: a history holds up to 25,000
/// events, 1,000 a page). Errors: AccessDenied, ResourceFailed.
async fn read_history(
    clients: &RecoverClients,
    execution_arn: &str,
) -> Result<Vec<Event>, StepError> {
    let mut pages = clients
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .reverse_order(true)
        .include_execution_data(true)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.named("states:GetExecutionHistory", WHO)?;
        events.extend(page.events().iter().map(Event::from));
    }
    Ok(events)
}

async fn notify(
    clients: &RecoverClients,
    config: &RecoverConfig,
    out: &RecoveryOut,
    failed: Option<&StepError>,
) -> Result<(), StepError> {
    let Some(topic) = &config.topic_arn else {
        return Ok(());
    };
    let (subject, text) = match failed {
        Some(e) => (
            format!("carveout: execution {} NOT restored", out.status),
            format!(
                "The watcher could not restore what the execution left ({}: {e}). Check the listener and the source instances; Lambda retries the event, then keeps it in the dead-letter queue.",
                e.name()
            ),
        ),
        None => (
            format!("carveout: execution {} ({})", out.status, out.outcome),
            format!(
                "{}{}",
                out.summary,
                out.rollback
                    .as_ref()
                    .map(|r| format!("\n\n{}", r.cause))
                    .unwrap_or_default()
            ),
        ),
    };
    clients
        .sns
        .publish()
        .topic_arn(topic)
        .subject(subject)
        .message(format!("{text}\n\nExecution: {}", out.execution_arn))
        .send()
        .await
        .named("sns:Publish", WHO)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_change_detail_is_read_as_eventbridge_sends_it() {
        let event = serde_json::json!({
            "source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": "arn:aws:states:us-east-1:1:execution:m:x", "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:m",
                "name": "x", "status": "ABORTED", "startDate": 1, "stopDate": 2, "input": "{}"}
        });
        let change = status_change(&event).unwrap();
        assert_eq!(
            (change.name.as_str(), change.status.as_str()),
            ("x", "ABORTED")
        );
        assert!(status_change(&serde_json::json!({})).is_err());
    }
}
