//! AWS RAM: the resource share of the ALB's security groups.

use aws_sdk_ram::types::{ResourceOwner, ResourceShare};

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};

/// This migration's active share in the network account, found by its deterministic name.
pub async fn find_share(
    net: &AccountClients,
    name: &str,
) -> Result<Option<ResourceShare>, StepError> {
    let out = net
        .ram
        .get_resource_shares()
        .resource_owner(ResourceOwner::SelfValue)
        .name(name)
        .send()
        .await
        .named("ram:GetResourceShares", &net.role_arn)?;
    Ok(out
        .resource_shares()
        .iter()
        .find(|s| s.name() == Some(name) && s.status().is_some_and(|st| st.as_str() == "ACTIVE"))
        .cloned())
}
