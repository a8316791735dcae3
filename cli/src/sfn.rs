//! `carveout start`, `watch` and `status`: the deployed state machine through the Step
//! Functions API (aws-sdk-sfn), with the user's normal credentials, or the emulator.

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use carveout::plan::Plan;

use crate::aws_args::AwsArgs;
use crate::history::HistoryReader;
use crate::outcome::Outcome;
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

pub async fn client(aws: &AwsArgs) -> Result<Client> {
    Ok(Client::new(&aws.config().await?))
}

/// The state machine named by `target`, else the only carveout one among every page of
/// ListStateMachines.
async fn state_machine(client: &Client, target: &Target) -> Result<String> {
    state_machine_named(
        client,
        target.state_machine.as_deref(),
        "MigrationStateMachine",
    )
    .await
}

/// `explicit`, else the only state machine whose name starts with `prefix` (SAM names
/// them after their logical id), among every page of ListStateMachines.
pub async fn state_machine_named(
    client: &Client,
    explicit: Option<&str>,
    prefix: &str,
) -> Result<String> {
    if let Some(arn) = explicit {
        return Ok(arn.to_string());
    }
    let machines = client
        .list_state_machines()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("listing state machines")?;
    let found: Vec<&str> = machines
        .iter()
        .filter(|m| m.name().starts_with(prefix))
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

pub async fn start(args: StartArgs) -> Result<Outcome> {
    let raw = crate::plan_file::read(&args.plan).map_err(anyhow::Error::msg)?;
    let plan = match Plan::parse(&raw) {
        Ok(plan) => plan,
        Err(err) => {
            println!("✗ {}: {err}", err.name());
            return Ok(Outcome::Failed);
        }
    };
    let client = client(&args.target.aws).await?;
    let machine = state_machine(&client, &args.target).await?;
    start_named(
        &client,
        &machine,
        "migration",
        &plan.migration_id,
        &raw,
        args.watch,
    )
    .await
}

/// Starts `input` on `machine` as the execution `name` (the migration's or program's id): a
/// second start of the same one finds the first instead of running it twice. Prints the
/// execution ARN and its console URL; follows it with `watch`.
pub async fn start_named(
    client: &Client,
    machine: &str,
    what: &str,
    name: &str,
    input: &serde_json::Value,
    watch: bool,
) -> Result<Outcome> {
    let arn = carveout::vending::execution_arn(machine, name);
    match client.describe_execution().execution_arn(&arn).send().await {
        Ok(existing) => {
            println!(
                "{what} {name} was already started: {arn} ({})",
                existing.status().as_str()
            );
            if *existing.status() != ExecutionStatus::Running && what == "migration" {
                println!(
                    "to retry it, start a copy of the plan under another execution name with the same migrationId, or redrive the execution (it resumes where it stopped; in stop-source, once its Rollback or the watcher restored the service, it stops at Cutover: the source served again after its images)"
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
                .state_machine_arn(machine)
                .name(name)
                .input(input.to_string())
                .send()
                .await
                .context("starting the execution")?;
            println!("started {}", out.execution_arn());
        }
        Err(err) => return Err(anyhow::Error::new(err).context("looking for an earlier execution")),
    }
    println!("console: {}", console_url(&arn));
    if watch {
        return follow(client, &arn, Duration::from_secs(2)).await;
    }
    Ok(Outcome::Done)
}

pub async fn watch(args: WatchArgs) -> Result<Outcome> {
    let client = client(&args.aws).await?;
    follow(
        &client,
        &args.execution,
        Duration::from_secs_f64(args.interval.max(0.1)),
    )
    .await
}

/// Follows the execution history (every page of it, at each read) until the execution
/// ends, through the same progress display as `carveout local`.
async fn follow(client: &Client, arn: &str, interval: Duration) -> Result<Outcome> {
    let mut progress = Progress::new();
    let mut reader = HistoryReader::default();
    // The child executions started so far (the per-instance image and launch work, the
    // steps of a gradual cutover), each followed through its own history until it ends.
    let mut children = Children::default();
    loop {
        let events = read_history(client, arn).await?;
        let seen = reader.last_id;
        // A redrive appends to the same history: an end before the last redrive is not
        // the end.
        let redriven = events
            .iter()
            .filter(|e| *e.r#type() == HistoryEventType::ExecutionRedriven)
            .map(|e| e.id())
            .max()
            .unwrap_or(0);
        for event in events.iter().filter(|e| e.id() > seen) {
            for converted in reader.convert(event) {
                if converted["event"] == "Result" && event.id() < redriven {
                    continue;
                }
                if converted["event"] == "ChildStarted" {
                    children.start(&converted, &mut progress);
                    continue;
                }
                if converted["event"] == "Result" {
                    // What the children said last (a failed child's own error) comes first.
                    children.follow(client, &mut progress).await;
                }
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
                    return Ok(Outcome::of_execution(&converted));
                }
            }
        }
        children.follow(client, &mut progress).await;
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
            return Ok(Outcome::from(
                *status.status() == ExecutionStatus::Succeeded,
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

/// The child executions a watch follows: (label, execution ARN, its history so far), and
/// how many each Task started (labels: `ImageWorkflow #0`, `LaunchWorkflow #0`, …).
#[derive(Default)]
struct Children {
    running: Vec<(String, String, HistoryReader)>,
    started: std::collections::HashMap<String, usize>,
}

impl Children {
    fn start(&mut self, event: &serde_json::Value, progress: &mut Progress) {
        let task = event["state"].as_str().unwrap_or("child").to_string();
        let n = self.started.entry(task.clone()).or_default();
        let label = format!("{task} #{n}");
        *n += 1;
        let arn = event["executionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        progress.event(&json!({"event": "ChildStarted", "execution": label, "executionArn": arn}));
        self.running.push((label, arn, HistoryReader::default()));
    }

    /// Reads each running child's new events into the progress; a child that cannot be
    /// read (no `states:GetExecutionHistory` on it) is said once and no longer followed.
    async fn follow(&mut self, client: &Client, progress: &mut Progress) {
        for (label, arn, reader) in &mut self.running {
            let events = match read_history(client, arn).await {
                Ok(events) => events,
                Err(e) => {
                    eprintln!("  (not following {label}: {e:#})");
                    reader.ended = true;
                    continue;
                }
            };
            let seen = reader.last_id;
            for event in events.iter().filter(|e| e.id() > seen) {
                for mut converted in reader.convert(event) {
                    if converted["event"] == "Result" {
                        let ok = converted["status"] == "SUCCEEDED";
                        converted = json!({"event": if ok { "ChildSucceeded" } else { "ChildFailed" },
                            "execution": label.as_str(), "error": converted["error"], "historyEvents": event.id()});
                    } else {
                        converted["execution"] = json!(label.as_str());
                    }
                    progress.event(&converted);
                }
            }
        }
        self.running.retain(|(_, _, r)| !r.ended);
    }
}

/// Every event of an execution's history so far (every page).
async fn read_history(client: &Client, arn: &str) -> Result<Vec<aws_sdk_sfn::types::HistoryEvent>> {
    client
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("reading the execution history")
}

/// Lists the executions of the state machine (every page), or those of one migration.
pub async fn status(args: StatusArgs) -> Result<bool> {
    let client = client(&args.target.aws).await?;
    let machine = state_machine(&client, &args.target).await?;
    list(&client, &machine, args.migration_id.as_deref()).await
}

/// Prints the executions of `machine` (every page), or those named `id` (or `id-…`).
pub async fn list(client: &Client, machine: &str, id: Option<&str>) -> Result<bool> {
    let executions = client
        .list_executions()
        .state_machine_arn(machine)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("listing executions")?;
    let mut rows = Vec::new();
    for e in &executions {
        let name = e.name();
        let matches = id.is_none_or(|id| {
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
            id.map(|m| format!(" for {m}")).unwrap_or_default()
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;

    #[tokio::test]
    async fn the_state_machine_on_the_second_page_is_found() {
        use aws_sdk_sfn::operation::list_state_machines::ListStateMachinesOutput as Out;
        use aws_sdk_sfn::types::{StateMachineListItem as Item, StateMachineType};
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let page = |name: &str, next: Option<&str>| {
            let item = Item::builder()
                .name(name)
                .state_machine_arn(format!("arn:{name}"));
            let item = item
                .r#type(StateMachineType::Standard)
                .creation_date(DateTime::from_secs(0));
            let out = Out::builder().state_machines(item.build().unwrap());
            out.set_next_token(next.map(str::to_string))
                .build()
                .unwrap()
        };
        let first = mock!(Client::list_state_machines)
            .match_requests(|r| r.next_token().is_none())
            .then_output(move || page("Other", Some("page-2")));
        let second = mock!(Client::list_state_machines)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(move || page("MigrationStateMachine-1", None));
        let client = mock_client!(aws_sdk_sfn, RuleMode::Sequential, &[&first, &second]);
        let aws = AwsArgs { endpoint: None };
        let found = state_machine(
            &client,
            &Target {
                state_machine: None,
                aws,
            },
        )
        .await;
        assert_eq!(found.unwrap(), "arn:MigrationStateMachine-1");
    }

    #[test]
    fn console_url_points_at_the_execution_in_its_region() {
        let url = console_url("arn:aws:states:ap-northeast-1:123456789012:execution:m:hp");
        assert!(url.starts_with("https://ap-northeast-1.console.aws.amazon.com/states/"));
        assert!(url.ends_with("execution:m:hp"));
    }
}
