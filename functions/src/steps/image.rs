//! The image branch (one Map iteration per source instance): image, wait, [copy
//! re-encrypted, wait], share. The waits are looks (`image_wait.rs`).
//!
//! The source instance is only ever read and imaged; with `consistency: live` the image
//! is taken without a reboot (the seed's warning), with `reboot` it is rebooted once.
//! With options.kmsKeyId the image is copied with every snapshot re-encrypted under that
//! key, and the copy is what gets shared and launched.

use std::future::Future;

use aws_sdk_ec2::types::{
    CreateVolumePermission, CreateVolumePermissionModifications, LaunchPermission,
    LaunchPermissionModifications, ResourceType,
};

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, has_tag, migration_filter, tag_spec};
use crate::aws::elb::target_health;
use crate::error::{AwsFailure, FreshIdResultExt, SdkResultExt, StepError};
use crate::idiom::find_or_create;
use crate::names::{self, MIGRATION_TAG, SOURCE_INSTANCE_TAG};
use crate::state::{ImageOut, InstanceFacts, State};

use crate::context::Context;

pub async fn create_image(ctx: &Context, state: State) -> Result<ImageOut, StepError> {
    let facts = state.facts()?;
    let source = state.source_instance()?;
    let src = ctx.accounts(&state.plan).source().await?;
    let id = &state.plan.migration_id;
    // The pre-image (stop-source) is taken while the source serves: never with a reboot.
    // Present means a pre-image, as the child's Choice reads it (IsPresent).
    let pre = state.pre_image.is_some();
    let (name, what, no_reboot) = if pre {
        let name = names::pre_image(id, &source.instance_id);
        (name, "pre-image", true)
    } else {
        let name = names::per_execution(&names::image(id, &source.instance_id), run(&state)?);
        (name, "image", facts.options.no_reboot)
    };
    let tagged = |kind| tag_spec(kind, id, &[(SOURCE_INSTANCE_TAG, &source.instance_id)]);
    // Only before the reboot: once the image exists, its own retries wait for nothing.
    if !no_reboot && own_image_named(&src, id, &name).await?.is_none() {
        let net = ctx.accounts(&state.plan).network().await?;
        let health = target_health(&net, &state.plan.service.target_group_arn).await?;
        reboot_leaves_others_serving(source, &health)?;
    }
    let image_id = ensure_image(
        &src,
        id,
        &name,
        &format!("{what} of {}", source.instance_id),
        || async {
            src.ec2
                .create_image()
                .instance_id(&source.instance_id)
                .name(&name)
                .description(format!("carveout {id}: {what} of {}", source.instance_id))
                .no_reboot(no_reboot)
                // The image and every snapshot carry the tag from the start: nothing is
                // tagged afterwards, so a failure in between never leaves an untagged
                // full-disk copy that cleanup cannot find.
                .tag_specifications(tagged(ResourceType::Image))
                .tag_specifications(tagged(ResourceType::Snapshot))
                .send()
                .await
                .named("ec2:CreateImage", &src.role_arn)
                .map(|out| out.image_id().map(str::to_string))
        },
    )
    .await?;
    Ok(ImageOut {
        source_instance_id: source.instance_id.clone(),
        image_id,
        snapshot_ids: Vec::new(),
        copied_from: None,
        look: None,
    })
}

/// stop-source: the migration execution's StartTime, which names the image after the stop
/// and its copy per execution (`names::per_execution`); None otherwise.
fn run(state: &State) -> Result<Option<&str>, StepError> {
    Ok(if state.facts()?.options.stop_source {
        state.execution_started_at.as_deref()
    } else {
        None
    })
}

/// consistency reboot: CreateImage reboots the source, which then fails the ALB's health
/// checks for a while. The images are taken one at a time (the Map's concurrency is 1 for
/// reboot), and each waits until every *other* target of the service's group is healthy
/// again (NotReady), so the service never has two targets down at once, nor its last
/// healthy one rebooted while another is down. A lone target has no other: its reboot is
/// the outage `reboot` means. `health`: (id, port, state, reason) of the group's targets;
/// a target is the source by instance id or private IP.
fn reboot_leaves_others_serving(
    source: &InstanceFacts,
    health: &[(String, i32, String, String)],
) -> Result<(), StepError> {
    let others_down: Vec<String> = health
        .iter()
        .filter(|(id, ..)| *id != source.instance_id && *id != source.private_ip)
        .filter(|(_, _, state, _)| state != "healthy")
        .map(|(id, port, state, reason)| format!("{id}:{port} is {state} ({reason})"))
        .collect();
    if others_down.is_empty() {
        return Ok(());
    }
    Err(StepError::NotReady(format!(
        "{} waits for its reboot until the service's other targets are healthy: {}",
        source.instance_id,
        others_down.join(", ")
    )))
}

/// The one "find or create" of both image steps: this migration's image by its
/// deterministic name, else `make` it (`InvalidAMIName.Duplicate`: another run won the
/// race, look again).
async fn ensure_image<M, MF>(
    src: &AccountClients,
    migration_id: &str,
    name: &str,
    what: &str,
    make: M,
) -> Result<String, StepError>
where
    M: FnOnce() -> MF,
    MF: Future<Output = Result<Option<String>, AwsFailure>>,
{
    let ensured = find_or_create(
        what,
        || own_image_named(src, migration_id, name),
        || async {
            match make().await {
                Ok(image_id) => Ok(image_id),
                Err(f) if f.is("InvalidAMIName.Duplicate") => Ok(None),
                Err(f) => Err(f.into()),
            }
        },
    )
    .await?;
    Ok(ensured.value)
}

/// This migration's image called `name` in the source account, if it exists (every page).
async fn own_image_named(
    src: &AccountClients,
    migration_id: &str,
    name: &str,
) -> Result<Option<String>, StepError> {
    let images = src
        .ec2
        .describe_images()
        .owners("self")
        .filters(filter("name", &[name]))
        .filters(migration_filter(migration_id))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeImages", &src.role_arn)?;
    Ok(images
        .iter()
        .find(|i| i.name() == Some(name) && has_tag(i.tags(), MIGRATION_TAG, migration_id))
        .and_then(|i| i.image_id())
        .map(str::to_string))
}

/// Copies the (available) image with every snapshot re-encrypted under the key Preflight
/// resolved; the copy replaces it in the state. The original's snapshots are tagged
/// first, so they are listed and cleaned up like everything else carveout made.
pub async fn copy_image(ctx: &Context, state: State) -> Result<ImageOut, StepError> {
    let facts = state.facts()?;
    let image = state.image()?;
    let key = facts.options.kms_key_id.as_deref().ok_or_else(|| {
        StepError::invalid_plan("copy-image runs only when Preflight resolved options.kmsKeyId")
    })?;
    if image.copied_from.is_some() {
        return Ok(image.clone());
    }
    let src = ctx.accounts(&state.plan).source().await?;
    let id = &state.plan.migration_id;
    let run = run(&state)?;
    let name = names::per_execution(
        &names::reencrypted_image(id, &image.source_instance_id),
        run,
    );
    let digits = names::per_execution("", run);
    let tagged = |kind| {
        tag_spec(
            kind,
            id,
            &[(SOURCE_INSTANCE_TAG, &image.source_instance_id)],
        )
    };
    let what = format!("re-encrypted copy of {}", image.image_id);
    let copy_id = ensure_image(&src, id, &name, &what, || async {
        src.ec2
            .copy_image()
            .source_image_id(&image.image_id)
            .source_region(&state.plan.region)
            .name(&name)
            .description(format!(
                "carveout {id}: {} re-encrypted with {key}",
                image.image_id
            ))
            .encrypted(true)
            .kms_key_id(key)
            .client_token(names::copy_token(id, &image.source_instance_id, &digits))
            .tag_specifications(tagged(ResourceType::Image))
            .tag_specifications(tagged(ResourceType::Snapshot))
            .send()
            .await
            .named("ec2:CopyImage", &src.role_arn)
            .map(|out| out.image_id().map(str::to_string))
    })
    .await?;
    Ok(ImageOut {
        source_instance_id: image.source_instance_id.clone(),
        image_id: copy_id,
        snapshot_ids: Vec::new(),
        copied_from: Some(image.image_id.clone()),
        look: None,
    })
}

/// Launch permission for the target account and createVolumePermission on every
/// snapshot of the image (both are no-ops when already granted).
pub async fn share_image(ctx: &Context, state: State) -> Result<ImageOut, StepError> {
    let image = state.image()?;
    let target = &state.plan.target.account_id;
    let src = ctx.accounts(&state.plan).source().await?;
    src.ec2
        .modify_image_attribute()
        .image_id(&image.image_id)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id(target).build())
                .build(),
        )
        .send()
        .await
        .named("ec2:ModifyImageAttribute", &src.role_arn)
        .fresh_id(&format!("the new image {}", image.image_id))?;
    for snapshot in &image.snapshot_ids {
        src.ec2
            .modify_snapshot_attribute()
            .snapshot_id(snapshot)
            .create_volume_permission(
                CreateVolumePermissionModifications::builder()
                    .add(CreateVolumePermission::builder().user_id(target).build())
                    .build(),
            )
            .send()
            .await
            .named("ec2:ModifySnapshotAttribute", &src.role_arn)
            .fresh_id(&format!("the new snapshot {snapshot}"))?;
    }
    Ok(image.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, instance, two_pages};
    use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ec2::types::Image;

    #[tokio::test]
    async fn an_image_of_this_migration_on_the_second_page_is_found() {
        let image = |id: &str, name: &str| {
            Image::builder()
                .image_id(id)
                .name(name)
                .tags(crate::aws::ec2::tag(MIGRATION_TAG, "m-1"))
                .build()
        };
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_images,
            next_token => next_token,
            DescribeImagesOutput::builder().images(image("ami-other", "carveout-other")),
            DescribeImagesOutput::builder().images(image("ami-ours", "carveout-ours")),
        );
        let c = clients(&[&first, &second], &[], &[]);
        let found = own_image_named(&c, "m-1", "carveout-ours").await.unwrap();
        assert_eq!(found.as_deref(), Some("ami-ours"));
    }

    fn target(id: &str, state: &str) -> (String, i32, String, String) {
        (id.into(), 80, state.into(), String::new())
    }

    #[test]
    fn a_reboot_waits_while_another_target_is_down_and_ignores_its_own_health() {
        let src = instance("i-0123456789abcdef0", "t3.small", None);
        let own_down = [
            target("i-0123456789abcdef0", "unhealthy"),
            target("i-b", "healthy"),
        ];
        assert!(reboot_leaves_others_serving(&src, &own_down).is_ok());
        let other_down = [
            target("i-0123456789abcdef0", "healthy"),
            target("i-b", "unhealthy"),
        ];
        let err = reboot_leaves_others_serving(&src, &other_down).unwrap_err();
        assert_eq!(err.name(), "CarveOut.NotReady");
        assert!(err.to_string().contains("i-b:80 is unhealthy"), "{err}");
        // A lone target: nothing else to keep serving.
        assert!(
            reboot_leaves_others_serving(&src, &[target("i-0123456789abcdef0", "healthy")]).is_ok()
        );
    }
}
