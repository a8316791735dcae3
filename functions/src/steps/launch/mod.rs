//! The launch Map (one iteration per image): the new instance in the target account, and
//! its security group that lets the ALB in across the peering.

mod group;
mod request;

use aws_sdk_ec2::types::ResourceType;

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, has_tag, migration_filter, tag_spec};
use crate::error::{FreshIdResultExt, SdkResultExt, StepError};
use crate::idiom::{Poll, find_or_create, poll_once, watching};
use crate::names::{self, MIGRATION_TAG, SOURCE_INSTANCE_TAG};
use crate::state::{LaunchedInstance, State};

use group::ensure_security_group;

use crate::context::Context;

/// Generations tried when RunInstances keeps answering ended launches (see
/// [`stale_launch`]).
const MAX_STALE_TOKENS: usize = 10;

/// Whether RunInstances answered an earlier launch instead of a new one: EC2 returns the
/// original instance for a ClientToken it has seen
/// (<https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html>). It is
/// stale when that instance has ended (terminated, shutting down) or was launched more
/// than an hour before `now`: a live instance of ours that old would have been found by
/// DescribeInstances before RunInstances was called.
pub(crate) fn stale_launch(
    i: &aws_sdk_ec2::types::Instance,
    now: aws_smithy_types::DateTime,
) -> bool {
    let ended = matches!(
        i.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("terminated" | "shutting-down")
    );
    let old = i
        .launch_time()
        .is_some_and(|t| now.secs() - t.secs() > 3600);
    ended || old
}

/// The new instance of one source, found (on every page, by its tags) or launched.
pub async fn launch_instance(ctx: &Context, state: State) -> Result<LaunchedInstance, StepError> {
    let facts = state.facts()?;
    let image = state.image()?;
    let index = state.index.unwrap_or(0);
    let source = state.source_instance()?;
    if source.instance_id != image.source_instance_id {
        // The Map pairs images and instances by position: a mismatch is an ASL wiring error.
        return Err(StepError::ResourceFailed(format!(
            "image {} is of {}, not of source instance {}",
            image.image_id, image.source_instance_id, source.instance_id
        )));
    }
    let subnet = &facts.target.subnets[index % facts.target.subnets.len()];
    let tgt = ctx.accounts(&state.plan).target().await?;
    let security_group = ensure_security_group(&tgt, &state, facts, source.port).await?;
    // What the new instance gets of each setting: the decision Preflight checked.
    let decision = source.decision(&facts.options);
    let id = &state.plan.migration_id;
    let launched = |i: &aws_sdk_ec2::types::Instance| {
        Some(LaunchedInstance {
            source_instance_id: source.instance_id.clone(),
            instance_id: i.instance_id()?.to_string(),
            image_id: image.image_id.clone(),
            subnet_id: i.subnet_id().unwrap_or(&subnet.subnet_id).to_string(),
            private_ip: i.private_ip_address().unwrap_or_default().to_string(),
            security_group_id: security_group.clone(),
            port: source.port,
            launched_at_ms: i
                .launch_time()
                .map(|t| t.to_millis().unwrap_or(0).max(0) as u64),
        })
    };
    // Earlier launches for this source that ended terminated (a failed launch, cleanup):
    // each one makes the next launch another one, with a token of its own.
    let generation = std::cell::Cell::new(0);
    let ensured = find_or_create(
        &format!("instance from {}", image.image_id),
        || async {
            let reservations = tgt
                .ec2
                .describe_instances()
                .filters(migration_filter(id))
                .filters(filter(
                    &format!("tag:{SOURCE_INSTANCE_TAG}"),
                    &[&source.instance_id],
                ))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .named("ec2:DescribeInstances", &tgt.role_arn)?;
            let ours: Vec<&aws_sdk_ec2::types::Instance> = reservations
                .iter()
                .flat_map(|r| r.instances())
                .filter(|i| {
                    has_tag(i.tags(), MIGRATION_TAG, id)
                        && has_tag(i.tags(), SOURCE_INSTANCE_TAG, &source.instance_id)
                })
                .collect();
            let ended = |i: &aws_sdk_ec2::types::Instance| {
                matches!(
                    i.state().and_then(|s| s.name()).map(|n| n.as_str()),
                    Some("terminated" | "shutting-down")
                )
            };
            generation.set(ours.iter().filter(|i| ended(i)).count());
            Ok(ours.into_iter().find(|i| !ended(i)).and_then(launched))
        },
        || async {
            // The source's own tags come along (the service keeps its name, cost tags…);
            // AWS-reserved and carveout's own keys are set fresh.
            let mut extra: Vec<(&str, &str)> = source
                .tags
                .iter()
                .filter(|t| !t.key.starts_with("aws:") && !t.key.starts_with("carveout:"))
                .map(|t| (t.key.as_str(), t.value.as_str()))
                .collect();
            extra.push((SOURCE_INSTANCE_TAG, &source.instance_id));
            let user_data = if decision.launch.pass_user_data {
                let src = ctx.accounts(&state.plan).source().await?;
                request::source_user_data(&src, &source.instance_id).await?
            } else {
                None
            };
            let instance_type = decision.launch.instance_type.as_str();
            let settings_digest = format!(
                "{:?}|{}",
                decision.launch,
                user_data.as_deref().unwrap_or("")
            );
            // A token EC2 still remembers (24 h) can belong to a launch whose instance ended
            // over an hour ago and no longer shows in DescribeInstances, so the count above
            // missed it: EC2 then answers that old instance. Such an answer moves on to the
            // next generation instead of being taken for the new instance.
            let mut generation = generation.get();
            for _ in 0..MAX_STALE_TOKENS {
                let run = request::with_settings(tgt.ec2.run_instances(), &decision.launch, user_data.clone());
                let out = run
                    .image_id(&image.image_id)
                    .min_count(1)
                    .max_count(1)
                    .subnet_id(&subnet.subnet_id)
                    .security_group_ids(&security_group)
                    .tag_specifications(tag_spec(ResourceType::Instance, id, &extra))
                    .tag_specifications(tag_spec(
                        ResourceType::Volume,
                        id,
                        &[(SOURCE_INSTANCE_TAG, &source.instance_id)],
                    ))
                    .client_token(names::launch_token(
                        id,
                        &source.instance_id,
                        generation,
                        &[
                            &image.image_id,
                            instance_type,
                            &subnet.subnet_id,
                            &security_group,
                            // Every other parameter too: a re-run whose plan changed a
                            // setting (requireImdsv2, passUserData…) is another launch,
                            // not an IdempotentParameterMismatch for 24 hours.
                            &settings_digest,
                        ],
                    ))
                    .send()
                    .await
                    .named("ec2:RunInstances", &tgt.role_arn)
                    .fresh_id(&format!(
                        "the shared image {} or the new security group {security_group}",
                        image.image_id
                    ))?;
                match out.instances().first() {
                    Some(i) if stale_launch(i, aws_smithy_types::DateTime::from(std::time::SystemTime::now())) => {
                        tracing::info!(
                            instance = i.instance_id().unwrap_or_default(),
                            generation,
                            "RunInstances answered an earlier, ended launch: next generation"
                        );
                        generation += 1;
                    }
                    first => return Ok(first.and_then(launched)),
                }
            }
            Err(StepError::ResourceFailed(format!(
                "RunInstances answered {MAX_STALE_TOKENS} earlier, ended launches for {}: launch tokens of this migration are spent; use a new migrationId",
                source.instance_id
            )))
        },
    )
    .await?;
    request::carry_after_launch(&tgt, &decision.launch, &ensured.value.instance_id).await?;
    Ok(ensured.value)
}

/// Running with both status checks ok; the private IP is read back here, once assigned.
/// Watched inside the invocation for the first minutes after the LaunchTime
/// (`idiom::watching`), then one look per Retry.
pub async fn wait_instance_ready(
    ctx: &Context,
    state: State,
) -> Result<LaunchedInstance, StepError> {
    let launched = state.launched()?;
    let tgt = ctx.accounts(&state.plan).target().await?;
    watching(launched.launched_at_ms, || instance_look(&tgt, launched)).await
}

/// One look at the new instance (every page of each answer).
async fn instance_look(
    tgt: &AccountClients,
    launched: &LaunchedInstance,
) -> Result<LaunchedInstance, StepError> {
    let iid = &launched.instance_id;
    let statuses = tgt
        .ec2
        .describe_instance_status()
        .instance_ids(iid)
        .include_all_instances(true)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstanceStatus", &tgt.role_arn)
        .fresh_id(&format!("the new instance {iid}"))?;
    let status = statuses.first();
    let state_name = status
        .and_then(|s| s.instance_state())
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string());
    let check = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
        s.and_then(|x| x.status())
            .map(|x| x.as_str().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let (inst_check, sys_check) = (
        check(status.and_then(|s| s.instance_status())),
        check(status.and_then(|s| s.system_status())),
    );
    let observed = match state_name.as_deref() {
        Some("running") if inst_check == "ok" && sys_check == "ok" => {
            let ip = describe(tgt, iid)
                .await?
                .iter()
                .find_map(|i| i.private_ip_address().map(str::to_string))
                .unwrap_or_else(|| launched.private_ip.clone());
            Poll::Ready(LaunchedInstance {
                private_ip: ip,
                ..launched.clone()
            })
        }
        Some("running") if inst_check == "impaired" || sys_check == "impaired" => Poll::Failed(
            format!("status checks impaired (instance {inst_check}, system {sys_check})"),
        ),
        Some("running") => {
            Poll::Pending(format!("running, status checks {inst_check}/{sys_check}"))
        }
        Some("pending") | None => Poll::Pending("pending".into()),
        // A launch that fails (a key the account may not use for EBS, a capacity or
        // licence problem) goes pending, then terminated with a state reason
        // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html):
        // that reason is what the operator needs.
        Some(other) => {
            let reason = describe(tgt, iid)
                .await?
                .iter()
                .find_map(|i| i.state_reason())
                .map(|r| {
                    format!(
                        "{}: {}",
                        r.code().unwrap_or("no code"),
                        r.message().unwrap_or("no message")
                    )
                })
                .unwrap_or_else(|| "no state reason given".into());
            Poll::Failed(format!("{other} ({reason})"))
        }
    };
    poll_once(&format!("instance {iid}"), observed)
}

/// The new instance `iid` as DescribeInstances shows it (every page).
async fn describe(
    tgt: &AccountClients,
    iid: &str,
) -> Result<Vec<aws_sdk_ec2::types::Instance>, StepError> {
    let reservations = tgt
        .ec2
        .describe_instances()
        .instance_ids(iid)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &tgt.role_arn)
        .fresh_id(&format!("the new instance {iid}"))?;
    Ok(reservations
        .into_iter()
        .flat_map(|r| r.instances.unwrap_or_default())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, two_pages};
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance, Reservation};

    #[tokio::test]
    async fn an_instance_answered_after_an_empty_first_page_is_read() {
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_instances,
            next_token => next_token,
            DescribeInstancesOutput::builder(),
            DescribeInstancesOutput::builder().reservations(
                Reservation::builder()
                    .instances(Instance::builder().instance_id("i-new").private_ip_address("10.1.0.7").build())
                    .build()
            ),
        );
        let c = clients(&[&first, &second], &[], &[]);
        let found = describe(&c, "i-new").await.unwrap();
        assert_eq!(
            found.first().and_then(|i| i.private_ip_address()),
            Some("10.1.0.7")
        );
    }

    #[test]
    fn an_answer_of_an_ended_or_hour_old_launch_is_a_stale_token() {
        use aws_sdk_ec2::types::{InstanceState, InstanceStateName};
        use aws_smithy_types::DateTime;
        let now = DateTime::from_secs(1_800_000_000);
        let at = |state: InstanceStateName, launched: i64| {
            Instance::builder()
                .instance_id("i-1")
                .state(InstanceState::builder().name(state).build())
                .launch_time(DateTime::from_secs(launched))
                .build()
        };
        let recent = now.secs() - 60;
        assert!(
            !stale_launch(&at(InstanceStateName::Pending, recent), now),
            "a retry of this launch"
        );
        assert!(stale_launch(
            &at(InstanceStateName::Terminated, recent),
            now
        ));
        assert!(stale_launch(
            &at(InstanceStateName::ShuttingDown, recent),
            now
        ));
        assert!(
            stale_launch(&at(InstanceStateName::Pending, now.secs() - 7200), now),
            "EC2 replayed an old answer"
        );
    }
}
