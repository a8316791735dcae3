//! CreateTargetGroup: the new IP target group in the ALB's VPC (found or created, with
//! the original group's protocol, health check and attributes), and the new instances'
//! private IPs registered in it. One state: the registration needs nothing but the group
//! and the launched instances, and both calls are idempotent.

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetDescription, TargetGroupAttribute, TargetGroupIpAddressTypeEnum,
    TargetTypeEnum,
};

use crate::accounts::AccountClients;
use crate::aws::elb::{find_target_group, migration_tags};
use crate::context::Context;
use crate::error::{SdkResultExt, StepError};
use crate::idiom::find_or_create;
use crate::names;
use crate::state::{LaunchedInstance, State, TargetGroupOut, now_epoch_ms};
use crate::traffic::compact_forward;

/// The migration's IP target group, found by name and tag or created, its attributes set,
/// and the new instances registered: `{targetGroupArn, name, registeredAtMs}`.
pub async fn create_target_group(ctx: &Context, state: State) -> Result<TargetGroupOut, StepError> {
    let facts = state.facts()?;
    let net = ctx.accounts(&state.plan).network().await?;
    let id = &state.plan.migration_id;
    let name = names::target_group(id);
    let s = &facts.service.target_group;
    let to_out = |arn: &str| TargetGroupOut {
        target_group_arn: arn.to_string(),
        name: name.clone(),
        registered_at_ms: None,
    };
    let mut tags = migration_tags(id);
    if let Some(original) = compact_forward(&facts.service.original_actions) {
        tags.push(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(names::ORIGINAL_FORWARD_TAG)
                .value(original)
                .build(),
        );
    }
    let ensured = find_or_create(
        "IP target group",
        || async {
            Ok(find_target_group(&net, &name, id)
                .await?
                .as_deref()
                .map(to_out))
        },
        || async {
            let out = net
                .elb
                .create_target_group()
                .name(&name)
                .target_type(TargetTypeEnum::Ip)
                .protocol(ProtocolEnum::from(s.protocol.as_str()))
                .port(s.port)
                .vpc_id(&facts.network.vpc_id)
                .set_protocol_version(s.protocol_version.clone())
                .set_ip_address_type(
                    s.ip_address_type
                        .as_deref()
                        .map(TargetGroupIpAddressTypeEnum::from),
                )
                .set_health_check_protocol(
                    s.health_check_protocol.as_deref().map(ProtocolEnum::from),
                )
                .set_health_check_port(s.health_check_port.clone())
                .set_health_check_path(s.health_check_path.clone())
                .set_health_check_interval_seconds(s.health_check_interval_seconds)
                .set_health_check_timeout_seconds(s.health_check_timeout_seconds)
                .set_healthy_threshold_count(s.healthy_threshold_count)
                .set_unhealthy_threshold_count(s.unhealthy_threshold_count)
                .set_matcher(
                    if s.matcher_http_code.is_some() || s.matcher_grpc_code.is_some() {
                        Some(
                            Matcher::builder()
                                .set_http_code(s.matcher_http_code.clone())
                                .set_grpc_code(s.matcher_grpc_code.clone())
                                .build(),
                        )
                    } else {
                        None
                    },
                )
                .set_tags(Some(tags))
                .send()
                .await
                .named("elasticloadbalancing:CreateTargetGroup", &net.role_arn);
            match out {
                Ok(out) => Ok(out
                    .target_groups()
                    .first()
                    .and_then(|g| g.target_group_arn())
                    .map(to_out)),
                Err(f) if f.is("DuplicateTargetGroupName") => Ok(None),
                Err(f) => Err(f.into()),
            }
        },
    )
    .await?;
    // Every attribute of the original group (stickiness, deregistration delay, slow
    // start, algorithm…), set again on a re-run: ModifyTargetGroupAttributes is idempotent.
    let attributes = crate::carried::attributes_to_carry(&s.attributes);
    if !attributes.is_empty() {
        net.elb
            .modify_target_group_attributes()
            .target_group_arn(&ensured.value.target_group_arn)
            .set_attributes(Some(
                attributes
                    .into_iter()
                    .map(|(k, v)| TargetGroupAttribute::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .named(
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                &net.role_arn,
            )?;
    }
    let registered_at_ms = Some(register(&net, &ensured.value, state.instances()?).await?);
    Ok(TargetGroupOut {
        registered_at_ms,
        ..ensured.value
    })
}

/// Registers every new private IP. The addresses are in a peered VPC, outside the ALB's
/// VPC: AWS requires `AvailabilityZone=all` for them
/// (<https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html>).
/// Registering twice is a no-op. Answers when (epoch ms): the health wait's watch starts there.
async fn register(
    net: &AccountClients,
    group: &TargetGroupOut,
    instances: &[LaunchedInstance],
) -> Result<u64, StepError> {
    let mut targets = Vec::new();
    for i in instances {
        if i.private_ip.is_empty() {
            return Err(StepError::ResourceFailed(format!(
                "instance {} has no private IP",
                i.instance_id
            )));
        }
        targets.push(
            TargetDescription::builder()
                .id(&i.private_ip)
                .port(i.port)
                .availability_zone("all")
                .build(),
        );
    }
    // A group without targets would pass the health gate trivially: refuse it.
    if targets.is_empty() {
        return Err(StepError::ResourceFailed(format!(
            "no new instance to register in {} (the launch Map answered none)",
            group.target_group_arn
        )));
    }
    net.elb
        .register_targets()
        .target_group_arn(&group.target_group_arn)
        .set_targets(Some(targets))
        .send()
        .await
        .named("elasticloadbalancing:RegisterTargets", &net.role_arn)?;
    Ok(now_epoch_ms())
}
