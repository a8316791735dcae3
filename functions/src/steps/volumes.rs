//! The cold-volume gate (options.waitForVolumeInitialization): one look at the new
//! instances' volumes per call; `initialization::assess` decides, and the state machine
//! waits the answer's `nextPollSeconds` before the next look (a predicted poll, not a
//! Retry: an initialization takes hours, and each look costs a few history events).

use aws_sdk_ec2::types::VolumeStatusInfo;

use crate::aws::ec2::filter;
use crate::error::{FreshIdResultExt, SdkResultExt, StepError};
use crate::initialization::{GateReport, VolumeInit, assess};
use crate::state::State;

use crate::context::Context;

/// The `initialization-state` detail of a volume's status
/// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VolumeStatusDetails.html>).
fn initialization_state(status: Option<&VolumeStatusInfo>) -> Option<String> {
    status?
        .details()
        .iter()
        .find(|d| d.name().map(|n| n.as_str()) == Some("initialization-state"))
        .and_then(|d| d.status())
        .map(str::to_string)
}

/// Every volume attached to the new instances, with what EBS says of its initialization.
/// Errors: AccessDenied, or NotReady while a new id is not yet visible.
pub async fn check_volumes_initialized(
    ctx: &Context,
    state: State,
) -> Result<GateReport, StepError> {
    let facts = state.facts()?;
    let ids: Vec<&str> = state
        .instances()?
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    let tgt = ctx.accounts(&state.plan).target().await?;
    let volumes = tgt
        .ec2
        .describe_volumes()
        .filters(filter("attachment.instance-id", &ids))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVolumes", &tgt.role_arn)?;
    let volume_ids: Vec<String> = volumes
        .iter()
        .filter_map(|v| v.volume_id().map(str::to_string))
        .collect();
    // Every instance has its root volume: none seen is EC2's eventual consistency.
    if let Some(missing) = ids.iter().find(|id| {
        !volumes.iter().any(|v| {
            v.attachments()
                .iter()
                .any(|a| a.instance_id() == Some(**id))
        })
    }) {
        return Err(StepError::NotReady(format!(
            "the volumes of {missing} are not described yet"
        )));
    }
    let statuses = tgt
        .ec2
        .describe_volume_status()
        .set_volume_ids(Some(volume_ids))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVolumeStatus", &tgt.role_arn)
        .fresh_id("the new instances' volumes")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let seen: Vec<VolumeInit> = volumes
        .iter()
        .map(|v| {
            let id = v.volume_id().unwrap_or_default();
            let status = statuses.iter().find(|s| s.volume_id() == Some(id));
            let details = status.and_then(|s| s.initialization_status_details());
            VolumeInit {
                volume_id: id.to_string(),
                instance_id: v
                    .attachments()
                    .first()
                    .and_then(|a| a.instance_id())
                    .unwrap_or_default()
                    .to_string(),
                size_gib: v.size().unwrap_or(0),
                from_snapshot: v.snapshot_id().is_some_and(|s| !s.is_empty()),
                age_seconds: v
                    .create_time()
                    .map_or(0, |t| (now - t.secs()).max(0) as u64),
                rate: v.volume_initialization_rate(),
                state: initialization_state(status.and_then(|s| s.volume_status())),
                progress: details.and_then(|d| d.progress()),
                eta_seconds: details.and_then(|d| d.estimated_time_to_complete_in_seconds()),
            }
        })
        .collect();
    let report = assess(&seen, &facts.options.volume_gate)
        .map_err(|e| StepError::ResourceFailed(e.to_string()))?;
    tracing::info!(ready = report.ready, next = report.next_poll_seconds, summary = %report.summary, "volume initialization");
    Ok(report)
}
