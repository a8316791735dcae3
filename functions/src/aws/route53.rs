//! Route 53: the private hosted zones associated with a VPC, and the tag by which a zone
//! remembers that carveout associated it with a target VPC (an association has no id or
//! tags of its own, and cleanup must never remove one carveout did not make).

use aws_sdk_route53::types::{Tag, TagResourceType, Vpc, VpcRegion};

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// A private hosted zone associated with a VPC, as ListHostedZonesByVPC answers it: the
/// zone's id (bare, `Z…`), its name (`internal.example.`), and its owner, an account
/// or (for zones AWS services manage, such as Cloud Map's) a service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSummary {
    pub id: String,
    pub name: String,
    pub owning_account: Option<String>,
    pub owning_service: Option<String>,
}

/// The tag key on a zone whose association with `vpc_id` carveout made; its value is the
/// migration id.
pub fn association_tag(vpc_id: &str) -> String {
    format!("carveout:vpc-association:{vpc_id}")
}

/// The VPC as Route 53's calls name it.
pub fn vpc(vpc_id: &str, region: &str) -> Vpc {
    Vpc::builder()
        .vpc_id(vpc_id)
        .vpc_region(VpcRegion::from(region))
        .build()
}

/// Every private hosted zone associated with `vpc_id`, whatever account owns it, from
/// every page. Called by the VPC's owner: ListHostedZonesByVPC "lists all the private
/// hosted zones that a specified VPC is associated with, regardless of which AWS account
/// or AWS service owns the hosted zones"
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByVPC.html>).
pub async fn zones_of_vpc(
    c: &AccountClients,
    vpc_id: &str,
    region: &str,
) -> Result<Vec<ZoneSummary>, StepError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .route53
            .list_hosted_zones_by_vpc()
            .vpc_id(vpc_id)
            .vpc_region(VpcRegion::from(region))
            .set_next_token(token.take())
            .send()
            .await
            .named("route53:ListHostedZonesByVPC", &c.role_arn)?;
        out.extend(page.hosted_zone_summaries().iter().map(|z| {
            ZoneSummary {
                id: z
                    .hosted_zone_id()
                    .trim_start_matches("/hostedzone/")
                    .to_string(),
                name: z.name().to_string(),
                owning_account: z
                    .owner()
                    .and_then(|o| o.owning_account())
                    .map(str::to_string),
                owning_service: z
                    .owner()
                    .and_then(|o| o.owning_service())
                    .map(str::to_string),
            }
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

/// The association tag's value while carveout is associating: the authorization may exist
/// and the association may not; confirmed (the bare migration id) once it is seen.
pub fn pending(migration_id: &str) -> String {
    format!("pending:{migration_id}")
}

/// Whether the zone is associated with `vpc_id`, as the zone's owner sees it (GetHostedZone
/// lists the zone's VPCs; ListHostedZonesByVPC, the VPC side, may lag behind).
pub async fn zone_has_vpc(
    owner: &AccountClients,
    zone_id: &str,
    vpc_id: &str,
) -> Result<bool, StepError> {
    let out = owner
        .route53
        .get_hosted_zone()
        .id(zone_id)
        .send()
        .await
        .named("route53:GetHostedZone", &owner.role_arn)?;
    Ok(out.vpcs().iter().any(|v| v.vpc_id() == Some(vpc_id)))
}

/// The value of the zone's association tag for `vpc_id` (the migration id, or
/// [`pending`] of it), if it has one; None for a zone the caller does not own. Called by
/// the zone's owner (tags are the owner's).
pub async fn association_owner(
    owner: &AccountClients,
    zone_id: &str,
    vpc_id: &str,
) -> Result<Option<String>, StepError> {
    let out = match owner
        .route53
        .list_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(zone_id)
        .send()
        .await
        .named("route53:ListTagsForResource", &owner.role_arn)
    {
        Ok(out) => out,
        // Not a zone of this account (or no longer one): it carries no mark of carveout's.
        Err(f) if f.is("NoSuchHostedZone") => return Ok(None),
        Err(f) => return Err(f.into()),
    };
    let key = association_tag(vpc_id);
    Ok(out
        .resource_tag_set()
        .into_iter()
        .flat_map(|s| s.tags())
        .find(|t| t.key() == Some(key.as_str()))
        .and_then(|t| t.value().map(str::to_string)))
}

/// Sets (`Some(value)`) or removes (`None`) the zone's association tag for `vpc_id`.
pub async fn mark_association(
    owner: &AccountClients,
    zone_id: &str,
    vpc_id: &str,
    value: Option<&str>,
) -> Result<(), StepError> {
    let key = association_tag(vpc_id);
    let (add, remove) = match value {
        Some(id) => (Some(vec![Tag::builder().key(key).value(id).build()]), None),
        None => (None, Some(vec![key])),
    };
    owner
        .route53
        .change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(zone_id)
        .set_add_tags(add)
        .set_remove_tag_keys(remove)
        .send()
        .await
        .named("route53:ChangeTagsForResource", &owner.role_arn)?;
    Ok(())
}

/// Deletes the authorization of the target VPC on the zone; none left is fine.
pub async fn unauthorize(net: &AccountClients, zone: &str, the_vpc: &Vpc) -> Result<(), StepError> {
    match net
        .route53
        .delete_vpc_association_authorization()
        .hosted_zone_id(zone)
        .vpc(the_vpc.clone())
        .send()
        .await
        .named("route53:DeleteVPCAssociationAuthorization", &net.role_arn)
    {
        Ok(_) => Ok(()),
        Err(f) if f.is("VPCAssociationAuthorizationNotFound") => Ok(()),
        Err(f) => Err(f.into()),
    }
}
