//! Preflight, the service's own outbound dependencies: the callees it talks to in the
//! ALB's VPC answer the new instances across the peering only if their subnets' route
//! tables have a route to the target VPC. The ALB's subnets' tables get one; a callee in
//! another subnet needs its table routed too (options.additionalRouteTableIds).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::RouteTable;

use crate::accounts::AccountClients;
use crate::aws::ec2::{filter, route_tables_of_subnets};
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;

use super::check::Verdict;
use super::references::Reference;

/// Where the callees run: subnet -> the callee groups with an interface there (every page
/// of DescribeNetworkInterfaces in the ALB's VPC), and the route table of each subnet.
pub(super) struct CalleeSubnets {
    pub groups_by_subnet: BTreeMap<String, BTreeSet<String>>,
    pub tables: Vec<RouteTable>,
}

/// The subnets of the ALB's VPC `vpc_id` where a callee of `found` has a network
/// interface, and their route tables (explicit or the VPC's main table). The plan's
/// additional tables are read too, to check they are of that VPC.
pub(super) async fn read_callee_subnets(
    net: &AccountClients,
    vpc_id: &str,
    found: &[Reference],
    plan: &Plan,
) -> Result<CalleeSubnets, StepError> {
    let callees: Vec<&str> = found
        .iter()
        .filter(|r| r.callee && r.account_id == net.account_id)
        .map(|r| r.group_id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut groups_by_subnet: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if !callees.is_empty() {
        let enis = net
            .ec2
            .describe_network_interfaces()
            .filters(filter("vpc-id", &[vpc_id]))
            .filters(filter("group-id", &callees))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeNetworkInterfaces", &net.role_arn)?;
        for eni in &enis {
            let Some(subnet) = eni.subnet_id() else {
                continue;
            };
            for g in eni.groups().iter().filter_map(|g| g.group_id()) {
                if callees.contains(&g) {
                    groups_by_subnet
                        .entry(subnet.to_string())
                        .or_default()
                        .insert(g.to_string());
                }
            }
        }
    }
    let subnets: Vec<String> = groups_by_subnet.keys().cloned().collect();
    let mut tables = if subnets.is_empty() {
        Vec::new()
    } else {
        route_tables_of_subnets(net, vpc_id, &subnets).await?
    };
    let extra = &plan.options.additional_route_table_ids;
    if !extra.is_empty() {
        let listed = net
            .ec2
            .describe_route_tables()
            .set_route_table_ids(Some(extra.clone()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeRouteTables", &net.role_arn)?;
        for id in extra {
            match listed
                .iter()
                .find(|t| t.route_table_id() == Some(id.as_str()))
            {
                Some(t) if t.vpc_id() == Some(vpc_id) => {
                    if !tables
                        .iter()
                        .any(|x| x.route_table_id() == Some(id.as_str()))
                    {
                        tables.push(t.clone());
                    }
                }
                _ => {
                    return Err(StepError::invalid_plan(format!(
                        "options.additionalRouteTableIds: {id} is not a route table of the ALB's VPC {vpc_id} (account {})",
                        plan.service.account_id
                    )));
                }
            }
        }
    }
    Ok(CalleeSubnets {
        groups_by_subnet,
        tables,
    })
}

/// Every callee subnet's route table is routed: one of the ALB's subnets' tables
/// (`routed`), or listed in options.additionalRouteTableIds. Ok: the verdict and the
/// additional table ids to route.
pub(super) fn callees_routed(
    plan: &Plan,
    seen: &CalleeSubnets,
    routed: &[String],
) -> Result<(String, Vec<String>), StepError> {
    let extra = &plan.options.additional_route_table_ids;
    let mut missing = Vec::new();
    for (subnet, groups) in &seen.groups_by_subnet {
        let table = seen
            .tables
            .iter()
            .find(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet.as_str()))
            })
            .or_else(|| {
                seen.tables
                    .iter()
                    .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
            });
        let Some(id) = table.and_then(|t| t.route_table_id()) else {
            continue;
        };
        if !routed.iter().any(|r| r == id) && !extra.iter().any(|r| r == id) {
            missing.push(format!(
                "subnet {subnet} (route table {id}) holds callee group(s) {}",
                groups.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if !missing.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "the service's callees answer the new instances only through a route to the target VPC, which their route tables will not have: {}; add each table to options.additionalRouteTableIds",
            missing.join("; ")
        )));
    }
    let verdict: Verdict = Ok(if seen.groups_by_subnet.is_empty() && extra.is_empty() {
        "no callee of the service runs outside the ALB's subnets' route tables".into()
    } else {
        format!(
            "the callees' subnets are routed: {} more route table(s) get the route to the target VPC",
            extra.len()
        )
    });
    Ok((verdict?, extra.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::RouteTableAssociation;

    fn table(id: &str, subnet: &str) -> RouteTable {
        RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(RouteTableAssociation::builder().subnet_id(subnet).build())
            .build()
    }

    #[test]
    fn a_callee_in_a_subnet_whose_table_gets_no_route_is_named_until_the_plan_routes_it() {
        let seen = CalleeSubnets {
            groups_by_subnet: BTreeMap::from([(
                "subnet-db".to_string(),
                BTreeSet::from(["sg-db".to_string()]),
            )]),
            tables: vec![table("rtb-0123456789abcdef0", "subnet-db")],
        };
        let mut plan = crate::test_support::plan();
        let err = callees_routed(&plan, &seen, &["rtb-alb".to_string()]).unwrap_err();
        assert!(
            err.to_string().contains(
                "subnet subnet-db (route table rtb-0123456789abcdef0) holds callee group(s) sg-db"
            ),
            "{err}"
        );
        assert!(
            callees_routed(&plan, &seen, &["rtb-0123456789abcdef0".to_string()]).is_ok(),
            "already routed"
        );
        plan.options.additional_route_table_ids = vec!["rtb-0123456789abcdef0".into()];
        let (_, extra) = callees_routed(&plan, &seen, &["rtb-alb".to_string()]).unwrap();
        assert_eq!(extra, ["rtb-0123456789abcdef0"]);
    }
}
