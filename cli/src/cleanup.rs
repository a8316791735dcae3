//! `carveout cleanup`: what a migration created, found by its tag; a dry run unless --apply.

use std::path::PathBuf;
use std::process::ExitCode;

use carveout::accounts::{Accounts, load_cli_config};
use carveout::cleanup::{apply, survey};
use carveout::plan::Plan;

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// The migration's plan (its migrationId, accounts, role and listener).
    #[arg(long)]
    plan: PathBuf,
    /// Remove what is listed; without it nothing is changed.
    #[arg(long)]
    apply: bool,
    /// AWS endpoint (the local emulator); default: AWS, with your usual credentials.
    #[arg(long)]
    endpoint: Option<String>,
}

pub async fn run(args: CleanupArgs) -> ExitCode {
    let plan = match crate::plan_file::read(&args.plan)
        .and_then(|v| Plan::parse(&v).map_err(|e| format!("{}: {e}", args.plan.display())))
    {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("carveout cleanup: {e}");
            return ExitCode::from(2);
        }
    };
    let base = load_cli_config(args.endpoint.as_deref()).await;
    let accounts = Accounts::new(&base, &plan);
    let found = match survey(&accounts, &plan).await {
        Ok(found) => found,
        Err(err) => {
            println!("✗ {}: {err}", err.name());
            return ExitCode::from(1);
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
        return ExitCode::SUCCESS;
    }
    if !args.apply {
        println!("Would remove, in this order (dry run; --apply removes):");
        for r in &found.remove {
            println!("  remove  {:<24} {} ({})", r.kind, r.id, r.account_id);
        }
        return ExitCode::SUCCESS;
    }
    match apply(&accounts, &found).await {
        Ok(done) => {
            for line in done {
                println!("  {line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            println!("✗ {}: {err}", err.name());
            ExitCode::from(1)
        }
    }
}
