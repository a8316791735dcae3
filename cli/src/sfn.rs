//! `carveout start`, `watch` and `status`: the deployed state machine through the Step
//! Functions API (aws-sdk-sfn), with the user's normal credentials, or the emulator.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use carveout::plan::Plan;
use serde_json::{Value, json};

use crate::aws_args::AwsArgs;
use crate::progress::Progress;

#[derive(clap::Args)]
pub struct Target {
    /// The state machine (default: $CARVEOUT_STATE_MACHINE_ARN, else the only state
    /// machine whose name starts with MigrationStateMachine).
    #[arg(long, env = "CARVEOUT_STATE_MACHINE_ARN")]
    state_machine: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The plan, a JSON file: the execution input.
    #[arg(long)]
    plan: PathBuf,
    #[command(flatten)]
    target: Target,
    /// Follow the execution until it ends.
    #[arg(long)]
    watch: bool,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Execution ARN (as printed by `carveout start`).
    execution: String,
    #[command(flatten)]
    aws: AwsArgs,
    /// Seconds between reads of the execution history.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Only executions of this migration (its name, or name-attempt suffixes).
    #[arg(long)]
    migration_id: Option<String>,
    #[command(flatten)]
    target: Target,
}

async fn client(aws: &AwsArgs) -> Client {
    Client::new(&aws.config().await)
}

async fn state_machine(client: &Client, target: &Target) -> Result<String> {
    if let Some(arn) = &target.state_machine {
        return Ok(arn.clone());
    }
    let list = client
        .list_state_machines()
        .send()
        .await
        .context("listing state machines")?;
    let found: Vec<&str> = list
        .state_machines()
        .iter()
        .filter(|m| m.name().starts_with("MigrationStateMachine"))
        .map(|m| m.state_machine_arn())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!(
            "no carveout state machine found: pass --state-machine or set CARVEOUT_STATE_MACHINE_ARN"
        ),
        many => bail!(
            "several carveout state machines ({}): pass --state-machine",
            many.join(", ")
        ),
    }
}

pub fn console_url(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or("us-east-1");
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    )
}

pub async fn start(args: StartArgs) -> Result<bool> {
    let raw = crate::plan_file::read(&args.plan).map_err(anyhow::Error::msg)?;
    let plan = match Plan::parse(&raw) {
        Ok(plan) => plan,
        Err(err) => {
            println!("✗ {}: {err}", err.name());
            return Ok(false);
        }
    };
    let client = client(&args.target.aws).await;
    let machine = state_machine(&client, &args.target).await?;
    // The execution is named after the migration: a second start of the same migration
    // finds the first one instead of running it twice.
    let arn = carveout::vending::execution_arn(&machine, &plan.migration_id);
    match client.describe_execution().execution_arn(&arn).send().await {
        Ok(existing) => {
            println!(
                "migration {} was already started: {arn} ({})",
                plan.migration_id,
                existing.status().as_str()
            );
            if *existing.status() != ExecutionStatus::Running {
                println!(
                    "to retry it, redrive the execution, or start a copy of the plan under another execution name with the same migrationId"
                );
            }
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_execution_does_not_exist()) =>
        {
            let out = client
                .start_execution()
                .state_machine_arn(&machine)
                .name(&plan.migration_id)
                .input(raw.to_string())
                .send()
                .await
                .context("starting the execution")?;
            println!("started {}", out.execution_arn());
        }
        Err(err) => return Err(anyhow::Error::new(err).context("looking for an earlier execution")),
    }
    println!("console: {}", console_url(&arn));
    if args.watch {
        return follow(&client, &arn, Duration::from_secs(2)).await;
    }
    Ok(true)
}

pub async fn watch(args: WatchArgs) -> Result<bool> {
    let client = client(&args.aws).await;
    follow(
        &client,
        &args.execution,
        Duration::from_secs_f64(args.interval.max(0.1)),
    )
    .await
}

/// Follows the execution history until the execution ends, through the same progress
/// display as `carveout local`.
async fn follow(client: &Client, arn: &str, interval: Duration) -> Result<bool> {
    let mut progress = Progress::new();
    let mut reader = HistoryReader::default();
    loop {
        let mut token = None;
        let mut page_events = Vec::new();
        loop {
            let page = client
                .get_execution_history()
                .execution_arn(arn)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await
                .context("reading the execution history")?;
            page_events.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let seen = reader.last_id;
        for event in page_events.iter().filter(|e| e.id() > seen) {
            for converted in reader.convert(event) {
                progress.event(&converted);
                if converted["event"] == "Result" {
                    progress.finish(&converted);
                    let ok = converted["status"] == "SUCCEEDED";
                    println!(
                        "{}",
                        serde_json::to_string_pretty(if ok {
                            &converted["output"]
                        } else {
                            &converted
                        })?
                    );
                    return Ok(ok);
                }
            }
        }
        let status = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .context("describing the execution")?;
        if !matches!(
            status.status(),
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive
        ) && reader.ended
        {
            return Ok(*status.status() == ExecutionStatus::Succeeded);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Turns Step Functions history events into the progress events of the local runner.
#[derive(Default)]
struct HistoryReader {
    last_id: i64,
    /// State name by event id: events without a name inherit their predecessor's.
    names: std::collections::HashMap<i64, String>,
    failed: std::collections::HashSet<String>,
    ended: bool,
}

impl HistoryReader {
    fn convert(&mut self, e: &HistoryEvent) -> Vec<Value> {
        use HistoryEventType as T;
        self.last_id = e.id();
        let entered = e
            .state_entered_event_details()
            .map(|d| d.name().to_string());
        let exited = e.state_exited_event_details().map(|d| d.name().to_string());
        let name = entered
            .clone()
            .or(exited.clone())
            .or_else(|| self.names.get(&e.previous_event_id()).cloned())
            .unwrap_or_default();
        self.names.insert(e.id(), name.clone());
        let kind = |t: &T| match t.as_str() {
            s if s.starts_with("Task") || s.starts_with("LambdaFunction") => "Task",
            s if s.starts_with("Map") => "Map",
            s if s.starts_with("Parallel") => "Parallel",
            s if s.starts_with("Fail") => "Fail",
            s if s.starts_with("Wait") => "Wait",
            _ => "Other",
        };
        let t = e.r#type();
        let failure = e
            .task_failed_event_details()
            .map(|d| (d.error(), d.cause()))
            .or_else(|| {
                e.lambda_function_failed_event_details()
                    .map(|d| (d.error(), d.cause()))
            })
            .or_else(|| {
                e.task_timed_out_event_details()
                    .map(|d| (d.error(), d.cause()))
            });
        let mut out = Vec::new();
        if matches!(t, T::ExecutionStarted) {
            out.push(json!({"event": "ExecutionStarted"}));
        } else if entered.is_some() {
            out.push(json!({"event": "StateEntered", "state": name, "type": kind(t)}));
        } else if exited.is_some() {
            out.push(json!({"event": "StateExited", "state": name, "type": kind(t)}));
        } else if let Some((error, cause)) = failure {
            self.failed.insert(name.clone());
            out.push(json!({"event": "TaskError", "state": name, "error": error.unwrap_or(""), "cause": cause.unwrap_or("")}));
        } else if matches!(t, T::TaskScheduled | T::LambdaFunctionScheduled)
            && self.failed.remove(&name)
        {
            out.push(json!({"event": "StateRetried", "state": name, "attempt": 0}));
        } else if let Some(d) = e.execution_succeeded_event_details() {
            self.ended = true;
            let output: Value = d
                .output()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            out.push(json!({"event": "Result", "status": "SUCCEEDED", "output": output}));
        } else if let Some(d) = e.execution_failed_event_details() {
            self.ended = true;
            out.push(json!({"event": "Result", "status": "FAILED", "error": d.error().unwrap_or(""), "cause": d.cause().unwrap_or("")}));
        } else if matches!(t, T::ExecutionAborted | T::ExecutionTimedOut) {
            self.ended = true;
            out.push(
                json!({"event": "Result", "status": t.as_str(), "error": t.as_str(), "cause": ""}),
            );
        }
        // The execution's own clock: elapsed time is the execution's, not the watcher's.
        if let Ok(ms) = e.timestamp().to_millis() {
            for event in &mut out {
                event["ts"] = json!(ms);
            }
        }
        out
    }
}

pub async fn status(args: StatusArgs) -> Result<bool> {
    let client = client(&args.target.aws).await;
    let machine = state_machine(&client, &args.target).await?;
    let mut rows = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_executions()
            .state_machine_arn(&machine)
            .set_next_token(token)
            .send()
            .await
            .context("listing executions")?;
        for e in page.executions() {
            let name = e.name();
            let matches = args.migration_id.as_deref().is_none_or(|id| {
                name == id
                    || name
                        .strip_prefix(id)
                        .is_some_and(|rest| rest.starts_with('-'))
            });
            if matches {
                rows.push((
                    name.to_string(),
                    e.status().as_str().to_string(),
                    e.start_date().to_string(),
                    e.stop_date().map(|d| d.to_string()).unwrap_or_default(),
                ));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    println!(
        "{:<40} {:<10} {:<22} STOPPED",
        "EXECUTION", "STATUS", "STARTED"
    );
    for (name, status, started, stopped) in &rows {
        println!("{name:<40} {status:<10} {started:<22} {stopped}");
    }
    if rows.is_empty() {
        println!(
            "(no executions{})",
            args.migration_id
                .map(|m| format!(" for {m}"))
                .unwrap_or_default()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ExecutionSucceededEventDetails, LambdaFunctionFailedEventDetails, StateEnteredEventDetails,
        StateExitedEventDetails,
    };

    fn event(
        id: i64,
        prev: i64,
        t: HistoryEventType,
    ) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .previous_event_id(prev)
            .r#type(t)
            .timestamp(DateTime::from_secs(0))
    }

    #[test]
    fn history_events_become_progress_events_with_polls_counted() {
        use HistoryEventType as T;
        let name = "WaitImageAvailable";
        let history = vec![
            event(1, 0, T::TaskStateEntered).state_entered_event_details(
                StateEnteredEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            ),
            event(2, 1, T::LambdaFunctionScheduled),
            event(3, 2, T::LambdaFunctionFailed).lambda_function_failed_event_details(
                LambdaFunctionFailedEventDetails::builder()
                    .error("CarveOut.NotReady")
                    .cause("image is pending")
                    .build(),
            ),
            event(4, 3, T::LambdaFunctionScheduled),
            event(5, 4, T::LambdaFunctionSucceeded),
            event(6, 5, T::TaskStateExited).state_exited_event_details(
                StateExitedEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            ),
            event(7, 6, T::ExecutionSucceeded).execution_succeeded_event_details(
                ExecutionSucceededEventDetails::builder()
                    .output("{\"a\":1}")
                    .build(),
            ),
        ];
        let mut reader = HistoryReader::default();
        let mut progress = Progress::new();
        let mut kinds = Vec::new();
        for e in history {
            for converted in reader.convert(&e.build().unwrap()) {
                progress.event(&converted);
                kinds.push(converted["event"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(
            kinds,
            [
                "StateEntered",
                "TaskError",
                "StateRetried",
                "StateExited",
                "Result"
            ]
        );
        assert_eq!(progress.polls.get(name), Some(&1));
        assert_eq!(progress.transitions, 2);
        assert!(reader.ended);
    }

    #[test]
    fn console_url_points_at_the_execution_in_its_region() {
        let url = console_url("arn:aws:states:ap-northeast-1:123456789012:execution:m:hp");
        assert!(url.starts_with("https://ap-northeast-1.console.aws.amazon.com/states/"));
        assert!(url.ends_with("execution:m:hp"));
    }
}
