//! `carveout plan`: the plan checked against its schema, then the same Preflight code the
//! state machine runs (read-only), with the caller's credentials; prints every check and
//! what a migration would create and change, in order.

use std::path::PathBuf;
use std::process::ExitCode;

use carveout::accounts::load_cli_config;
use carveout::names;
use carveout::plan::Plan;
use carveout::state::Facts;
use carveout::steps::{Context, preflight};

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The plan, a JSON file.
    #[arg(long)]
    plan: PathBuf,
    /// AWS endpoint (the local emulator); default: AWS, with your usual credentials.
    #[arg(long)]
    endpoint: Option<String>,
}

pub async fn run(args: PlanArgs) -> ExitCode {
    let raw = match crate::plan_file::read(&args.plan) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("carveout plan: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = Context {
        base: load_cli_config(args.endpoint.as_deref()).await,
    };
    match preflight(&ctx, raw.clone()).await {
        Ok(facts) => {
            let plan = Plan::parse(&raw).expect("preflight parsed it");
            println!(
                "Preflight passed for migration {} (nothing was changed):",
                plan.migration_id
            );
            for check in &facts.checks {
                println!("  ✓ {check}");
            }
            println!("\nA migration would, in this order:");
            for (i, change) in changes(&plan, &facts).iter().enumerate() {
                println!("  {:>2}. {change}", i + 1);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            println!("Preflight failed (nothing was changed):");
            println!("  ✗ {}: {err}", err.name());
            ExitCode::from(1)
        }
    }
}

/// The changes a migration makes, in workflow order, from the resolved facts.
pub fn changes(plan: &Plan, f: &Facts) -> Vec<String> {
    let (n, t, s) = (
        &plan.service.account_id,
        &plan.target.account_id,
        &plan.source.account_id,
    );
    let id = &plan.migration_id;
    let mut out = vec![format!(
        "[{n}] request VPC peering {} ({}) -> {} ({}) in {t}; accept it in {t}",
        f.network.vpc_id,
        f.network.cidrs.join(", "),
        f.target.vpc_id,
        f.target.cidrs.join(", ")
    )];
    for rt in &f.network.route_table_ids {
        out.push(format!(
            "[{n}] route {} -> the peering in {rt}",
            f.target.cidrs.join(", ")
        ));
    }
    for rt in &f.target.route_table_ids {
        out.push(format!(
            "[{t}] route {} -> the peering in {rt}",
            f.network.cidrs.join(", ")
        ));
    }
    if f.options.share_security_group_with_ram {
        out.push(format!(
            "[{n}] share {} with {t} through RAM ({})",
            f.network.security_group_ids.join(", "),
            names::resource_share(id)
        ));
    }
    for i in &f.instances {
        let share = match &f.options.kms_key_id {
            Some(key) => format!(
                "copy it re-encrypted with {key}, and share the copy (launch permission, snapshots)"
            ),
            None => "and share it (launch permission, snapshots)".to_string(),
        };
        out.push(format!(
            "[{s}] image {} {}, {share} with {t}",
            i.instance_id,
            if f.options.no_reboot {
                "without reboot"
            } else {
                "with one reboot"
            }
        ));
    }
    let port = f
        .instances
        .first()
        .map(|i| i.port)
        .unwrap_or(f.service.target_group.port);
    out.push(format!(
        "[{t}] security group {} in {}: tcp {port} from {}",
        names::security_group(id),
        f.target.vpc_id,
        f.network
            .security_group_ids
            .iter()
            .map(|g| format!("{n}/{g}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (k, i) in f.instances.iter().enumerate() {
        let subnet = &f.target.subnets[k % f.target.subnets.len()];
        out.push(format!(
            "[{t}] launch {} from that image in {} ({}), IMDSv2 required, tags copied",
            plan.options
                .instance_type
                .as_deref()
                .unwrap_or(&i.instance_type),
            subnet.subnet_id,
            subnet.availability_zone
        ));
    }
    let tg = &f.service.target_group;
    out.push(format!(
        "[{n}] IP target group {} ({}:{}, health check {} {}) in {}, new private IPs on port {port}, AvailabilityZone=all",
        names::target_group(id),
        tg.protocol,
        tg.port,
        tg.health_check_protocol.as_deref().unwrap_or("HTTP"),
        tg.health_check_path.as_deref().unwrap_or("/"),
        f.network.vpc_id
    ));
    out.push(format!(
        "[{n}] probe rule at priority {} (header {}: {id}) until the new targets are healthy",
        f.service.probe_priority,
        names::PROBE_HEADER
    ));
    let what = f
        .service
        .rule_arn
        .as_deref()
        .map_or("the listener's default action".to_string(), |r| {
            format!("rule {r}")
        });
    out.push(format!(
        "[{n}] cutover: {what} forwards to {} instead of {}; the probe rule is removed",
        names::target_group(id),
        f.service.target_group_arn
    ));
    out
}
