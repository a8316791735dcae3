//! Preflight: read-only. Resolves the plan against what exists and checks everything a
//! later step depends on, so that no mutation starts on a plan that cannot finish. One file
//! per concern; only Describe/Get/List calls (a static test keeps it so).

mod check;
mod dependencies;
mod encryption;
mod history;
mod hosted_zones;
mod instances;
mod key_policy;
mod managed;
mod network;
mod placement;
mod reach;
mod references;
mod service;
mod settings;
mod target_account;

use crate::accounts::Accounts;
use crate::aws::ec2::{route_tables_of_subnets, vpc_cidrs};
use crate::aws::peerings::peerings_between;
use crate::error::StepError;
use crate::plan::{Consistency, Plan};
use crate::state::{Facts, NetworkSide, ResolvedOptions, TargetSide};

use crate::context::Context;
use check::Checks;
use history::{history_fits, read_history};
use instances::{every_target_moves, instance_store, resolve_instances, store_sizes};
use managed::stoppable;
use network::{
    VpcView, cidrs_disjoint, existing_peering, read_groups, resolve_subnets, routes_free, shareable,
};
use placement::{bootable, placement, planned_type, planned_types, read_types};
use reach::{alb_egress, registrable_addresses};
use service::{count_rules, load_balancer, resolve_service, rule_quota};
use target_account::{marketplace, read_vcpu_room, read_verified, vcpu_quotas};

/// The Preflight step's answer: the plan as the execution was given it and what Preflight
/// resolved, `{plan, facts}`: the state every later step starts from (the migration's
/// first state, so no Pass is needed to wrap the input: a state transition fewer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub plan: serde_json::Value,
    pub facts: Facts,
}

/// The Preflight step: [`preflight`] on `input` (the plan, or `{plan}`), answering
/// [`Resolved`]. Errors: as [`preflight`].
pub async fn preflight_step(
    ctx: &Context,
    input: serde_json::Value,
) -> Result<Resolved, StepError> {
    let plan = input.get("plan").cloned().unwrap_or_else(|| input.clone());
    let facts = preflight(ctx, input).await?;
    Ok(Resolved { plan, facts })
}

/// Reads what the plan names in its three accounts and runs every check on it, in the
/// order `carveout plan` shows them. Errors: the first failed check's InvalidPlan or
/// Conflict, or AccessDenied/ResourceFailed from a read.
pub async fn preflight(ctx: &Context, input: serde_json::Value) -> Result<Facts, StepError> {
    let raw = input.get("plan").cloned().unwrap_or(input);
    let plan = Plan::parse(&raw)?;
    let mut checks = Checks::default();
    checks.pass(Ok(
        "the plan is valid (schema and cross-field rules)".to_string()
    ))?;
    let accounts = Accounts::new(&ctx.base, &plan);
    let net = accounts.network().await?;
    let src = accounts.source().await?;
    let tgt = accounts.target().await?;
    checks.pass(Ok(format!(
        "role {} can be assumed in every account",
        plan.role_name
    )))?;

    let service = resolve_service(&plan, &net).await?;
    let (lb_vpc, lb_subnets, lb_sgs) = load_balancer(&net, &service.lb_arn).await?;
    checks.pass(Ok(format!(
        "the forward action exists and forwards only to {}; its ALB has security groups {}",
        plan.service.target_group_arn,
        lb_sgs.join(", ")
    )))?;
    let rules = count_rules(&net, &service.lb_arn, &plan.migration_id).await?;
    checks.pass(rule_quota(&service.lb_arn, &rules))?;
    let (instances, source_types) = resolve_instances(&plan, &src, &service).await?;
    checks.pass(every_target_moves(
        &plan,
        &service.targets,
        service.target_type,
        &instances,
    ))?;

    let (net_cidrs, net_default) = vpc_cidrs(&net, &lb_vpc, "the ALB's VPC").await?;
    let net_tables = route_tables_of_subnets(&net, &lb_vpc, &lb_subnets).await?;
    let (tgt_cidrs, _) = vpc_cidrs(&tgt, &plan.target.vpc_id, "target.vpcId").await?;
    let subnets = resolve_subnets(&plan, &tgt).await?;
    let types = read_types(&tgt, &planned_types(&plan, &instances)).await?;
    let (subnets, placed) = placement(&subnets, &types)?;
    let tgt_tables =
        route_tables_of_subnets(&tgt, &plan.target.vpc_id, &plan.target.subnet_ids).await?;
    checks.pass(Ok(format!(
        "both VPCs exist; target subnets are in {}; every subnet involved has a route table",
        plan.target.vpc_id
    )))?;
    checks.pass(Ok(placed))?;
    checks.pass(bootable(&plan, &instances, &types))?;
    checks.pass(read_verified(&tgt, &plan).await)?;
    checks.pass(marketplace(&plan, &instances))?;
    let mut launches: std::collections::BTreeMap<String, (i32, i64)> = Default::default();
    for t in instances.iter().map(|i| planned_type(&plan, i)) {
        let vcpus = types.get(&t).map_or(0, |f| f.vcpus);
        launches.entry(t).or_insert((vcpus, 0)).1 += 1;
    }
    let rooms = read_vcpu_room(&tgt, &launches).await?;
    checks.pass(vcpu_quotas(&plan.target.account_id, &rooms))?;
    let net_view = VpcView {
        vpc_id: &lb_vpc,
        cidrs: &net_cidrs,
        tables: &net_tables,
    };
    let tgt_view = VpcView {
        vpc_id: &plan.target.vpc_id,
        cidrs: &tgt_cidrs,
        tables: &tgt_tables,
    };
    let disjoint = cidrs_disjoint(&net_view, &tgt_view)?;
    let peerings = peerings_between(&net, &lb_vpc, &plan.target.vpc_id).await?;
    let pair: Vec<&str> = peerings
        .iter()
        .filter_map(|p| p.vpc_peering_connection_id())
        .collect();
    let free = routes_free(&net_view, &tgt_view, &pair)?;
    checks.pass(existing_peering(
        &peerings,
        &lb_vpc,
        &plan.target.vpc_id,
        &plan.migration_id,
    ))?;
    checks.pass(Ok(format!("{disjoint}; {free}")))?;
    checks.pass(registrable_addresses(&subnets))?;
    let lb_groups = read_groups(&net, &lb_sgs).await?;
    let traffic_port = instances
        .first()
        .map(|i| i.port)
        .unwrap_or(service.facts.target_group.port);
    checks.pass(alb_egress(
        &lb_groups,
        &subnets,
        &service.facts.target_group.alb_ports(traffic_port),
    ))?;
    let share = plan.options.share_security_group_with_ram;
    if share {
        checks.pass(shareable(net_default, &lb_groups))?;
    }
    let store = store_sizes(&source_types);
    checks.pass(instance_store(&plan, &store, &instances))?;
    let store_types: Vec<&str> = store.keys().map(String::as_str).collect();
    checks.pass(stoppable(&plan, &instances, &store_types))?;
    let encryption = encryption::check_encryption(&plan, &src, &tgt, &instances).await?;
    checks.pass(Ok(encryption.check))?;
    let mut carry = settings::resolve_carry(&plan, &tgt, &instances, &subnets).await?;
    let source_groups: std::collections::BTreeSet<String> = instances
        .iter()
        .flat_map(|i| i.settings.security_group_ids.iter().cloned())
        .collect();
    let mut found = references::references(
        &references::read_referencing(&src, &source_groups).await?,
        &source_groups,
        &lb_sgs,
        &plan.source.account_id,
    );
    if plan.service.account_id != plan.source.account_id {
        found.extend(references::references(
            &references::read_referencing(&net, &source_groups).await?,
            &source_groups,
            &lb_sgs,
            &plan.service.account_id,
        ));
    }
    checks.pass(references::acknowledged(&plan, &found))?;
    let callee_subnets = dependencies::read_callee_subnets(&net, &lb_vpc, &found, &plan).await?;
    let routed: Vec<String> = net_tables
        .iter()
        .filter_map(|t| t.route_table_id().map(str::to_string))
        .collect();
    let (verdict, more_tables) = dependencies::callees_routed(&plan, &callee_subnets, &routed)?;
    checks.pass(Ok(verdict))?;
    let (alb_zones, target_zones) = hosted_zones::read_zones(&net, &tgt, &plan, &lb_vpc).await?;
    let (verdict, zones) = hosted_zones::zones_decided(&plan, &lb_vpc, &alb_zones, &target_zones)?;
    checks.pass(Ok(verdict))?;
    carry.hosted_zones = zones;

    // The largest instance's image sets the deadline for all (the plan may override it).
    let image_deadline_minutes = plan.options.image_timeout_minutes.unwrap_or_else(|| {
        instances
            .iter()
            .map(|i| {
                let sizes: Vec<i32> = i.settings.volumes.iter().map(|v| v.size_gib).collect();
                crate::looks::image_deadline_minutes(&sizes)
            })
            .max()
            .unwrap_or(240)
    });
    let mut facts = Facts {
        checks: Vec::new(),
        network: NetworkSide {
            vpc_id: lb_vpc,
            cidrs: net_cidrs,
            route_table_ids: {
                let mut ids = routed;
                for t in more_tables {
                    if !ids.contains(&t) {
                        ids.push(t);
                    }
                }
                ids
            },
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
            pre_image: plan.consistency == Consistency::StopSource
                && plan.options.pre_image.unwrap_or(true),
            maintenance_body: plan
                .options
                .maintenance_body
                .clone()
                .unwrap_or_else(|| crate::plan::DEFAULT_MAINTENANCE_BODY.to_string()),
            kms_key_id: encryption.reencrypt_with,
            image_concurrency: if plan.consistency == Consistency::Reboot {
                1
            } else {
                5
            },
            image_deadline_minutes,
            carry,
            volume_gate: crate::initialization::GateOptions::of(&plan.options),
        },
    };
    checks.pass(settings::same_service(&facts.instances, &facts.options))?;
    checks.pass(history_fits(&read_history(&raw, &facts)?))?;
    facts.checks = checks.into_vec();
    Ok(facts)
}

/// The listener rules of load balancer `lb_arn` (neither defaults nor a probe rule of
/// `migration_id`) and its rules quota, when reported: for the program's shared limits.
pub async fn rules_in_use(
    net: &crate::accounts::AccountClients,
    lb_arn: &str,
    migration_id: &str,
) -> Result<(usize, Option<usize>), StepError> {
    let count = count_rules(net, lb_arn, migration_id).await?;
    Ok((count.used, count.max))
}

/// The vCPU quota buckets `launches` (planned instance type -> count) use in the target
/// account: (quota name, Service Quotas code, quota, vCPUs of running On-Demand
/// instances, vCPUs the launches add). For the program, which sums the services one
/// target account receives.
pub async fn vcpu_use(
    tgt: &crate::accounts::AccountClients,
    launches: &std::collections::BTreeMap<String, i64>,
) -> Result<Vec<(&'static str, &'static str, f64, i64, i64)>, StepError> {
    let types = read_types(tgt, &launches.keys().cloned().collect()).await?;
    let planned = launches
        .iter()
        .map(|(t, n)| (t.clone(), (types.get(t).map_or(0, |f| f.vcpus), *n)))
        .collect();
    Ok(read_vcpu_room(tgt, &planned)
        .await?
        .into_iter()
        .map(|r| (r.name, r.code, r.quota, r.in_use, r.planned))
        .collect())
}
