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
            "settings": carveout::moved::settings_tables(&facts),
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
    print_settings(&carveout::moved::settings_tables(&facts));
    println!("\nA migration would, in this order:");
    for (i, change) in planned.changes.iter().enumerate() {
        println!("  {:>2}. {change}", i + 1);
    }
    Ok(true)
}

/// The "what moved" tables: per source instance, then the target group.
fn print_settings(tables: &[carveout::carried::SettingsTable]) {
    for table in tables {
        let title = if table.source_instance_id == "targetGroup" {
            "\nThe new target group gets the original's attributes:".to_string()
        } else {
            format!("\nThe new instance of {} gets:", table.source_instance_id)
        };
        println!("{title}");
        if table.rows.is_empty() {
            println!("  (no attributes to carry)");
        }
        let width = table
            .rows
            .iter()
            .map(|r| r.setting.len())
            .max()
            .unwrap_or(0);
        for r in &table.rows {
            let value = if r.source == r.new {
                r.new.clone()
            } else {
                format!("{} -> {}", r.source, r.new)
            };
            let why = r
                .why
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            println!(
                "  {:<width$}  {:<11}  {value}{why}",
                r.setting,
                r.handling.word()
            );
        }
    }
}
