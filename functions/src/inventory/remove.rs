//! Removing one resource a migration created, by kind: the only deletes carveout makes
//! outside Rollback's own probe rule (used by `carveout cleanup --apply`). Gone already
//! counts as removed, so a partial cleanup can be run again.

use std::time::Duration;

use super::{CreatedResource, ResourceKind};
use crate::accounts::AccountClients;
use crate::aws::instances::instance_states;
use crate::aws::route53;
use crate::error::{AwsFailure, SdkResultExt, StepError};

/// The snapshots DeregisterImage did not delete (other than those another image still
/// uses), as an error that names each with EC2's return code; Ok when none.
fn snapshots_left(
    image_id: &str,
    results: &[aws_sdk_ec2::types::DeleteSnapshotReturnCode],
) -> Result<(), StepError> {
    let left: Vec<String> = results
        .iter()
        .filter(|x| {
            !matches!(
                x.return_code().map(|c| c.as_str()),
                Some("success" | "skipped")
            )
        })
        .map(|x| {
            format!(
                "{} ({})",
                x.snapshot_id().unwrap_or("?"),
                x.return_code().map(|c| c.as_str()).unwrap_or("?")
            )
        })
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    Err(StepError::ResourceFailed(format!(
        "image {image_id} is deregistered, but its snapshots {} were not deleted (missing-permissions: a snapshot without the carveout:migration-id tag may not be deleted by the member role): delete them yourself",
        left.join(", ")
    )))
}

/// Removes `r` with the clients of its account; waits for an instance to terminate (its
/// security group cannot go before). Errors: the call's failure, named with its IAM action
/// (`elasticloadbalancing:DeleteRule`, `ec2:TerminateInstances`, …).
pub async fn remove(c: &AccountClients, r: &CreatedResource) -> Result<(), StepError> {
    let who = &c.role_arn;
    let result = match r.kind {
        ResourceKind::ListenerRule => c
            .elb
            .delete_rule()
            .rule_arn(&r.id)
            .send()
            .await
            .named("elasticloadbalancing:DeleteRule", who)
            .map(drop),
        ResourceKind::TargetGroup => c
            .elb
            .delete_target_group()
            .target_group_arn(&r.id)
            .send()
            .await
            .named("elasticloadbalancing:DeleteTargetGroup", who)
            .map(drop),
        ResourceKind::Instance => return terminate(c, &r.id).await,
        ResourceKind::SecurityGroup => delete_group(c, &r.id).await,
        ResourceKind::RamResourceShare => c
            .ram
            .delete_resource_share()
            .resource_share_arn(&r.id)
            .send()
            .await
            .named("ram:DeleteResourceShare", who)
            .map(drop),
        // With its snapshots, in the same call: an image is never deregistered leaving a
        // full-disk copy behind unsaid. EC2 deletes each with the caller's DeleteSnapshot
        // permission (the member role's needs the migration tag) and skips one another
        // image uses; one it could not delete is named in the error, with what to do.
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html
        ResourceKind::Image => {
            return match c
                .ec2
                .deregister_image()
                .image_id(&r.id)
                .delete_associated_snapshots(true)
                .send()
                .await
                .named("ec2:DeregisterImage", who)
            {
                Ok(out) => snapshots_left(&r.id, out.delete_snapshot_results()),
                Err(f) if gone(&f) => Ok(()),
                Err(f) => Err(f.into()),
            };
        }
        ResourceKind::Snapshot => c
            .ec2
            .delete_snapshot()
            .snapshot_id(&r.id)
            .send()
            .await
            .named("ec2:DeleteSnapshot", who)
            .map(drop),
        ResourceKind::Route => {
            let Some((table, cidr)) = r.id.split_once(':') else {
                return Err(StepError::ResourceFailed(format!(
                    "route id {} is not <route table id>:<destination CIDR>",
                    r.id
                )));
            };
            c.ec2
                .delete_route()
                .route_table_id(table)
                .destination_cidr_block(cidr)
                .send()
                .await
                .named("ec2:DeleteRoute", who)
                .map(drop)
        }
        ResourceKind::HostedZoneAssociation => return disassociate(c, &r.id).await,
        ResourceKind::VpcPeeringConnection => c
            .ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(&r.id)
            .send()
            .await
            .named("ec2:DeleteVpcPeeringConnection", who)
            .map(drop),
    };
    match result {
        Err(f) if gone(&f) => Ok(()),
        other => other.map_err(StepError::from),
    }
}

/// A zone's association with a target VPC (`<zone id>:<vpc id>`, `…:pending` while only
/// marked), by the zone's account (either account may disassociate:
/// API_DisassociateVPCFromHostedZone): the association when confirmed, then any
/// authorization left and the zone's mark. A pending mark never costs an association.
async fn disassociate(c: &AccountClients, id: &str) -> Result<(), StepError> {
    let mut parts = id.splitn(3, ':');
    let (Some(zone), Some(vpc_id)) = (parts.next(), parts.next()) else {
        return Err(StepError::ResourceFailed(format!(
            "hosted zone association id {id} is not <zone id>:<vpc id>"
        )));
    };
    let confirmed = parts.next().is_none();
    let region = c
        .route53
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let the_vpc = route53::vpc(vpc_id, &region);
    if confirmed {
        match c
            .route53
            .disassociate_vpc_from_hosted_zone()
            .hosted_zone_id(zone)
            .vpc(the_vpc.clone())
            .send()
            .await
            .named("route53:DisassociateVPCFromHostedZone", &c.role_arn)
        {
            Err(f) if !f.is("VPCAssociationNotFound") && !gone(&f) => return Err(f.into()),
            _ => {}
        }
    }
    route53::unauthorize(c, zone, &the_vpc).await?;
    route53::mark_association(c, zone, vpc_id, None).await
}

/// The "does not exist" answers of each service (`InvalidGroup.NotFound`,
/// `TargetGroupNotFound`, `UnknownResourceException`, …).
fn gone(f: &AwsFailure) -> bool {
    f.is_not_found()
        || f.code
            .as_deref()
            .is_some_and(|c| c.ends_with("NotFoundException"))
        || f.is_any(&[
            "UnknownResourceException",
            "InvalidAMIID.Unavailable",
            "NoSuchHostedZone",
        ])
}

/// A security group can only go once no instance uses it any more (DependencyViolation
/// while the instance is shutting down): retried for up to 5 minutes.
async fn delete_group(c: &AccountClients, group: &str) -> Result<(), AwsFailure> {
    for attempt in 0..60 {
        match c
            .ec2
            .delete_security_group()
            .group_id(group)
            .send()
            .await
            .named("ec2:DeleteSecurityGroup", &c.role_arn)
        {
            Err(f) if f.is("DependencyViolation") && attempt < 59 => {
                tokio::time::sleep(Duration::from_secs(5)).await
            }
            other => return other.map(drop),
        }
    }
    Ok(())
}

/// TerminateInstances, then up to 10 minutes for `terminated` (or gone from the answer).
async fn terminate(c: &AccountClients, instance: &str) -> Result<(), StepError> {
    match c
        .ec2
        .terminate_instances()
        .instance_ids(instance)
        .send()
        .await
        .named("ec2:TerminateInstances", &c.role_arn)
    {
        Err(f) if gone(&f) => return Ok(()),
        other => drop(other?),
    }
    let ids = [instance.to_string()];
    for _ in 0..120 {
        let states = instance_states(c, &ids).await?;
        if matches!(
            states.get(instance).map(String::as_str),
            Some("terminated") | None
        ) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(())
}
