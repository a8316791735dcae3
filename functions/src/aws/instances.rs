//! Instance states: what DescribeInstances says of the source instances, and starting
//! them again (stop-source's Rollback and `carveout revert`).

use std::collections::BTreeMap;

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// The state name (`running`, `stopping`, `stopped`…) of each instance, by id, from every
/// page of DescribeInstances.
pub async fn instance_states(
    src: &AccountClients,
    ids: &[String],
) -> Result<BTreeMap<String, String>, StepError> {
    let reservations = src
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &src.role_arn)?;
    Ok(reservations
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            Some((
                i.instance_id()?.to_string(),
                i.state()?.name()?.as_str().to_string(),
            ))
        })
        .collect())
}

/// Rollback of stop-source: starts every one of `ids` (a stopping one is waited for,
/// briefly). StartInstances is sent whatever DescribeInstances shows: right after the
/// stop, a read may still answer `running` (EC2's eventual consistency,
/// <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>), and
/// starting a running instance changes nothing. Only `IncorrectInstanceState` (an
/// instance still stopping) is waited out, 40 s here, then answered NotReady. Returns what
/// it did, for the failure cause.
pub async fn start_stopped(src: &AccountClients, ids: &[String]) -> Result<String, StepError> {
    for _ in 0..20 {
        let started = src
            .ec2
            .start_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .named("ec2:StartInstances", &src.role_arn);
        match started {
            Ok(_) => return Ok(format!("source instances restarted: {}", ids.join(", "))),
            Err(failure) if failure.is("IncorrectInstanceState") => {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(failure) => return Err(failure.into()),
        }
    }
    // One instance the batch cannot start (still stopping, or gone) must not keep the
    // others down: each alone, and the answer names those left.
    let (mut started, mut left, mut stopping) = (Vec::new(), Vec::new(), false);
    for id in ids {
        match src
            .ec2
            .start_instances()
            .instance_ids(id)
            .send()
            .await
            .named("ec2:StartInstances", &src.role_arn)
        {
            Ok(_) => started.push(id.clone()),
            Err(f) => {
                stopping |= f.is("IncorrectInstanceState");
                left.push(format!("{id} ({})", f.message));
            }
        }
    }
    if left.is_empty() {
        return Ok(format!(
            "source instances restarted: {}",
            started.join(", ")
        ));
    }
    let said = format!(
        "source instances restarted: {}; not started after 40 s: {}",
        if started.is_empty() {
            "none".to_string()
        } else {
            started.join(", ")
        },
        left.join(", ")
    );
    // Still stopping: not ready, the caller tries again (Rollback's retrier, the watcher's
    // loop); anything else will not pass by waiting.
    Err(if stopping {
        StepError::NotReady(said)
    } else {
        StepError::ResourceFailed(format!("{said}; start them once they can be"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, two_pages};
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
    use aws_sdk_ec2::types::{Instance, InstanceState, InstanceStateName, Reservation};

    fn reservation(id: &str, state: InstanceStateName) -> Reservation {
        let state = InstanceState::builder().name(state).build();
        let instance = Instance::builder().instance_id(id).state(state).build();
        Reservation::builder().instances(instance).build()
    }

    #[tokio::test]
    async fn the_states_of_instances_on_every_page_are_read() {
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_instances,
            next_token => next_token,
            DescribeInstancesOutput::builder()
                .reservations(reservation("i-1", InstanceStateName::Stopped)),
            DescribeInstancesOutput::builder()
                .reservations(reservation("i-2", InstanceStateName::Running)),
        );
        let c = clients(&[&first, &second], &[], &[]);
        let states = instance_states(&c, &["i-1".into(), "i-2".into()])
            .await
            .unwrap();
        assert_eq!(states.get("i-1").map(String::as_str), Some("stopped"));
        assert_eq!(states.get("i-2").map(String::as_str), Some("running"));
    }
}
