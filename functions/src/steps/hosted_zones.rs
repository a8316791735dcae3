//! AssociateHostedZones (network branch, after AddRoutes): each private hosted zone of
//! the ALB's VPC that the plan asks for (options.associateHostedZones, checked by
//! Preflight) is associated with the target VPC, the cross-account way: the zone's
//! account (the network account) authorizes the target VPC, the target account
//! associates it, and the authorization is deleted again
//! (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-associate-vpcs-different-accounts.html>).
//! The zone is tagged first (`carveout:vpc-association:<vpc>` = migration id): an
//! association has no id or tags of its own, and `carveout cleanup` removes only those
//! so marked.

use serde::{Deserialize, Serialize};

use crate::aws::route53::{association_owner, mark_association, vpc, zones_of_vpc};
use crate::error::{SdkResultExt, StepError};
use crate::state::State;

use crate::context::Context;

/// One zone associated with the target VPC: `{hostedZoneId, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedZone {
    pub hosted_zone_id: String,
    pub name: String,
}

/// Associates every zone of `facts.options.carry.hostedZones` with the target VPC; a zone
/// already associated by this migration is left as it is. Errors: NotReady while the
/// authorization is not yet seen by the target account, Conflict when the target VPC
/// gained another zone of that name (ConflictingDomainExists), AccessDenied.
pub async fn associate_hosted_zones(
    ctx: &Context,
    state: State,
) -> Result<Vec<AssociatedZone>, StepError> {
    let facts = state.facts()?;
    let zones = &facts.options.carry.hosted_zones;
    if zones.is_empty() {
        return Ok(Vec::new());
    }
    let (plan, id) = (&state.plan, &state.plan.migration_id);
    let net = ctx.accounts(plan).network().await?;
    let tgt = ctx.accounts(plan).target().await?;
    let target_vpc = &facts.target.vpc_id;
    let the_vpc = vpc(target_vpc, &plan.region);
    let mut done = Vec::new();
    for (zone, name) in zones {
        let associated =
            |listed: &[crate::aws::route53::ZoneSummary]| listed.iter().any(|z| &z.id == zone);
        if associated(&zones_of_vpc(&tgt, target_vpc, &plan.region).await?) {
            if association_owner(&net, zone, target_vpc).await?.as_deref() != Some(id) {
                return Err(StepError::conflict(format!(
                    "hosted zone {zone} ({name}) was associated with {target_vpc} by someone else since Preflight; carveout leaves it (and cleanup will not remove it)"
                )));
            }
        } else {
            mark_association(&net, zone, target_vpc, Some(id)).await?;
            net.route53
                .create_vpc_association_authorization()
                .hosted_zone_id(zone)
                .vpc(the_vpc.clone())
                .send()
                .await
                .named("route53:CreateVPCAssociationAuthorization", &net.role_arn)?;
            match tgt
                .route53
                .associate_vpc_with_hosted_zone()
                .hosted_zone_id(zone)
                .vpc(the_vpc.clone())
                .comment(format!("carveout {id}"))
                .send()
                .await
                .named("route53:AssociateVPCWithHostedZone", &tgt.role_arn)
            {
                Ok(_) => {}
                Err(f) if f.is("NotAuthorizedException") => {
                    return Err(StepError::NotReady(format!(
                        "the target account does not see the authorization for hosted zone {zone} yet"
                    )));
                }
                Err(f)
                    if f.is("ConflictingDomainExists")
                        && associated(&zones_of_vpc(&tgt, target_vpc, &plan.region).await?) => {}
                Err(f) if f.is("ConflictingDomainExists") => {
                    return Err(StepError::conflict(format!(
                        "the target VPC {target_vpc} has another hosted zone named {name} since Preflight: {f}"
                    )));
                }
                Err(f) => return Err(f.into()),
            }
        }
        // Route 53 recommends removing the authorization once the association exists: it
        // only allows future associations.
        match net
            .route53
            .delete_vpc_association_authorization()
            .hosted_zone_id(zone)
            .vpc(the_vpc.clone())
            .send()
            .await
            .named("route53:DeleteVPCAssociationAuthorization", &net.role_arn)
        {
            Ok(_) => {}
            Err(f) if f.is("VPCAssociationAuthorizationNotFound") => {}
            Err(f) => return Err(f.into()),
        }
        done.push(AssociatedZone {
            hosted_zone_id: zone.clone(),
            name: name.clone(),
        });
    }
    Ok(done)
}
