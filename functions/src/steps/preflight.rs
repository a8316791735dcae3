//! Preflight: read-only. Resolves the plan against what exists and checks everything a
//! later step depends on, so that no mutation starts on a plan that cannot finish.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types::TargetGroup;

use crate::accounts::{AccountClients, Accounts};
use crate::aws::ec2::{
    PEERING_ACCEPTED, cidrs_overlap, has_tag, peering_status, peerings_between,
    route_tables_of_subnets, route_target, vpc_cidrs,
};
use crate::aws::elb::{actions_from_sdk, find_target_group, target_health};
use crate::aws::probe::is_probe_rule;
use crate::error::{SdkResultExt, StepError};
use crate::names;
use crate::plan::{Consistency, Plan};
use crate::state::{
    Facts, InstanceFacts, NetworkSide, ResolvedOptions, ServiceFacts, SubnetFacts, Tag,
    TargetGroupSettings, TargetSide, VolumeFacts,
};
use crate::traffic::{ActionModel, expand_forward};

use super::Context;

/// Highest listener-rule priority; the probe rule takes the highest free one, below
/// every real rule, so even a mistaken match could not shadow one.
const MAX_PRIORITY: i32 = 50_000;

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
    let encryption = super::encryption::check_encryption(&plan, &src, &tgt, &instances).await?;
    checks.push(encryption.check);

    Ok(Facts {
        checks,
        network: NetworkSide {
            account_id: plan.service.account_id.clone(),
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
            account_id: plan.target.account_id.clone(),
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

struct ResolvedService {
    lb_arn: String,
    facts: ServiceFacts,
    /// Registered targets of the original group: (id, port).
    targets: Vec<(String, i32)>,
    target_type: String,
}

async fn resolve_service(plan: &Plan, net: &AccountClients) -> Result<ResolvedService, StepError> {
    let s = &plan.service;
    let listener = match net
        .elb
        .describe_listeners()
        .listener_arns(&s.listener_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeListeners", &net.role_arn)
    {
        Ok(out) => out.listeners().first().cloned(),
        Err(f) if f.is("ListenerNotFound") => None,
        Err(f) => return Err(f.into()),
    }
    .ok_or_else(|| {
        StepError::invalid_plan(format!(
            "service.listenerArn {} does not exist",
            s.listener_arn
        ))
    })?;
    let lb_arn = listener.load_balancer_arn().unwrap_or_default().to_string();

    let rules = net
        .elb
        .describe_rules()
        .listener_arn(&s.listener_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeRules", &net.role_arn)?;
    let used: BTreeSet<i32> = rules
        .rules()
        .iter()
        .filter_map(|r| r.priority()?.parse().ok())
        .collect();
    let probe_priority = (1..=MAX_PRIORITY)
        .rev()
        .find(|p| !used.contains(p))
        .ok_or_else(|| {
            StepError::invalid_plan("the listener has no free rule priority for the probe rule")
        })?;

    let actions = match &s.rule_arn {
        Some(rule_arn) => rules
            .rules()
            .iter()
            .find(|r| r.rule_arn() == Some(rule_arn))
            .ok_or_else(|| {
                StepError::invalid_plan(format!(
                    "service.ruleArn {rule_arn} is not a rule of listener {}",
                    s.listener_arn
                ))
            })?
            .actions()
            .to_vec(),
        None => listener.default_actions().to_vec(),
    };
    let what = if s.rule_arn.is_some() {
        "the rule"
    } else {
        "the listener's default action"
    };
    let current = actions_from_sdk(&actions)
        .map_err(|e| StepError::invalid_plan(format!("{what} has {e}")))?;
    let original = match saved_original(plan, net, &current).await? {
        Some(saved) => vec![saved],
        None => current,
    };
    let forwards: Vec<_> = original.iter().filter(|a| a.kind == "forward").collect();
    if forwards.len() != 1 || forwards[0].forwarded_groups() != vec![s.target_group_arn.as_str()] {
        let now: Vec<&str> = forwards.iter().flat_map(|a| a.forwarded_groups()).collect();
        let maintenance = if original.iter().any(|a| a.kind == "fixed-response") {
            " (it answers with a fixed response: if that is carveout's maintenance answer from an interrupted stop-source execution, redrive that execution, which restores the saved action on failure)"
        } else {
            ""
        };
        return Err(StepError::invalid_plan(format!(
            "{what} must forward only to service.targetGroupArn {}; it forwards to {:?}{maintenance}",
            s.target_group_arn, now
        )));
    }

    let group = match net
        .elb
        .describe_target_groups()
        .target_group_arns(&s.target_group_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeTargetGroups", &net.role_arn)
    {
        Ok(out) => out.target_groups().first().cloned(),
        Err(f) if f.is("TargetGroupNotFound") => None,
        Err(f) => return Err(f.into()),
    }
    .ok_or_else(|| {
        StepError::invalid_plan(format!(
            "service.targetGroupArn {} does not exist",
            s.target_group_arn
        ))
    })?;
    let target_type = group
        .target_type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    if !matches!(target_type.as_str(), "instance" | "ip") {
        return Err(StepError::invalid_plan(format!(
            "target group {} has target type {target_type}; only instance and ip groups can be moved",
            s.target_group_arn
        )));
    }
    let settings = settings_of(&group)?;
    let targets = target_health(net, &s.target_group_arn)
        .await?
        .into_iter()
        .map(|(id, port, _, _)| (id, port))
        .collect();
    Ok(ResolvedService {
        lb_arn,
        facts: ServiceFacts {
            listener_arn: s.listener_arn.clone(),
            rule_arn: s.rule_arn.clone(),
            target_group_arn: s.target_group_arn.clone(),
            original_actions: original,
            target_group: settings,
            probe_priority,
        },
        targets,
        target_type,
    })
}

/// On a re-run after cutover the action forwards to this migration's own group; the
/// original action was saved (compactly) in a tag of that group at its creation.
async fn saved_original(
    plan: &Plan,
    net: &AccountClients,
    current: &[ActionModel],
) -> Result<Option<ActionModel>, StepError> {
    let [action] = current else { return Ok(None) };
    let groups = action.forwarded_groups();
    let name = names::target_group(&plan.migration_id);
    if action.kind != "forward"
        || groups.len() != 1
        || !groups[0].contains(&format!(":targetgroup/{name}/"))
    {
        return Ok(None);
    }
    let Some(ours) = find_target_group(net, &name, &plan.migration_id).await? else {
        return Ok(None);
    };
    if groups[0] != ours {
        return Ok(None);
    }
    let tags = net
        .elb
        .describe_tags()
        .resource_arns(&ours)
        .send()
        .await
        .named("elasticloadbalancing:DescribeTags", &net.role_arn)?;
    let saved = tags
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .find(|t| t.key() == Some(names::ORIGINAL_FORWARD_TAG))
        .and_then(|t| t.value().map(str::to_string));
    tracing::info!("the service already forwards to {ours}: this is a re-run after cutover");
    Ok(Some(match saved {
        Some(compact) => expand_forward(&compact, &plan.service.target_group_arn),
        None => ActionModel::forward_to(&plan.service.target_group_arn, action.order),
    }))
}

fn settings_of(group: &TargetGroup) -> Result<TargetGroupSettings, StepError> {
    let protocol = group
        .protocol()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS") {
        return Err(StepError::invalid_plan(format!(
            "target group protocol {protocol:?}: an ALB target group is HTTP or HTTPS"
        )));
    }
    Ok(TargetGroupSettings {
        protocol,
        port: group.port().unwrap_or(80),
        protocol_version: group.protocol_version().map(str::to_string),
        ip_address_type: group.ip_address_type().map(|t| t.as_str().to_string()),
        health_check_protocol: group
            .health_check_protocol()
            .map(|p| p.as_str().to_string()),
        health_check_port: group.health_check_port().map(str::to_string),
        health_check_path: group.health_check_path().map(str::to_string),
        health_check_interval_seconds: group.health_check_interval_seconds(),
        health_check_timeout_seconds: group.health_check_timeout_seconds(),
        healthy_threshold_count: group.healthy_threshold_count(),
        unhealthy_threshold_count: group.unhealthy_threshold_count(),
        matcher_http_code: group
            .matcher()
            .and_then(|m| m.http_code())
            .map(str::to_string),
        matcher_grpc_code: group
            .matcher()
            .and_then(|m| m.grpc_code())
            .map(str::to_string),
    })
}

/// An image holds the EBS volumes only: data on instance store volumes (always attached
/// to types like m5d) would not reach the new instances. Refused unless the plan says it
/// is scratch data.
async fn check_instance_store(
    plan: &Plan,
    src: &AccountClients,
    instances: &[InstanceFacts],
) -> Result<String, StepError> {
    let types: BTreeSet<&str> = instances.iter().map(|i| i.instance_type.as_str()).collect();
    let out = src
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.iter().map(|t| (*t).into()).collect()))
        .send()
        .await
        .named("ec2:DescribeInstanceTypes", &src.role_arn)?;
    // Instance type -> instance store size (GB), for the types that have one.
    let store: std::collections::BTreeMap<String, i64> = out
        .instance_types()
        .iter()
        .filter(|t| t.instance_storage_supported() == Some(true))
        .filter_map(|t| {
            let size = t.instance_storage_info().and_then(|i| i.total_size_in_gb());
            Some((
                t.instance_type()?.as_str().to_string(),
                size.unwrap_or_default(),
            ))
        })
        .collect();
    if store.is_empty() {
        return Ok("no source instance type has instance store volumes".into());
    }
    let with_store: Vec<String> = store
        .iter()
        .map(|(t, gb)| format!("{t}: {gb} GB"))
        .collect();
    let affected: Vec<&str> = instances
        .iter()
        .filter(|i| store.contains_key(&i.instance_type))
        .map(|i| i.instance_id.as_str())
        .collect();
    if plan.options.allow_instance_store_data_loss {
        return Ok(format!(
            "instance store volumes of {} ({}) are left behind, as options.allowInstanceStoreDataLoss says",
            affected.join(", "),
            with_store.join(", ")
        ));
    }
    Err(StepError::invalid_plan(format!(
        "source instance(s) {} have instance store volumes ({}): an image does not contain them, so their data would not reach the new instances; move what must survive to EBS, or set options.allowInstanceStoreDataLoss to true if it is only scratch space",
        affected.join(", "),
        with_store.join(", ")
    )))
}

/// AWS allows one peering per pair of VPCs: an accepted one (either direction) is reused and
/// never deleted by carveout; one still being set up by someone else blocks the migration.
async fn check_existing_peering(
    net: &AccountClients,
    network_vpc: &str,
    target_vpc: &str,
    migration_id: &str,
) -> Result<String, StepError> {
    let found = peerings_between(net, network_vpc, target_vpc).await?;
    let id = |p: &aws_sdk_ec2::types::VpcPeeringConnection| {
        p.vpc_peering_connection_id()
            .unwrap_or_default()
            .to_string()
    };
    if let Some(p) = found
        .iter()
        .find(|p| has_tag(p.tags(), names::MIGRATION_TAG, migration_id))
    {
        return Ok(format!(
            "peering {} of this migration exists (a re-run)",
            id(p)
        ));
    }
    if let Some(p) = found
        .iter()
        .find(|p| PEERING_ACCEPTED.contains(&peering_status(p).as_str()))
    {
        return Ok(format!(
            "the VPCs are already peered by {}: it will be reused and left in place",
            id(p)
        ));
    }
    if let Some(p) = found.first() {
        return Err(StepError::conflict(format!(
            "VPC peering {} between {network_vpc} and {target_vpc} is {}, and this migration did not make it: AWS allows one peering per pair of VPCs; accept it (carveout then reuses it) or delete it, and run again",
            id(p),
            peering_status(p)
        )));
    }
    Ok("the VPCs are not peered yet: a peering will be requested".into())
}

/// The probe rule is one more rule on the load balancer: refuse a plan whose ALB is at
/// its rules quota (100 by default), counting every listener's rules but the defaults and
/// this migration's own probe rule from an earlier run.
async fn check_rule_quota(
    net: &AccountClients,
    lb_arn: &str,
    migration_id: &str,
) -> Result<String, StepError> {
    const QUOTA: &str = "rules-per-application-load-balancer";
    let limits = net
        .elb
        .describe_account_limits()
        .send()
        .await
        .named("elasticloadbalancing:DescribeAccountLimits", &net.role_arn)?;
    let max = limits
        .limits()
        .iter()
        .find(|l| l.name() == Some(QUOTA))
        .and_then(|l| l.max()?.parse::<usize>().ok());
    let listeners = net
        .elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeListeners", &net.role_arn)?;
    let mut used = 0;
    for arn in listeners
        .listeners()
        .iter()
        .filter_map(|l| l.listener_arn())
    {
        let mut marker = None;
        loop {
            let page = net
                .elb
                .describe_rules()
                .listener_arn(arn)
                .set_marker(marker)
                .send()
                .await
                .named("elasticloadbalancing:DescribeRules", &net.role_arn)?;
            used += page
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true) && !is_probe_rule(r, migration_id))
                .count();
            marker = page.next_marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
    }
    match max {
        Some(max) if used >= max => Err(StepError::invalid_plan(format!(
            "load balancer {lb_arn} has {used} listener rules and its quota ({QUOTA}) is {max}: the probe rule that checks the new targets' health before cutover needs one more; delete an unused rule or raise the quota in Service Quotas"
        ))),
        Some(max) => Ok(format!(
            "the load balancer has {used} of {max} rules: room for the probe rule"
        )),
        None => Ok(format!(
            "the load balancer has {used} rules (quota {QUOTA} not reported)"
        )),
    }
}

async fn load_balancer(
    net: &AccountClients,
    lb_arn: &str,
) -> Result<(String, Vec<String>, Vec<String>), StepError> {
    let out = net
        .elb
        .describe_load_balancers()
        .load_balancer_arns(lb_arn)
        .send()
        .await
        .named("elasticloadbalancing:DescribeLoadBalancers", &net.role_arn)?;
    let lb = out.load_balancers().first().ok_or_else(|| {
        StepError::invalid_plan(format!(
            "the listener's load balancer {lb_arn} does not exist"
        ))
    })?;
    if lb.r#type().map(|t| t.as_str()) != Some("application") {
        return Err(StepError::invalid_plan(format!(
            "{lb_arn} is not an Application Load Balancer"
        )));
    }
    let vpc = lb.vpc_id().unwrap_or_default().to_string();
    let subnets = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    let sgs: Vec<String> = lb.security_groups().to_vec();
    if sgs.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "load balancer {lb_arn} has no security group to reference from the new instances' group"
        )));
    }
    Ok((vpc, subnets, sgs))
}

async fn resolve_instances(
    plan: &Plan,
    src: &AccountClients,
    service: &ResolvedService,
) -> Result<Vec<InstanceFacts>, StepError> {
    let out = match src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(plan.source.instance_ids.clone()))
        .send()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)
    {
        Ok(out) => out,
        Err(f) if f.is_any(&["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"]) => {
            return Err(StepError::invalid_plan(format!(
                "source.instanceIds: {} (account {})",
                f.message, plan.source.account_id
            )));
        }
        Err(f) => return Err(f.into()),
    };
    let found: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    let mut facts = Vec::new();
    for id in &plan.source.instance_ids {
        let inst = found
            .iter()
            .find(|i| i.instance_id() == Some(id.as_str()))
            .ok_or_else(|| {
                StepError::invalid_plan(format!(
                    "source instance {id} does not exist in account {}",
                    plan.source.account_id
                ))
            })?;
        let state = inst
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        if state != "running" {
            let resume = if plan.consistency == Consistency::StopSource && state == "stopped" {
                "; if an interrupted carveout execution of this migration stopped it, redrive that execution (aws stepfunctions redrive-execution) rather than starting a new one: it resumes with the action it saved and restores it on failure"
            } else {
                ""
            };
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is {state}; carveout moves running instances{resume}"
            )));
        }
        if inst.root_device_type().map(|t| t.as_str()) != Some("ebs") {
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is not EBS-backed: an image would not carry its data"
            )));
        }
        let private_ip = inst.private_ip_address().unwrap_or_default().to_string();
        let registered = service.targets.iter().find(|(t, _)| {
            if service.target_type == "instance" {
                t == id
            } else {
                *t == private_ip
            }
        });
        let Some((_, port)) = registered else {
            return Err(StepError::invalid_plan(format!(
                "source instance {id} is not registered in service.targetGroupArn {}",
                plan.service.target_group_arn
            )));
        };
        let volume_ids: Vec<String> = inst
            .block_device_mappings()
            .iter()
            .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_string))
            .collect();
        let volumes = describe_volumes(src, inst, &volume_ids).await?;
        facts.push(InstanceFacts {
            instance_id: id.clone(),
            instance_type: inst
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            availability_zone: inst
                .placement()
                .and_then(|p| p.availability_zone())
                .unwrap_or_default()
                .to_string(),
            private_ip,
            image_id: inst.image_id().map(str::to_string),
            root_device_name: inst.root_device_name().map(str::to_string),
            state,
            port: *port,
            tags: inst
                .tags()
                .iter()
                .filter_map(|t| {
                    Some(Tag {
                        key: t.key()?.to_string(),
                        value: t.value()?.to_string(),
                    })
                })
                .collect(),
            volumes,
        });
    }
    // Moving only some of a group's targets would cut the others out of the traffic.
    let moving: BTreeSet<String> = facts
        .iter()
        .map(|f| {
            if service.target_type == "instance" {
                f.instance_id.clone()
            } else {
                f.private_ip.clone()
            }
        })
        .collect();
    let left: Vec<&str> = service
        .targets
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !moving.contains(*t))
        .collect();
    if !left.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "target group {} also serves {}: after cutover they would receive no traffic; add them to source.instanceIds or give the moving service its own rule and target group",
            plan.service.target_group_arn,
            left.join(", ")
        )));
    }
    Ok(facts)
}

async fn describe_volumes(
    src: &AccountClients,
    inst: &aws_sdk_ec2::types::Instance,
    volume_ids: &[String],
) -> Result<Vec<VolumeFacts>, StepError> {
    if volume_ids.is_empty() {
        return Ok(Vec::new());
    }
    let out = src
        .ec2
        .describe_volumes()
        .set_volume_ids(Some(volume_ids.to_vec()))
        .send()
        .await
        .named("ec2:DescribeVolumes", &src.role_arn)?;
    Ok(inst
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            let vid = m.ebs()?.volume_id()?;
            let vol = out.volumes().iter().find(|v| v.volume_id() == Some(vid))?;
            Some(VolumeFacts {
                volume_id: vid.to_string(),
                device_name: m.device_name().unwrap_or_default().to_string(),
                encrypted: vol.encrypted().unwrap_or(false),
                kms_key_id: vol.kms_key_id().map(str::to_string),
            })
        })
        .collect())
}

async fn resolve_subnets(plan: &Plan, tgt: &AccountClients) -> Result<Vec<SubnetFacts>, StepError> {
    let out = match tgt
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(plan.target.subnet_ids.clone()))
        .send()
        .await
        .named("ec2:DescribeSubnets", &tgt.role_arn)
    {
        Ok(out) => out,
        Err(f) if f.is_any(&["InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"]) => {
            return Err(StepError::invalid_plan(format!(
                "target.subnetIds: {} (account {})",
                f.message, plan.target.account_id
            )));
        }
        Err(f) => return Err(f.into()),
    };
    plan.target
        .subnet_ids
        .iter()
        .map(|id| {
            let s = out
                .subnets()
                .iter()
                .find(|s| s.subnet_id() == Some(id.as_str()))
                .ok_or_else(|| {
                    StepError::invalid_plan(format!(
                        "target subnet {id} does not exist in account {}",
                        plan.target.account_id
                    ))
                })?;
            if s.vpc_id() != Some(plan.target.vpc_id.as_str()) {
                return Err(StepError::invalid_plan(format!(
                    "target subnet {id} is in {} , not in target.vpcId {}",
                    s.vpc_id().unwrap_or_default(),
                    plan.target.vpc_id
                )));
            }
            Ok(SubnetFacts {
                subnet_id: id.clone(),
                availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                cidr: s.cidr_block().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// RAM cannot share a default security group or one in a default VPC.
async fn check_shareable(
    net: &AccountClients,
    sgs: &[String],
    default_vpc: bool,
) -> Result<(), StepError> {
    const FIX: &str = "set options.shareSecurityGroupWithRam to false (the ingress rule references the group across the peering without RAM)";
    if default_vpc {
        return Err(StepError::invalid_plan(format!(
            "the ALB is in a default VPC, whose security groups RAM cannot share; {FIX}"
        )));
    }
    let out = net
        .ec2
        .describe_security_groups()
        .set_group_ids(Some(sgs.to_vec()))
        .send()
        .await
        .named("ec2:DescribeSecurityGroups", &net.role_arn)?;
    if let Some(g) = out
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some("default"))
    {
        return Err(StepError::invalid_plan(format!(
            "the ALB uses the default security group {} of its VPC, which RAM cannot share; {FIX}",
            g.group_id().unwrap_or_default()
        )));
    }
    Ok(())
}
