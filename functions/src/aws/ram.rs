//! AWS RAM: the resource share of the ALB's security groups and its associations.

use aws_sdk_ram::types::{ResourceOwner, ResourceShare};

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// This migration's active share in the network account, found by its deterministic name
/// on every page of GetResourceShares.
pub async fn find_share(
    net: &AccountClients,
    name: &str,
) -> Result<Option<ResourceShare>, StepError> {
    let pages = net
        .ram
        .get_resource_shares()
        .resource_owner(ResourceOwner::SelfValue)
        .name(name)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .named("ram:GetResourceShares", &net.role_arn)?;
    Ok(pages
        .iter()
        .flat_map(|page| page.resource_shares())
        .find(|s| s.name() == Some(name) && s.status().is_some_and(|st| st.as_str() == "ACTIVE"))
        .cloned())
}

/// The principal and resource associations of the share, `(entity, status)`, from every
/// page of GetResourceShareAssociations.
pub async fn share_associations(
    net: &AccountClients,
    share_arn: &str,
) -> Result<Vec<(String, String)>, StepError> {
    use aws_sdk_ram::types::ResourceShareAssociationType as Kind;
    let mut listed = Vec::new();
    for kind in [Kind::Principal, Kind::Resource] {
        let pages = net
            .ram
            .get_resource_share_associations()
            .association_type(kind)
            .resource_share_arns(share_arn)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .named("ram:GetResourceShareAssociations", &net.role_arn)?;
        let all = pages.iter().flat_map(|p| p.resource_share_associations());
        listed.extend(all.filter_map(|a| {
            Some((
                a.associated_entity()?.to_string(),
                a.status()?.as_str().to_string(),
            ))
        }));
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, two_pages};
    use aws_sdk_ram::operation::get_resource_shares::GetResourceSharesOutput;
    use aws_sdk_ram::types::ResourceShareStatus;

    fn share(arn: &str, status: ResourceShareStatus) -> ResourceShare {
        ResourceShare::builder()
            .resource_share_arn(arn)
            .name("carveout-m-1")
            .status(status)
            .build()
    }

    #[tokio::test]
    async fn the_active_share_on_the_second_page_is_found() {
        let [first, second] = two_pages!(
            aws_sdk_ram::Client::get_resource_shares,
            next_token => next_token,
            GetResourceSharesOutput::builder()
                .resource_shares(share("arn:share/old", ResourceShareStatus::Deleted)),
            GetResourceSharesOutput::builder()
                .resource_shares(share("arn:share/new", ResourceShareStatus::Active)),
        );
        let c = clients(&[], &[], &[&first, &second]);
        let found = find_share(&c, "carveout-m-1").await.unwrap();
        assert_eq!(
            found.and_then(|s| s.resource_share_arn().map(str::to_string)),
            Some("arn:share/new".into())
        );
    }

    #[tokio::test]
    async fn associations_on_every_page_are_read() {
        use aws_sdk_ram::operation::get_resource_share_associations::GetResourceShareAssociationsOutput as Out;
        use aws_sdk_ram::types::{ResourceShareAssociation, ResourceShareAssociationStatus};
        let association = |entity: &str| {
            ResourceShareAssociation::builder()
                .associated_entity(entity)
                .status(ResourceShareAssociationStatus::Associated)
                .build()
        };
        let [p1, p2] = two_pages!(
            aws_sdk_ram::Client::get_resource_share_associations,
            next_token => next_token,
            Out::builder(),
            Out::builder().resource_share_associations(association("222222222222")),
        );
        let [r1, r2] = two_pages!(
            aws_sdk_ram::Client::get_resource_share_associations,
            next_token => next_token,
            Out::builder().resource_share_associations(association("sg-arn-1")),
            Out::builder().resource_share_associations(association("sg-arn-2")),
        );
        let c = clients(&[], &[], &[&p1, &p2, &r1, &r2]);
        let listed = share_associations(&c, "arn:share").await.unwrap();
        let entities: Vec<&str> = listed.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(entities, ["222222222222", "sg-arn-1", "sg-arn-2"]);
    }
}
