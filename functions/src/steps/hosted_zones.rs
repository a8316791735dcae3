//! AssociateHostedZones (network branch, after AddRoutes): each private hosted zone of
//! the ALB's VPC that the plan asks for (options.associateHostedZones, checked by
//! Preflight) is associated with the target VPC, the cross-account way: the zone's
//! account (the network account) authorizes the target VPC, the target account
//! associates it, and the authorization is deleted again
//! (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-associate-vpcs-different-accounts.html>).
//! The zone is marked first (tag `carveout:vpc-association:<vpc>` = `pending:<migration
//! id>`), and the mark confirmed (the migration id) once the association exists: an
//! association has no id or tags of its own, and `carveout cleanup` disassociates only
//! confirmed ones (a pending mark loses its tag and authorization, never an association).

use aws_sdk_route53::types::Vpc;

use crate::accounts::AccountClients;
use crate::aws::route53::{
    association_owner, mark_association, pending, unauthorize, vpc, zone_has_vpc,
};
use crate::error::{SdkResultExt, StepError};
use crate::state::State;
use crate::step_outputs::{AssociatedZone, NetworkOut};

use crate::context::Context;

/// Associates every zone of `facts.options.carry.hostedZones` with the target VPC; a zone
/// already associated by this migration is left as it is. Errors: NotReady while the
/// authorization is not yet seen by the target account, Conflict when the target VPC
/// gained another zone of that name (ConflictingDomainExists) or the zone was associated
/// by someone else, AccessDenied. A failure after the zone was marked removes the mark and
/// the authorization again, so nothing of a failed attempt can later pass for carveout's.
pub async fn associate_hosted_zones(ctx: &Context, state: State) -> Result<NetworkOut, StepError> {
    // The network branch's last step: it answers the branch's whole result, so no Pass is
    // needed to shape it (a state transition fewer per migration).
    let done = associate_zones(ctx, &state).await?;
    Ok(NetworkOut {
        peering: state.peering()?.clone(),
        routes: state.routes()?.clone(),
        share: state.share.clone(),
        hosted_zones: done,
    })
}

async fn associate_zones(ctx: &Context, state: &State) -> Result<Vec<AssociatedZone>, StepError> {
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
        let mark = association_owner(&net, zone, target_vpc).await?;
        let ours = mark.as_deref() == Some(id.as_str()) || mark == Some(pending(id));
        if zone_has_vpc(&net, zone, target_vpc).await? {
            if !ours {
                return Err(StepError::conflict(format!(
                    "hosted zone {zone} ({name}) was associated with {target_vpc} by someone else since Preflight; carveout leaves it (and cleanup will not remove it)"
                )));
            }
        } else {
            mark_association(&net, zone, target_vpc, Some(&pending(id))).await?;
            if let Err(e) = associate(&net, &tgt, zone, name, &the_vpc, id).await {
                if !matches!(e, StepError::NotReady(_)) {
                    // Best effort: the error is what the operator needs to see.
                    let _ = unauthorize(&net, zone, &the_vpc).await;
                    let _ = mark_association(&net, zone, target_vpc, None).await;
                }
                return Err(e);
            }
        }
        mark_association(&net, zone, target_vpc, Some(id)).await?;
        // Route 53 recommends removing the authorization once the association exists: it
        // only allows future associations.
        unauthorize(&net, zone, &the_vpc).await?;
        done.push(AssociatedZone {
            hosted_zone_id: zone.clone(),
            name: name.clone(),
        });
    }
    Ok(done)
}

/// The network account authorizes the target VPC; the target account associates it.
async fn associate(
    net: &AccountClients,
    tgt: &AccountClients,
    zone: &str,
    name: &str,
    the_vpc: &Vpc,
    migration_id: &str,
) -> Result<(), StepError> {
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
        .comment(format!("carveout {migration_id}"))
        .send()
        .await
        .named("route53:AssociateVPCWithHostedZone", &tgt.role_arn)
    {
        Ok(_) => Ok(()),
        Err(f) if f.is("NotAuthorizedException") => Err(StepError::NotReady(format!(
            "the target account does not see the authorization for hosted zone {zone} yet"
        ))),
        // A lost answer: the association exists (Route 53 answers so for a VPC already
        // associated with the zone).
        Err(f)
            if f.is("ConflictingDomainExists")
                && zone_has_vpc(net, zone, the_vpc.vpc_id().unwrap_or_default()).await? =>
        {
            Ok(())
        }
        Err(f) if f.is("ConflictingDomainExists") => Err(StepError::conflict(format!(
            "the target VPC has another hosted zone named {name} since Preflight: {f}"
        ))),
        Err(f) => Err(f.into()),
    }
}
