//! Preflight: read-only. Resolves the plan against what exists and checks everything a
//! later step depends on, so that no mutation starts on a plan that cannot finish. One file
//! per concern; only Describe/Get/List calls (a static test keeps it so).

mod encryption;
mod instances;
mod network;
mod service;

use crate::accounts::Accounts;
use crate::aws::ec2::{cidrs_overlap, route_tables_of_subnets, route_target, vpc_cidrs};
use crate::error::StepError;
use crate::plan::{Consistency, Plan};
use crate::state::{Facts, NetworkSide, ResolvedOptions, TargetSide};

use crate::context::Context;
use instances::{check_instance_store, resolve_instances};
use network::{check_existing_peering, check_shareable, resolve_subnets};
use service::{check_rule_quota, load_balancer, resolve_service};

pub async fn preflight(ctx: &Context, input: serde_json::Value) -> Result<Facts, StepError> {
    let raw = input.get("plan").cloned().unwrap_or(input);
    let plan = Plan::parse(&raw)?;
    let mut checks = vec!["the plan is valid (schema and cross-field rules)".to_string()];
    let accounts = Accounts::new(&ctx.base, &plan);
    let net = accounts.get(&plan.service.account_id).await?;
    let src = accounts.get(&plan.source.account_id).await?;
    let tgt = accounts.get(&plan.target.account_id).await?;
    checks.push(format!(
        "role {} can be assumed in every account",
        plan.role_name
    ));

    let service = resolve_service(&plan, &net).await?;
    let (lb_vpc, lb_subnets, lb_sgs) = load_balancer(&net, &service.lb_arn).await?;
    checks.push(format!(
        "the forward action exists and forwards only to {}; its ALB has security groups {}",
        plan.service.target_group_arn,
        lb_sgs.join(", ")
    ));
    checks.push(check_rule_quota(&net, &service.lb_arn, &plan.migration_id).await?);
    let instances = resolve_instances(&plan, &src, &service).await?;
    checks.push(format!(
        "{} source instance(s) running, EBS-backed, and together every target of the group",
        instances.len()
    ));

    let (net_cidrs, net_default) = vpc_cidrs(&net, &lb_vpc, "the ALB's VPC").await?;
    let net_tables = route_tables_of_subnets(&net, &lb_vpc, &lb_subnets).await?;
    let (tgt_cidrs, _) = vpc_cidrs(&tgt, &plan.target.vpc_id, "target.vpcId").await?;
    let subnets = resolve_subnets(&plan, &tgt).await?;
    let tgt_tables =
        route_tables_of_subnets(&tgt, &plan.target.vpc_id, &plan.target.subnet_ids).await?;
    checks.push(format!(
        "both VPCs exist; target subnets are in {}; every subnet involved has a route table",
        plan.target.vpc_id
    ));

    for a in &net_cidrs {
        for b in &tgt_cidrs {
            if cidrs_overlap(a, b) {
                return Err(StepError::invalid_plan(format!(
                    "the ALB's VPC {lb_vpc} ({a}) overlaps the target VPC {} ({b}): VPC peering needs non-overlapping CIDRs; pick a target VPC with another range",
                    plan.target.vpc_id
                )));
            }
        }
    }
    // A route to the other side that goes anywhere but a peering would be silently
    // shadowed or collide; AddRoutes checks the exact peering again.
    for (tables, cidrs, side) in [
        (&net_tables, &tgt_cidrs, "network"),
        (&tgt_tables, &net_cidrs, "target"),
    ] {
        for table in tables {
            for cidr in cidrs {
                if let Some(target) = route_target(table, cidr)
                    && !target.starts_with("pcx-")
                {
                    return Err(StepError::conflict(format!(
                        "route table {} in the {side} account already sends {cidr} to {target}; remove that route or choose another VPC",
                        table.route_table_id().unwrap_or_default()
                    )));
                }
            }
        }
    }

    checks.push(
        check_existing_peering(&net, &lb_vpc, &plan.target.vpc_id, &plan.migration_id).await?,
    );
    checks.push(format!(
        "CIDRs do not overlap ({} / {}) and no route sends them elsewhere",
        net_cidrs.join(", "),
        tgt_cidrs.join(", ")
    ));
    let share = plan.options.share_security_group_with_ram;
    if share {
        check_shareable(&net, &lb_sgs, net_default).await?;
        checks.push("the ALB's security groups can be shared with RAM".into());
    }
    checks.push(check_instance_store(&plan, &src, &instances).await?);
    let encryption = encryption::check_encryption(&plan, &src, &tgt, &instances).await?;
    checks.push(encryption.check);

    Ok(Facts {
        checks,
        network: NetworkSide {
            vpc_id: lb_vpc,
            cidrs: net_cidrs,
            route_table_ids: net_tables
                .iter()
                .filter_map(|t| t.route_table_id().map(str::to_string))
                .collect(),
            load_balancer_arn: service.lb_arn.clone(),
            security_group_ids: lb_sgs,
        },
        target: TargetSide {
            vpc_id: plan.target.vpc_id.clone(),
            cidrs: tgt_cidrs,
            route_table_ids: tgt_tables
                .iter()
                .filter_map(|t| t.route_table_id().map(str::to_string))
                .collect(),
            subnets,
        },
        service: service.facts,
        instances,
        options: ResolvedOptions {
            share_security_group_with_ram: share,
            no_reboot: plan.consistency != Consistency::Reboot,
            gradual: plan.options.traffic_shift.len() > 1,
            shift_steps: plan
                .options
                .traffic_shift
                .iter()
                .copied()
                .filter(|&p| p < 100)
                .collect(),
            shift_interval_seconds: plan.options.shift_interval_seconds,
            hold_checks: crate::traffic::hold_checks(plan.options.shift_interval_seconds),
            stop_source: plan.consistency == Consistency::StopSource,
            maintenance_body: plan
                .options
                .maintenance_body
                .clone()
                .unwrap_or_else(|| crate::plan::DEFAULT_MAINTENANCE_BODY.to_string()),
            kms_key_id: encryption.reencrypt_with,
        },
    })
}
