//! `carveout plan`: the plan checked against its schema, then the same Preflight code the
//! state machine runs (read-only), with the caller's credentials; prints every check and
//! what a migration would create and change, in order.

use std::path::PathBuf;

use anyhow::Result;

use carveout::plan::Plan;
use carveout::steps::{Context, preflight};

use crate::aws_args::AwsArgs;
use crate::changes::planned;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The plan, a JSON file.
    #[arg(long)]
    plan: PathBuf,
    #[command(flatten)]
    aws: AwsArgs,
    /// Print JSON instead: {"migrationId", "checks", "changes", "states", "history"}
    /// (states: every Task state a successful run enters, in order; history: the
    /// execution's history events, {"least", "most"}, against Step Functions' 25,000).
    #[arg(long)]
    json: bool,
}

/// Ok(true): Preflight passed; Ok(false): a check failed (said on stdout); Err: the
/// plan file could not be read, or the workflow could not be walked.
pub async fn run(args: PlanArgs) -> Result<bool> {
    let raw = crate::plan_file::read(&args.plan).map_err(anyhow::Error::msg)?;
    let ctx = Context {
        base: args.aws.config().await?,
    };
    let facts = match preflight(&ctx, raw.clone()).await {
        Ok(facts) => facts,
        Err(err) => {
            println!("Preflight failed (nothing was changed):");
            println!("  ✗ {}: {}", err.name(), args.aws.explain(&err.to_string()));
            return Ok(false);
        }
    };
    let plan = Plan::parse(&raw)?;
    let planned = planned(&plan, &facts).map_err(anyhow::Error::msg)?;
    if args.json {
        let out = serde_json::json!({
            "migrationId": plan.migration_id,
            "checks": facts.checks,
            "changes": planned.changes,
            "states": planned.states,
            "history": planned.history,
        });
        println!("{out:#}");
        return Ok(true);
    }
    println!(
        "Preflight passed for migration {} (nothing was changed):",
        plan.migration_id
    );
    for check in &facts.checks {
        println!("  ✓ {check}");
    }
    println!("\nA migration would, in this order:");
    for (i, change) in planned.changes.iter().enumerate() {
        println!("  {:>2}. {change}", i + 1);
    }
    Ok(true)
}
