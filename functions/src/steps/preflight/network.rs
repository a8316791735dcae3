//! Preflight, the networks: CIDRs and routes of both VPCs, an existing peering between
//! them, the target subnets, and (only with options.shareSecurityGroupWithRam) whether RAM
//! can share the ALB's groups.

use aws_sdk_ec2::types::{RouteTable, SecurityGroup, VpcPeeringConnection};

use crate::accounts::AccountClients;
use crate::aws::ec2::{cidr_contains, cidrs_overlap, has_tag, route_target_of};
use crate::aws::peerings::{PEERING_ACCEPTED, peering_status};
use crate::error::{PlanIdResultExt, SdkResultExt, StepError};
use crate::names;
use crate::plan::Plan;
use crate::state::SubnetFacts;

use super::check::Verdict;

/// One VPC as Preflight read it: its id, CIDRs and the route tables of the subnets
/// involved (the ALB's, or the target subnets).
pub(super) struct VpcView<'a> {
    pub vpc_id: &'a str,
    pub cidrs: &'a [String],
    pub tables: &'a [RouteTable],
}

/// VPC peering needs non-overlapping CIDRs
/// (<https://docs.aws.amazon.com/vpc/latest/peering/vpc-peering-basics.html#vpc-peering-limitations>).
pub(super) fn cidrs_disjoint(net: &VpcView, tgt: &VpcView) -> Verdict {
    for a in net.cidrs {
        for b in tgt.cidrs {
            if cidrs_overlap(a, b) {
                return Err(StepError::invalid_plan(format!(
                    "the ALB's VPC {} ({a}) overlaps the target VPC {} ({b}): VPC peering needs non-overlapping CIDRs; pick a target VPC with another range",
                    net.vpc_id, tgt.vpc_id
                )));
            }
        }
    }
    Ok(format!(
        "CIDRs do not overlap ({} / {})",
        net.cidrs.join(", "),
        tgt.cidrs.join(", ")
    ))
}

/// Every route of the tables involved whose destination is the other side's CIDR, a range
/// containing it, or a range inside it, must go through this pair's peering (`pair`: the
/// peerings between the two VPCs, either direction). Otherwise, in AWS's longest-prefix
/// routing (<https://docs.aws.amazon.com/vpc/latest/userguide/route-tables-priority.html>):
/// the same CIDR elsewhere makes AddRoutes collide; a wider range elsewhere (10.0.0.0/8 to
/// a transit gateway) would lose that part of its traffic to the more specific peering
/// route, taking it from whatever it reaches today; a narrower range elsewhere keeps part
/// of the new instances' addresses away from the peering. The default route (0.0.0.0/0)
/// is the one wide range left alone: it is the fallback every more specific route narrows.
pub(super) fn routes_free(net: &VpcView, tgt: &VpcView, pair: &[&str]) -> Verdict {
    for (from, to, side, other) in [
        (net, tgt, "network", "target"),
        (tgt, net, "target", "network"),
    ] {
        for table in from.tables {
            for route in table.routes() {
                let Some(dest) = route.destination_cidr_block() else {
                    continue;
                };
                let target = route_target_of(route);
                if dest == "0.0.0.0/0" || pair.contains(&target.as_str()) {
                    continue;
                }
                for cidr in to.cidrs {
                    let relation = if dest == cidr {
                        "is"
                    } else if cidr_contains(dest, cidr) {
                        "contains"
                    } else if cidr_contains(cidr, dest) {
                        "is inside"
                    } else {
                        continue;
                    };
                    return Err(StepError::conflict(format!(
                        "route table {} in the {side} account sends {dest} (which {relation} the {other} VPC's {cidr}) to {target}: the peering's route to {cidr} would {}; remove or narrow that route, or choose another VPC",
                        table.route_table_id().unwrap_or_default(),
                        match relation {
                            "is" => "collide with it",
                            "contains" =>
                                "take that part of its traffic away from where it goes today",
                            _ => "lose part of the new instances' addresses to it",
                        }
                    )));
                }
            }
        }
    }
    Ok("no route of either side sends the other VPC's range, or a range around or inside it, anywhere but this pair's peering".into())
}

/// AWS allows one peering per pair of VPCs: an accepted one (either direction) is reused and
/// never deleted by carveout; one still being set up by someone else blocks the migration.
/// `found`: the peerings between the two VPCs, either direction.
pub(super) fn existing_peering(
    found: &[VpcPeeringConnection],
    network_vpc: &str,
    target_vpc: &str,
    migration_id: &str,
) -> Verdict {
    let id = |p: &VpcPeeringConnection| {
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

/// The plan's target subnets (every page of DescribeSubnets), each in the target VPC.
pub(super) async fn resolve_subnets(
    plan: &Plan,
    tgt: &AccountClients,
) -> Result<Vec<SubnetFacts>, StepError> {
    let subnets = tgt
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(plan.target.subnet_ids.clone()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeSubnets", &tgt.role_arn)
        .plan_id(
            &["InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"],
            |f| {
                format!(
                    "target.subnetIds: {} (account {})",
                    f.message, plan.target.account_id
                )
            },
        )?;
    plan.target
        .subnet_ids
        .iter()
        .map(|id| {
            let s = subnets
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

/// The ALB's security groups, for the RAM check (every page).
pub(super) async fn read_groups(
    net: &AccountClients,
    sgs: &[String],
) -> Result<Vec<SecurityGroup>, StepError> {
    Ok(net
        .ec2
        .describe_security_groups()
        .set_group_ids(Some(sgs.to_vec()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeSecurityGroups", &net.role_arn)?)
}

/// RAM cannot share a default security group or one in a default VPC
/// (<https://docs.aws.amazon.com/vpc/latest/userguide/security-group-sharing.html>).
pub(super) fn shareable(default_vpc: bool, groups: &[SecurityGroup]) -> Verdict {
    const FIX: &str = "set options.shareSecurityGroupWithRam to false (the ingress rule references the group across the peering without RAM)";
    if default_vpc {
        return Err(StepError::invalid_plan(format!(
            "the ALB is in a default VPC, whose security groups RAM cannot share; {FIX}"
        )));
    }
    if let Some(g) = groups.iter().find(|g| g.group_name() == Some("default")) {
        return Err(StepError::invalid_plan(format!(
            "the ALB uses the default security group {} of its VPC, which RAM cannot share; {FIX}",
            g.group_id().unwrap_or_default()
        )));
    }
    Ok("the ALB's security groups can be shared with RAM".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        Route, Tag, VpcPeeringConnectionStateReason, VpcPeeringConnectionStateReasonCode,
    };

    fn table(id: &str, routes: &[(&str, &str)]) -> RouteTable {
        let mut t = RouteTable::builder().route_table_id(id);
        for (cidr, target) in routes {
            let r = Route::builder().destination_cidr_block(*cidr);
            t = t.routes(if target.starts_with("pcx-") {
                r.vpc_peering_connection_id(*target).build()
            } else {
                r.gateway_id(*target).build()
            });
        }
        t.build()
    }

    #[tokio::test]
    async fn target_subnets_on_every_page_are_resolved() {
        use crate::test_support::{clients, plan, two_pages};
        use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
        use aws_sdk_ec2::types::Subnet;
        let subnet = |id: &str, zone: &str| {
            Subnet::builder()
                .subnet_id(id)
                .vpc_id("vpc-0123456789abcdef0")
                .availability_zone(zone)
                .build()
        };
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_subnets,
            next_token => next_token,
            DescribeSubnetsOutput::builder().subnets(subnet("subnet-a", "ap-northeast-1a")),
            DescribeSubnetsOutput::builder().subnets(subnet("subnet-c", "ap-northeast-1c")),
        );
        let mut p = plan();
        p.target.subnet_ids = vec!["subnet-a".into(), "subnet-c".into()];
        let resolved = resolve_subnets(&p, &clients(&[&first, &second], &[], &[]))
            .await
            .unwrap();
        let zones: Vec<&str> = resolved
            .iter()
            .map(|s| s.availability_zone.as_str())
            .collect();
        assert_eq!(zones, ["ap-northeast-1a", "ap-northeast-1c"]);
    }

    fn view<'a>(vpc: &'a str, cidrs: &'a [String], tables: &'a [RouteTable]) -> VpcView<'a> {
        VpcView {
            vpc_id: vpc,
            cidrs,
            tables,
        }
    }

    #[test]
    fn overlapping_cidrs_are_refused_naming_both_ranges() {
        let (a, b) = (
            vec!["10.0.0.0/16".to_string()],
            vec!["10.0.128.0/17".into()],
        );
        let err = cidrs_disjoint(&view("vpc-n", &a, &[]), &view("vpc-t", &b, &[])).unwrap_err();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        assert!(err.to_string().contains("10.0.128.0/17"), "{err}");
        let c = vec!["10.1.0.0/16".to_string()];
        assert!(cidrs_disjoint(&view("vpc-n", &a, &[]), &view("vpc-t", &c, &[])).is_ok());
    }

    #[test]
    fn a_route_to_the_other_side_through_anything_but_a_peering_is_a_conflict() {
        let (a, b) = (vec!["10.0.0.0/16".to_string()], vec!["10.1.0.0/16".into()]);
        let tgw = [table("rtb-t", &[("10.0.0.0/16", "tgw-1")])];
        let err = routes_free(&view("vpc-n", &a, &[]), &view("vpc-t", &b, &tgw), &[]).unwrap_err();
        assert_eq!(err.name(), "CarveOut.Conflict");
        assert!(
            err.to_string().contains("rtb-t in the target account"),
            "{err}"
        );
        let pcx = [table("rtb-n", &[("10.1.0.0/16", "pcx-1")])];
        assert!(
            routes_free(
                &view("vpc-n", &a, &pcx),
                &view("vpc-t", &b, &[]),
                &["pcx-1"]
            )
            .is_ok()
        );
        // Another peering's route to the same range collides.
        let err = routes_free(&view("vpc-n", &a, &pcx), &view("vpc-t", &b, &[]), &[]).unwrap_err();
        assert!(err.to_string().contains("to pcx-1"), "{err}");
    }

    #[test]
    fn wider_and_narrower_routes_elsewhere_conflict_but_the_default_route_does_not() {
        let (a, b) = (vec!["10.0.0.0/16".to_string()], vec!["10.1.0.0/16".into()]);
        let wide = [table(
            "rtb-n",
            &[("10.0.0.0/8", "tgw-1"), ("0.0.0.0/0", "igw-1")],
        )];
        let err = routes_free(&view("vpc-n", &a, &wide), &view("vpc-t", &b, &[]), &[]).unwrap_err();
        assert!(
            err.to_string().contains(
                "sends 10.0.0.0/8 (which contains the target VPC's 10.1.0.0/16) to tgw-1"
            ),
            "{err}"
        );
        let narrow = [table("rtb-n", &[("10.1.5.0/24", "tgw-1")])];
        let err =
            routes_free(&view("vpc-n", &a, &narrow), &view("vpc-t", &b, &[]), &[]).unwrap_err();
        assert!(err.to_string().contains("is inside"), "{err}");
        let default = [table("rtb-n", &[("0.0.0.0/0", "igw-1")])];
        assert!(routes_free(&view("vpc-n", &a, &default), &view("vpc-t", &b, &[]), &[]).is_ok());
    }

    fn peering(
        id: &str,
        status: VpcPeeringConnectionStateReasonCode,
        tag: Option<&str>,
    ) -> VpcPeeringConnection {
        let mut p = VpcPeeringConnection::builder()
            .vpc_peering_connection_id(id)
            .status(
                VpcPeeringConnectionStateReason::builder()
                    .code(status)
                    .build(),
            );
        if let Some(m) = tag {
            p = p.tags(Tag::builder().key(names::MIGRATION_TAG).value(m).build());
        }
        p.build()
    }

    #[test]
    fn an_accepted_peering_is_reused_and_a_pending_foreign_one_blocks() {
        use VpcPeeringConnectionStateReasonCode as S;
        let ok = existing_peering(
            &[peering("pcx-a", S::Active, None)],
            "vpc-n",
            "vpc-t",
            "m-1",
        );
        assert!(ok.unwrap().contains("reused and left in place"));
        let ours = existing_peering(
            &[peering("pcx-o", S::PendingAcceptance, Some("m-1"))],
            "vpc-n",
            "vpc-t",
            "m-1",
        );
        assert!(ours.unwrap().contains("a re-run"));
        let err = existing_peering(
            &[peering("pcx-x", S::PendingAcceptance, None)],
            "vpc-n",
            "vpc-t",
            "m-1",
        )
        .unwrap_err();
        assert_eq!(err.name(), "CarveOut.Conflict");
        assert!(err.to_string().contains("pcx-x"), "{err}");
        assert!(
            existing_peering(&[], "vpc-n", "vpc-t", "m-1")
                .unwrap()
                .contains("not peered yet")
        );
    }

    #[test]
    fn ram_cannot_share_default_groups_or_groups_of_a_default_vpc() {
        let default = SecurityGroup::builder()
            .group_id("sg-d")
            .group_name("default")
            .build();
        let alb = SecurityGroup::builder()
            .group_id("sg-a")
            .group_name("alb")
            .build();
        assert!(shareable(true, std::slice::from_ref(&alb)).is_err());
        let err = shareable(false, &[alb.clone(), default]).unwrap_err();
        assert!(err.to_string().contains("sg-d"), "{err}");
        assert!(shareable(false, &[alb]).is_ok());
    }
}
