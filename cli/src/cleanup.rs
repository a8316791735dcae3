//! `carveout cleanup`: what a migration created, found by its tag; a dry run unless --apply.

use std::path::PathBuf;

use anyhow::Result;

use carveout::accounts::Accounts;
use carveout::cleanup::{apply, survey};
use carveout::plan::Plan;

use crate::aws_args::AwsArgs;

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// The migration's plan (its migrationId, accounts, role and listener).
    #[arg(long)]
    plan: PathBuf,
    /// Remove what is listed; without it nothing is changed.
    #[arg(long)]
    apply: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

/// Ok(true): listed (and with --apply removed); Ok(false): a call failed (said on
/// stdout); Err: the plan file could not be read.
pub async fn run(args: CleanupArgs) -> Result<bool> {
    let plan = crate::plan_file::read(&args.plan)
        .and_then(|v| Plan::parse(&v).map_err(|e| format!("{}: {e}", args.plan.display())))
        .map_err(anyhow::Error::msg)?;
    let base = args.aws.config().await?;
    let accounts = Accounts::new(&base, &plan);
    let found = match survey(&accounts, &plan).await {
        Ok(found) => found,
        Err(err) => {
            println!("✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            return Ok(false);
        }
    };
    if found.live {
        println!(
            "Migration {} is live: its target group serves the traffic; that part is kept.",
            plan.migration_id
        );
    }
    for (r, why) in &found.keep {
        println!(
            "  keep    {:<24} {} ({}): {why}",
            r.kind, r.id, r.account_id
        );
    }
    if found.remove.is_empty() {
        println!("Nothing to remove for migration {}.", plan.migration_id);
        return Ok(true);
    }
    if !args.apply {
        println!("Would remove, in this order (dry run; --apply removes):");
        for r in &found.remove {
            println!("  remove  {:<24} {} ({})", r.kind, r.id, r.account_id);
        }
        return Ok(true);
    }
    match apply(&accounts, &found).await {
        Ok(done) => {
            for line in done {
                println!("  {line}");
            }
            Ok(true)
        }
        Err(err) => {
            println!("✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            Ok(false)
        }
    }
}
