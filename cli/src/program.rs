//! `carveout program …`: many services in waves (issue 17). `plan` is the program's
//! Preflight, read-only: the program file, each service's own Preflight, and the limits
//! the services share, with the numbers.

use std::path::PathBuf;

use anyhow::Result;

use carveout::program::preflight::{ProgramCheck, Standing, preflight};
use carveout::steps::Context;

use crate::aws_args::AwsArgs;

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

pub async fn run(command: ProgramCommand) -> Result<bool> {
    match command {
        ProgramCommand::Plan(args) => plan(args).await,
        ProgramCommand::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&carveout::program::schema())?
            );
            Ok(true)
        }
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
