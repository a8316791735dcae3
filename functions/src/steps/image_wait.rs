//! WaitImageAvailable and WaitCopyAvailable: one look at an image (a predicted poll,
//! `looks.rs`). The look reads the image and, while it is pending, the progress EBS reports
//! for its snapshots; it watches inside the invocation when the end is near (or the image
//! young), else answers `$.image.look` with when to look next, and the state machine's
//! Wait sleeps that long (`UntilNextImageLook`, `UntilNextCopyLook`).
//!
//! An image is available once every snapshot is complete ("the AMI is in the pending state
//! until the snapshots complete", <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/creating-an-ami-ebs.html>);
//! DescribeSnapshots' `Progress` is their percent done
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html>).

use std::time::Duration;

use aws_sdk_ec2::types::Image;
use aws_smithy_types::date_time::Format;

use crate::accounts::AccountClients;
use crate::error::{FreshIdResultExt, SdkResultExt, StepError};
use crate::idiom::{Poll, poll_once};
use crate::looks::{LOOK_WATCH_SECONDS, Look, Next, Sighting, next, time_scale};
use crate::state::{ImageOut, State, now_epoch_ms};

use crate::context::Context;

/// Looks at the image until it is available or the look answers when to look next.
/// Errors: ResourceFailed when the image fails or is past the plan's image deadline
/// (`facts.options.imageDeadlineMinutes`), NotReady while the new id is not yet visible.
pub async fn wait_image_available(ctx: &Context, state: State) -> Result<ImageOut, StepError> {
    let facts = state.facts()?;
    let image = state.image()?;
    let src = ctx.accounts(&state.plan).source().await?;
    let deadline = u64::from(facts.options.image_deadline_minutes) * 60;
    let close_used = image.look.as_ref().map_or(0, |l| l.close_looks);
    let mut since = image.look.as_ref().and_then(|l| l.since);
    let last = image.look.as_ref().and_then(|l| l.last);
    let what = format!("image {}", image.image_id);
    // The watch's budget counts the reads' own time too (under throttling each read can
    // take seconds): nominal sleeps locally, the wall clock on AWS, whichever is more.
    let started = std::time::Instant::now();
    let mut slept = 0;
    // When AWS gives no CreationDate: the last look's time plus the wait since.
    let carried = image
        .look
        .as_ref()
        .map_or(0, |l| l.elapsed_seconds + l.next_poll_seconds);
    // The watch so far, the reads' own time included: measured after the reads, so a slow
    // read never starts another after the budget (the function's Timeout holds the watch
    // and one more look, `Step::watch`).
    let watched = |slept: u64| slept.max(started.elapsed().as_secs());
    loop {
        let found = match describe_image(&src, &image.image_id).await {
            Ok(found) => found,
            // Throttled, or the new id not visible yet (seconds, usually): read again
            // within the watch, then answer a look like any other, so it costs no Retry
            // attempt (their events bound the history, looks.rs).
            Err(StepError::NotReady(_)) if watched(slept) + 2 <= LOOK_WATCH_SECONDS => {
                tokio::time::sleep(Duration::from_secs_f64(2.0 * time_scale())).await;
                slept += 2;
                continue;
            }
            Err(StepError::NotReady(why)) => {
                return unseen(image, &why, deadline, carried + watched(slept), &what);
            }
            Err(e) => return Err(e),
        };
        let elapsed = match found.as_ref().map_or(0, elapsed_seconds) {
            0 => carried + watched(slept),
            known => known,
        };
        match observe(found.as_ref()) {
            Poll::Ready(snapshot_ids) => {
                return Ok(ImageOut {
                    snapshot_ids,
                    look: Some(Look::ready(elapsed, &what)),
                    ..image.clone()
                });
            }
            Poll::Failed(reason) => return poll_once(&what, Poll::Failed(reason)),
            Poll::Pending(_) => {}
        }
        if elapsed > deadline {
            return Err(StepError::ResourceFailed(format!(
                "{what} is still pending after {} min, past its deadline of {} min (options.imageTimeoutMinutes, else 30 min plus the instance's volumes at 10 MiB/s)",
                elapsed / 60,
                deadline / 60
            )));
        }
        let sighting = Sighting {
            elapsed,
            progress: snapshot_progress(&src, found.as_ref()).await?,
            since,
            last,
        };
        since = sighting.base();
        match next(&sighting, deadline, watched(slept), close_used) {
            Next::Watch { every } => {
                tokio::time::sleep(Duration::from_secs_f64(every as f64 * time_scale())).await;
                slept += every;
            }
            Next::Wait { seconds, close } => {
                let look = Look::again(&sighting, seconds, close_used + u32::from(close), &what);
                tracing::info!(summary = %look.summary, "image pending");
                return Ok(ImageOut {
                    look: Some(look),
                    ..image.clone()
                });
            }
        }
    }
}

/// The answer of a look that could not read the image: `elapsed`, the time since it
/// began, is the last look's plus the wait and the watch since; the deadline holds as for
/// any look.
fn unseen(
    image: &ImageOut,
    why: &str,
    deadline: u64,
    elapsed: u64,
    what: &str,
) -> Result<ImageOut, StepError> {
    let last = image.look.as_ref();
    if elapsed > deadline {
        return Err(StepError::ResourceFailed(format!(
            "{what} could not be read for {} min, past its deadline: {why}",
            elapsed / 60
        )));
    }
    let sighting = Sighting {
        elapsed,
        progress: None,
        since: last.and_then(|l| l.since),
        last: last.and_then(|l| l.last),
    };
    let close_used = last.map_or(0, |l| l.close_looks);
    // Not visible yet is seconds, usually: a close look while there are some.
    let (seconds, close) = if close_used < crate::looks::CLOSE_LOOKS {
        (crate::looks::CLOSE_FLOOR, 1)
    } else {
        (crate::looks::floor(deadline), 0)
    };
    let seconds = seconds.min(deadline - elapsed + 1);
    let close_used = close_used + close;
    let mut look = Look::again(&sighting, seconds, close_used, what);
    look.summary = format!("{what} not read ({why}); next look in {seconds} s");
    Ok(ImageOut {
        look: Some(look),
        ..image.clone()
    })
}

/// The image by id (every page of the answer).
async fn describe_image(src: &AccountClients, image_id: &str) -> Result<Option<Image>, StepError> {
    let images = src
        .ec2
        .describe_images()
        .image_ids(image_id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeImages", &src.role_arn)
        .fresh_id(&format!("the new image {image_id}"))?;
    Ok(images.into_iter().next())
}

/// Available (with its snapshots), pending, or failed.
fn observe(found: Option<&Image>) -> Poll<Vec<String>> {
    match found.and_then(|i| i.state()).map(|s| s.as_str()) {
        Some("available") => Poll::Ready(snapshot_ids(found)),
        Some("pending") => Poll::Pending("pending".into()),
        Some(other) => Poll::Failed(format!(
            "{other}: {}",
            found
                .and_then(|i| i.state_reason())
                .and_then(|r| r.message())
                .unwrap_or("no reason given")
        )),
        None => Poll::Failed("it no longer exists".into()),
    }
}

fn snapshot_ids(image: Option<&Image>) -> Vec<String> {
    image
        .into_iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect()
}

/// Seconds since the image's CreationDate (0 when AWS gives none yet).
fn elapsed_seconds(image: &Image) -> u64 {
    let created = image
        .creation_date()
        .and_then(|d| aws_smithy_types::DateTime::from_str(d, Format::DateTime).ok())
        .map_or(0, |d| d.secs().max(0) as u64 * 1000);
    if created == 0 {
        return 0;
    }
    now_epoch_ms().saturating_sub(created) / 1000
}

/// Percent done over the image's snapshots, weighted by volume size: None when the pending
/// image lists no snapshot yet or EBS does not see them yet.
async fn snapshot_progress(
    src: &AccountClients,
    image: Option<&Image>,
) -> Result<Option<f64>, StepError> {
    let ids = snapshot_ids(image);
    if ids.is_empty() {
        return Ok(None);
    }
    let read = src
        .ec2
        .describe_snapshots()
        .set_snapshot_ids(Some(ids))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeSnapshots", &src.role_arn);
    // Progress is a hint: snapshots not visible yet, or a throttled read, leave it unknown.
    let snapshots = match read {
        Ok(s) => s,
        Err(f) if f.is("InvalidSnapshot.NotFound") => return Ok(None),
        Err(f) => match StepError::from(f) {
            StepError::NotReady(_) => return Ok(None),
            e => return Err(e),
        },
    };
    let parts: Vec<(f64, f64)> = snapshots
        .iter()
        .map(|s| {
            let done = s
                .progress()
                .and_then(|p| p.trim_end_matches('%').trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            (f64::from(s.volume_size().unwrap_or(1).max(1)), done)
        })
        .collect();
    let size: f64 = parts.iter().map(|(s, _)| s).sum();
    Ok((size > 0.0).then(|| parts.iter().map(|(s, p)| s * p).sum::<f64>() / size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice, ImageState};

    fn image(state: ImageState) -> Image {
        Image::builder()
            .image_id("ami-1")
            .state(state)
            .block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(EbsBlockDevice::builder().snapshot_id("snap-1").build())
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_look_that_could_not_read_the_image_keeps_the_rate_bases() {
        let last = Sighting {
            elapsed: 600,
            progress: Some(40.0),
            since: Some((100, 5.0)),
            last: None,
        };
        let out = ImageOut {
            source_instance_id: "i-1".into(),
            image_id: "ami-1".into(),
            snapshot_ids: vec![],
            copied_from: None,
            look: Some(Look::again(&last, 120, 0, "image ami-1")),
        };
        let again = unseen(&out, "throttled", 3600, 720, "image ami-1").unwrap();
        let look = again.look.unwrap();
        assert_eq!(
            (look.since, look.last),
            (Some((100, 5.0)), Some((600, 40.0)))
        );
        assert_eq!((look.elapsed_seconds, look.close_looks), (720, 1));
    }

    #[test]
    fn an_available_image_is_ready_with_its_snapshots_and_a_failed_one_fails() {
        assert_eq!(
            observe(Some(&image(ImageState::Available))),
            Poll::Ready(vec!["snap-1".to_string()])
        );
        assert!(matches!(
            observe(Some(&image(ImageState::Pending))),
            Poll::Pending(_)
        ));
        assert!(matches!(
            observe(Some(&image(ImageState::Failed))),
            Poll::Failed(_)
        ));
        assert!(matches!(observe(None), Poll::Failed(_)));
    }
}
