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

/// The `detail` of "Step Functions Execution Status Change".
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub execution_arn: String,
    pub name: String,
    pub status: String,
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
    /// `ignored`, `nothing-changed`, `rollback-ran` or `restored`.
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

/// Handles one status-change event. Errors: NotReady (the restore is still not possible
/// when the invocation's time runs out: Lambda's asynchronous retries try again),
/// AccessDenied, ResourceFailed.
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
        summary: String::new(),
        rollback: None,
    };
    if !STOPPED_STATUSES.contains(&change.status.as_str()) {
        out.summary = format!("{} ended {}: nothing to do", change.name, change.status);
        return Ok(out);
    }
    let events = read_history(clients, &change.execution_arn).await?;
    match finding(&events) {
        Finding::NothingChanged => {
            out.outcome = "nothing-changed".into();
            out.summary = format!(
                "migration {} ended {} before Preflight passed: nothing was changed",
                change.name, change.status
            );
        }
        Finding::RollbackRan => {
            out.outcome = "rollback-ran".into();
            out.summary = format!(
                "migration {} ended {} after its Rollback ran: see the execution's cause",
                change.name, change.status
            );
        }
        Finding::Restore {
            mut state,
            quiet_after_ms,
        } => {
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
            state.error = Some(CaughtError {
                error: change
                    .error
                    .clone()
                    .unwrap_or_else(|| match change.status.as_str() {
                        "ABORTED" => "ExecutionAborted".into(),
                        "TIMED_OUT" => "ExecutionTimedOut".into(),
                        _ => "ExecutionFailed".into(),
                    }),
                cause: change.cause.clone().unwrap_or_else(|| {
                    format!("the execution ended {} with no Rollback", change.status)
                }),
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
                "migration {} ended {} with no Rollback: routing {}",
                change.name, change.status, done.routing
            );
            out.rollback = Some(done);
        }
    }
    tracing::warn!(outcome = out.outcome, summary = out.summary, "watched");
    notify(clients, config, &out).await?;
    Ok(out)
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
) -> Result<(), StepError> {
    let Some(topic) = &config.topic_arn else {
        return Ok(());
    };
    let detail = out
        .rollback
        .as_ref()
        .map(|r| format!("\n\n{}", r.cause))
        .unwrap_or_default();
    clients
        .sns
        .publish()
        .topic_arn(topic)
        .subject(format!(
            "carveout: execution {} ({})",
            out.status, out.outcome
        ))
        .message(format!(
            "{}{detail}\n\nExecution: {}",
            out.summary, out.execution_arn
        ))
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
