//! `carveout program …`: many services in waves (issue 17). `plan` is the program's
//! Preflight, read-only: the program file, each service's own Preflight, and the limits
//! the services share, with the numbers.

use std::path::PathBuf;

use anyhow::Result;

use carveout::program::preflight::{ProgramCheck, Standing, preflight};
use carveout::steps::Context;

use crate::aws_args::AwsArgs;
use crate::local::{Runner, run_local};
use crate::progress::Progress;
use crate::project_root;

#[derive(clap::Subcommand)]
pub enum ProgramCommand {
    /// Check a program without changing anything
    ///
    /// Validates the program file, runs every service's Preflight and the checks on the
    /// limits the services share (peerings per VPC, routes per route table, target
    /// groups and rules per ALB, vCPUs per target account), and prints the waves. Exit 1
    /// when a service or a shared limit fails.
    ///
    /// Example: carveout program plan --program program.json
    Plan(PlanArgs),
    /// Start a program on the deployed program state machine
    ///
    /// Checks the program file, then starts an execution named after its programId (a
    /// second start finds the first). Each service then runs as its own migration
    /// execution. Prints the execution ARN and its console URL.
    ///
    /// Example: carveout program start --program program.json --watch
    Start(StartArgs),
    /// Follow a program's execution live (the same display as `carveout watch`)
    ///
    /// Example: carveout program watch arn:aws:states:ap-northeast-1:123456789012:execution:ProgramStateMachine-abc:split-1
    Watch(crate::sfn::WatchArgs),
    /// List the program state machine's executions with their state
    ///
    /// Example: carveout program status --program-id split-1
    Status(StatusArgs),
    /// Run a program locally, against the emulator
    ///
    /// The program state machine (statemachine/program.asl.json) in the local runner: each
    /// service's migration is a child execution of the real migration state machine, every
    /// Task the real Lambda binary against the endpoint. Progress per service on stderr,
    /// the program report on stdout. Exit 0 when every service moved, 1 otherwise.
    ///
    /// Example: carveout program local --program program.json --endpoint http://127.0.0.1:5000
    Local(LocalArgs),
    /// Print the program file's JSON Schema
    ///
    /// Example: carveout program schema > program.schema.json
    Schema,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The program, a JSON file (comments allowed).
    #[arg(long)]
    program: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
    /// Print JSON instead: {"programId", "waves", "services", "shared", "sharedChecks"}.
    #[arg(long)]
    json: bool,
    /// Also print every check of every service.
    #[arg(long, short)]
    verbose: bool,
}

/// The program state machine: given, or found.
#[derive(clap::Args)]
pub struct ProgramMachine {
    /// The program state machine (default: $CARVEOUT_PROGRAM_STATE_MACHINE_ARN, else the
    /// only state machine whose name starts with ProgramStateMachine).
    #[arg(long, env = "CARVEOUT_PROGRAM_STATE_MACHINE_ARN")]
    state_machine: Option<String>,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// The program, a JSON file (comments allowed): the execution input.
    #[arg(long)]
    program: PathBuf,
    #[command(flatten)]
    machine: ProgramMachine,
    /// Follow the execution until it ends.
    #[arg(long)]
    watch: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Only executions of this program.
    #[arg(long)]
    program_id: Option<String>,
    #[command(flatten)]
    machine: ProgramMachine,
}

#[derive(clap::Args)]
pub struct LocalArgs {
    /// The program, a JSON file (comments allowed).
    #[arg(long)]
    program: PathBuf,
    /// AWS endpoint the steps call.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    endpoint: String,
    /// Directory holding carveout-lambda, the steps' binary (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Show the steps' own logs.
    #[arg(long, short)]
    verbose: bool,
    /// Also write the execution's event log here, one JSON event per line.
    #[arg(long)]
    events: Option<PathBuf>,
}

pub async fn run(command: ProgramCommand) -> Result<crate::outcome::Outcome> {
    let done = match command {
        ProgramCommand::Start(args) => return start(args).await,
        ProgramCommand::Watch(args) => return crate::sfn::watch(args).await,
        ProgramCommand::Status(args) => status(args).await,
        ProgramCommand::Plan(args) => plan(args).await,
        ProgramCommand::Local(args) => local(args),
        ProgramCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&carveout::program::schema())?
            );
            Ok(true)
        }
    };
    done.map(crate::outcome::Outcome::from)
}

const PROGRAM_MACHINE: &str = "ProgramStateMachine";

async fn start(args: StartArgs) -> Result<crate::outcome::Outcome> {
    let raw = crate::plan_file::read(&args.program).map_err(anyhow::Error::msg)?;
    let program_id = match carveout::program::Program::parse(&raw) {
        Ok((program, _)) => program.program_id,
        Err(err) => {
            println!("✗ {}: {err}", err.name());
            return Ok(crate::outcome::Outcome::Failed);
        }
    };
    let client = crate::sfn::client(&args.machine.aws).await?;
    let machine = crate::sfn::state_machine_named(
        &client,
        args.machine.state_machine.as_deref(),
        PROGRAM_MACHINE,
    )
    .await?;
    crate::sfn::start_named(&client, &machine, "program", &program_id, &raw, args.watch).await
}

async fn status(args: StatusArgs) -> Result<bool> {
    let client = crate::sfn::client(&args.machine.aws).await?;
    let machine = crate::sfn::state_machine_named(
        &client,
        args.machine.state_machine.as_deref(),
        PROGRAM_MACHINE,
    )
    .await?;
    crate::sfn::list(&client, &machine, args.program_id.as_deref()).await
}

fn local(args: LocalArgs) -> Result<bool> {
    let input = crate::plan_file::read(&args.program).map_err(anyhow::Error::msg)?;
    let mut progress = Progress::new();
    let result = run_local(
        &Runner {
            asl: project_root().join("statemachine/program.asl.json"),
            input,
            endpoint: args.endpoint,
            bin_dir: args.bin_dir,
            verbose: args.verbose,
            events: args.events,
            stop_at: None,
        },
        &mut progress,
    )?;
    let report = &result["output"];
    if result["status"] != "SUCCEEDED" {
        eprintln!(
            "\nProgram {}: {}",
            result["status"].as_str().unwrap_or("?"),
            result["error"].as_str().unwrap_or("?")
        );
        eprintln!("  {}", result["cause"].as_str().unwrap_or(""));
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "status": result["status"], "error": result["error"], "cause": result["cause"],
            }))?
        );
        return Ok(false);
    }
    print_report(report);
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(report["status"] == "SUCCEEDED")
}

/// The program report on stderr: one line per service.
fn print_report(report: &serde_json::Value) {
    eprintln!(
        "\nProgram {} {}: {}",
        report["programId"].as_str().unwrap_or("?"),
        report["status"].as_str().unwrap_or("?"),
        report["summary"].as_str().unwrap_or("")
    );
    for s in report["services"].as_array().into_iter().flatten() {
        let status = s["status"].as_str().unwrap_or("?");
        let mark = match status {
            "SUCCEEDED" => "✓",
            "MIGRATED_WITH_ISSUES" => "!",
            _ => "✗",
        };
        let new: Vec<String> = s["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                format!(
                    "{} ({})",
                    i["instanceId"].as_str().unwrap_or("?"),
                    i["privateIp"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let detail = match (new.is_empty(), s["servingTargetGroupArn"].as_str()) {
            (false, Some(tg)) => format!("{} · serving {tg}", new.join(", ")),
            _ => s["summary"].as_str().unwrap_or("").to_string(),
        };
        eprintln!(
            "  {mark} {:<10} {:<22} {detail}",
            s["name"].as_str().unwrap_or("?"),
            status
        );
    }
}

async fn plan(args: PlanArgs) -> Result<bool> {
    let raw = crate::plan_file::read(&args.program).map_err(anyhow::Error::msg)?;
    let ctx = Context {
        base: args.aws.config().await?,
    };
    let check = match preflight(&ctx, &raw).await {
        Ok(check) => check,
        Err(err) => {
            println!("Program refused (nothing was changed):");
            println!("  ✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            return Ok(false);
        }
    };
    if args.json {
        println!("{:#}", serde_json::to_value(&check)?);
    } else {
        print(&check, args.verbose);
    }
    Ok(check
        .services
        .iter()
        .all(|s| !matches!(s.standing, Standing::Refused { .. })))
}

fn print(check: &ProgramCheck, verbose: bool) {
    let count = check.services.len();
    println!(
        "Program {}: {count} service(s) in {} wave(s) (nothing was changed)",
        check.program_id,
        check.waves.len()
    );
    for (i, wave) in check.waves.iter().enumerate() {
        println!("  wave {}: {}", i + 1, wave.services.join(", "));
    }
    println!("\nServices:");
    for s in &check.services {
        match &s.standing {
            Standing::Ready { checks } => {
                println!(
                    "  ✓ {} ({}): Preflight passed, {} checks",
                    s.name,
                    s.migration_id,
                    checks.len()
                );
                if verbose {
                    for c in checks {
                        println!("      ✓ {c}");
                    }
                }
            }
            Standing::Waiting { why, wait_minutes } => println!(
                "  … {} ({}): waits up to {wait_minutes} min for its target: {why}",
                s.name, s.migration_id
            ),
            Standing::Refused { error, cause } => {
                println!("  ✗ {} ({}): {error}: {cause}", s.name, s.migration_id)
            }
        }
    }
    println!("\nShared limits:");
    for line in &check.shared_checks {
        println!("  ✓ {line}");
    }
}
