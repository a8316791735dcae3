//! Preflight, the networks: an existing peering between the two VPCs, the target subnets,
//! and (only with options.shareSecurityGroupWithRam) whether RAM can share the ALB's groups.

use crate::accounts::AccountClients;
use crate::aws::ec2::{PEERING_ACCEPTED, has_tag, peering_status, peerings_between};
use crate::error::{SdkResultExt, StepError};
use crate::names;
use crate::plan::Plan;
use crate::state::SubnetFacts;

/// AWS allows one peering per pair of VPCs: an accepted one (either direction) is reused and
/// never deleted by carveout; one still being set up by someone else blocks the migration.
pub(super) async fn check_existing_peering(
    net: &AccountClients,
    network_vpc: &str,
    target_vpc: &str,
    migration_id: &str,
) -> Result<String, StepError> {
    let found = peerings_between(net, network_vpc, target_vpc).await?;
    let id = |p: &aws_sdk_ec2::types::VpcPeeringConnection| {
        p.vpc_peering_connection_id()
            .unwrap_or_default()
            .to_string()
    };
    if let Some(p) = found
        .iter()
        .find(|p| has_tag(p.tags(), names::MIGRATION_TAG, migration_id))
    {
        return Ok(format!(
            "peering {} of this migration exists (a re-run)",
            id(p)
        ));
    }
    if let Some(p) = found
        .iter()
        .find(|p| PEERING_ACCEPTED.contains(&peering_status(p).as_str()))
    {
        return Ok(format!(
            "the VPCs are already peered by {}: it will be reused and left in place",
            id(p)
        ));
    }
    if let Some(p) = found.first() {
        return Err(StepError::conflict(format!(
            "VPC peering {} between {network_vpc} and {target_vpc} is {}, and this migration did not make it: AWS allows one peering per pair of VPCs; accept it (carveout then reuses it) or delete it, and run again",
            id(p),
            peering_status(p)
        )));
    }
    Ok("the VPCs are not peered yet: a peering will be requested".into())
}

pub(super) async fn resolve_subnets(
    plan: &Plan,
    tgt: &AccountClients,
) -> Result<Vec<SubnetFacts>, StepError> {
    let out = match tgt
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(plan.target.subnet_ids.clone()))
        .send()
        .await
        .named("ec2:DescribeSubnets", &tgt.role_arn)
    {
        Ok(out) => out,
        Err(f) if f.is_any(&["InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"]) => {
            return Err(StepError::invalid_plan(format!(
                "target.subnetIds: {} (account {})",
                f.message, plan.target.account_id
            )));
        }
        Err(f) => return Err(f.into()),
    };
    plan.target
        .subnet_ids
        .iter()
        .map(|id| {
            let s = out
                .subnets()
                .iter()
                .find(|s| s.subnet_id() == Some(id.as_str()))
                .ok_or_else(|| {
                    StepError::invalid_plan(format!(
                        "target subnet {id} does not exist in account {}",
                        plan.target.account_id
                    ))
                })?;
            if s.vpc_id() != Some(plan.target.vpc_id.as_str()) {
                return Err(StepError::invalid_plan(format!(
                    "target subnet {id} is in {} , not in target.vpcId {}",
                    s.vpc_id().unwrap_or_default(),
                    plan.target.vpc_id
                )));
            }
            Ok(SubnetFacts {
                subnet_id: id.clone(),
                availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                cidr: s.cidr_block().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// RAM cannot share a default security group or one in a default VPC.
pub(super) async fn check_shareable(
    net: &AccountClients,
    sgs: &[String],
    default_vpc: bool,
) -> Result<(), StepError> {
    const FIX: &str = "set options.shareSecurityGroupWithRam to false (the ingress rule references the group across the peering without RAM)";
    if default_vpc {
        return Err(StepError::invalid_plan(format!(
            "the ALB is in a default VPC, whose security groups RAM cannot share; {FIX}"
        )));
    }
    let out = net
        .ec2
        .describe_security_groups()
        .set_group_ids(Some(sgs.to_vec()))
        .send()
        .await
        .named("ec2:DescribeSecurityGroups", &net.role_arn)?;
    if let Some(g) = out
        .security_groups()
        .iter()
        .find(|g| g.group_name() == Some("default"))
    {
        return Err(StepError::invalid_plan(format!(
            "the ALB uses the default security group {} of its VPC, which RAM cannot share; {FIX}",
            g.group_id().unwrap_or_default()
        )));
    }
    Ok(())
}
