//! The carveout command line.

mod aws_args;
mod changes;
mod cleanup;
mod example;
mod history;
mod local;
mod outcome;
mod plan;
mod plan_file;
mod program;
mod progress;
mod revert;
mod sfn;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use outcome::Outcome;

#[derive(Parser)]
#[command(
    name = "carveout",
    version,
    about = "Move an EC2-hosted service into its own AWS account; the ALB stays where it is.",
    long_about = "Move an EC2-hosted service into its own AWS account while its Application Load \
Balancer stays in the network account: peering, images, launch, IP target group, health gate \
and cutover, with an exact rollback of routing. Works against AWS with your usual credentials \
and region, or against the local emulator with --endpoint."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a plan without changing anything
    ///
    /// Validates the plan against its schema, then runs the same read-only Preflight the
    /// state machine runs, with your credentials. Prints every check and what a migration
    /// would create and change, in order. Exit 1 when a check fails.
    ///
    /// Example: carveout plan --plan events/plan.json
    Plan(plan::PlanArgs),
    /// Start a migration on the deployed state machine
    ///
    /// The execution is named after the migration id, so starting the same migration twice
    /// does not run it twice. Prints the execution ARN and its console URL.
    ///
    /// Example: carveout start --plan plan.json --watch
    Start(sfn::StartArgs),
    /// Follow an execution live
    ///
    /// Shows each stage, polls so far and elapsed time; at the end the summary, or the
    /// error name and cause. Plain lines when not on a terminal. Exit 0 only when the
    /// execution succeeded.
    ///
    /// Example: carveout watch arn:aws:states:ap-northeast-1:123456789012:execution:MigrationStateMachine-abc:hp-2026-11
    Watch(sfn::WatchArgs),
    /// List the executions of the state machine with their state
    ///
    /// Example: carveout status --migration-id hp-2026-11
    Status(sfn::StatusArgs),
    /// Remove what a migration created (dry run unless --apply)
    ///
    /// Finds everything carrying the migration's tag in the network, source and target
    /// accounts. Never touches the source instances or the original target group. While the
    /// service forwards to the new target group, only the leftovers (probe rule, images,
    /// snapshots) are removed.
    ///
    /// Example: carveout cleanup --plan plan.json --apply
    Cleanup(cleanup::CleanupArgs),
    /// Send every request back to the old copy after the point of no return (dry run
    /// unless --yes)
    ///
    /// Once every request went to the new targets, no failure moves traffic back: the new
    /// copy may hold writes the old one never saw. This is the deliberate way back: it
    /// prints what going back costs; with --yes it starts stopped sources (stop-source),
    /// waits until the original targets are healthy and puts the saved original action
    /// back. The new copy is left for `carveout cleanup`.
    ///
    /// Example: carveout revert --plan plan.json --yes
    Revert(revert::RevertArgs),
    /// Many services out of one shared account, in waves (plan, start, watch, status, local, schema)
    ///
    /// A program names shared defaults once and one entry per service; each service is
    /// its own migration. See docs/program.md.
    ///
    /// Example: carveout program plan --program program.json
    #[command(subcommand)]
    Program(program::ProgramCommand),
    /// Run the real state machine locally, against the emulator
    ///
    /// The ASL file runs in aws-local-stepfunctions; every Task runs the real Rust Lambda
    /// binary (carveout-lambda) with the Task's handler against the endpoint. Progress on
    /// stderr, output JSON on stdout.
    ///
    /// Example: carveout local --plan plan.json --endpoint http://127.0.0.1:5000
    Local(local::LocalArgs),
    /// The demo: emulator, the seed's topology and a whole migration, with live progress
    ///
    /// Runs scripts/demo.sh from the repository (what `make demo` runs after `make build`).
    ///
    /// Example: carveout demo
    Demo,
    /// Print an example plan, every field explained (`--plain` for bare JSON)
    ///
    /// Example: carveout example --plain > plan.json
    Example {
        /// Bare JSON, without the explanations.
        #[arg(long)]
        plain: bool,
    },
    /// Print the plan's JSON Schema
    ///
    /// Example: carveout schema > plan.schema.json
    Schema,
    /// Print the state machine as a Mermaid flowchart, generated from the ASL file
    ///
    /// Example: carveout graph > workflow.mmd
    Graph {
        /// The state machine definition (default: statemachine/carveout.asl.json).
        #[arg(long)]
        asl: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so println! to a closed pipe (`carveout plan | head`) panics;
    // the default disposition ends the program quietly, as other Unix tools do.
    // SAFETY: called first thing, before any thread or handler exists.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let name = cli.command.name();
    exit(name, run(cli.command).await)
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Plan(_) => "plan",
            Command::Start(_) => "start",
            Command::Watch(_) => "watch",
            Command::Status(_) => "status",
            Command::Cleanup(_) => "cleanup",
            Command::Revert(_) => "revert",
            Command::Program(_) => "program",
            Command::Local(_) => "local",
            Command::Demo => "demo",
            Command::Example { .. } => "example",
            Command::Schema => "schema",
            Command::Graph { .. } => "graph",
        }
    }
}

/// Every command answers Ok(true) (done), Ok(false) (it ran, and the check, execution or
/// call failed: already said on stdout) or Err (it could not run: a plan file, a missing
/// tool, an AWS error outside a check); the execution commands answer an [`Outcome`].
async fn run(command: Command) -> Result<Outcome> {
    let done = match command {
        Command::Plan(args) => plan::run(args).await,
        Command::Start(args) => return sfn::start(args).await,
        Command::Watch(args) => return sfn::watch(args).await,
        Command::Status(args) => sfn::status(args).await,
        Command::Cleanup(args) => cleanup::run(args).await,
        Command::Revert(args) => revert::run(args).await,
        Command::Program(command) => return program::run(command).await,
        Command::Local(args) => return local::run(args),
        Command::Demo => demo(),
        Command::Example { plain } => {
            print!(
                "{}",
                if plain {
                    example::plain()
                } else {
                    example::commented()
                }
            );
            Ok(true)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&carveout::plan::schema())?
            );
            Ok(true)
        }
        Command::Graph { asl } => graph(asl),
    };
    done.map(Outcome::from)
}

/// The one exit path: 0 done, 1 failed (said already), 3 migrated with issues, 2 could not
/// run (said on stderr as `carveout <command>: <why>`).
fn exit(name: &str, outcome: Result<Outcome>) -> ExitCode {
    match outcome {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("carveout {name}: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn demo() -> Result<bool> {
    let script = project_root().join("scripts/demo.sh");
    let status = std::process::Command::new(&script)
        .current_dir(project_root())
        .status()
        .with_context(|| format!("{} (run from the carveout repository)", script.display()))?;
    Ok(status.success())
}

fn graph(asl: Option<PathBuf>) -> Result<bool> {
    let path = asl.unwrap_or_else(|| project_root().join("statemachine/carveout.asl.json"));
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let asl: serde_json::Value =
        serde_json::from_str(&text).with_context(|| path.display().to_string())?;
    print!("{}", carveout::graph::mermaid(&asl));
    Ok(true)
}

/// The repository root: where the ASL file and the local runner live.
pub fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("CARVEOUT_ROOT") {
        return PathBuf::from(root);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    for dir in cwd.ancestors() {
        if dir.join("statemachine/carveout.asl.json").exists() {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
