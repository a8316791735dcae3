//! `carveout revert`: sends every request back to the old copy after the point of no
//! return, saying first what that costs (a dry run unless --yes).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use carveout::accounts::Accounts;
use carveout::plan::Plan;
use carveout::revert::{apply_reversal, read_reversal};

use crate::aws_args::AwsArgs;

#[derive(clap::Args)]
pub struct RevertArgs {
    /// The migration's plan (its migrationId, accounts, role, listener and original group).
    #[arg(long)]
    plan: PathBuf,
    /// Go back; without it nothing is changed and the costs are printed.
    #[arg(long)]
    yes: bool,
    /// How long to wait for the original targets to be healthy before moving traffic.
    #[arg(long, default_value_t = 600)]
    wait_seconds: u64,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Ok(true): the costs were shown (and with --yes, traffic went back); Ok(false):
/// nothing to revert, or a call failed (said on stdout); Err: the plan could not be read.
pub async fn run(args: RevertArgs) -> Result<bool> {
    let plan = crate::plan_file::read(&args.plan)
        .and_then(|v| Plan::parse(&v).map_err(|e| format!("{}: {e}", args.plan.display())))
        .map_err(anyhow::Error::msg)?;
    let base = args.aws.config().await?;
    let accounts = Accounts::new(&base, &plan);
    let reversal = match read_reversal(&accounts, &plan).await {
        Ok(r) => r,
        Err(err) => {
            println!("✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            return Ok(false);
        }
    };
    println!(
        "Migration {} serves every request from {}. Going back costs:",
        plan.migration_id, reversal.new_group
    );
    for cost in &reversal.costs {
        println!("  - {cost}");
    }
    if !args.yes {
        println!("Nothing changed (dry run; --yes goes back).");
        return Ok(true);
    }
    match apply_reversal(
        &accounts,
        &plan,
        &reversal,
        Duration::from_secs(args.wait_seconds),
    )
    .await
    {
        Ok(done) => {
            println!("Reverted: {done}.");
            Ok(true)
        }
        Err(err) => {
            println!("✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            Ok(false)
        }
    }
}
