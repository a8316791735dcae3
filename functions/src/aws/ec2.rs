//! EC2 lookups shared by several steps: tags, VPC CIDRs, the route tables of subnets.
use aws_sdk_ec2 as ec2;
use ec2::types::{Filter, ResourceType, Route, RouteTable, Tag, TagSpecification};

use crate::accounts::AccountClients;
use crate::error::{PlanIdResultExt, SdkResultExt, StepError};
use crate::names::MIGRATION_TAG;

pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// Tags for a created resource: the migration tag plus `extra`.
fn tags(migration_id: &str, extra: &[(&str, &str)]) -> Vec<Tag> {
    std::iter::once(tag(MIGRATION_TAG, migration_id))
        .chain(extra.iter().map(|(k, v)| tag(k, v)))
        .collect()
}

pub fn tag_spec(
    kind: ResourceType,
    migration_id: &str,
    extra: &[(&str, &str)],
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags(migration_id, extra)))
        .build()
}

pub fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

pub fn migration_filter(migration_id: &str) -> Filter {
    filter(&format!("tag:{MIGRATION_TAG}"), &[migration_id])
}

/// True when the tag list carries `key = value` (checked on the client too: not every
/// emulator honours every filter, and a wrong match would be expensive).
pub fn has_tag(tags: &[Tag], key: &str, value: &str) -> bool {
    tags.iter()
        .any(|t| t.key() == Some(key) && t.value() == Some(value))
}

/// The associated IPv4 CIDR blocks of a VPC and whether it is the default VPC (reads every
/// page of DescribeVpcs).
pub async fn vpc_cidrs(
    c: &AccountClients,
    vpc_id: &str,
    field: &str,
) -> Result<(Vec<String>, bool), StepError> {
    let vpcs = c
        .ec2
        .describe_vpcs()
        .vpc_ids(vpc_id)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let vpcs = vpcs.named("ec2:DescribeVpcs", &c.role_arn).plan_id(
        &["InvalidVpcID.NotFound", "InvalidVpcID.Malformed"],
        |_| {
            format!(
                "{field} {vpc_id} does not exist in account {}",
                c.account_id
            )
        },
    )?;
    let vpc = vpcs.first().ok_or_else(|| {
        StepError::invalid_plan(format!(
            "{field} {vpc_id} does not exist in account {}",
            c.account_id
        ))
    })?;
    let mut cidrs: Vec<String> = vpc
        .cidr_block_association_set()
        .iter()
        .filter(|a| {
            a.cidr_block_state()
                .and_then(|s| s.state())
                .is_none_or(|s| s.as_str() == "associated")
        })
        .filter_map(|a| a.cidr_block().map(str::to_string))
        .collect();
    if cidrs.is_empty() {
        cidrs.extend(vpc.cidr_block().map(str::to_string));
    }
    Ok((cidrs, vpc.is_default().unwrap_or(false)))
}

/// The route tables that carry the traffic of `subnet_ids`: each subnet's explicitly
/// associated table, or the VPC's main table for subnets without one. Reads every page.
pub async fn route_tables_of_subnets(
    c: &AccountClients,
    vpc_id: &str,
    subnet_ids: &[String],
) -> Result<Vec<RouteTable>, StepError> {
    let ids: Vec<&str> = subnet_ids.iter().map(String::as_str).collect();
    let explicit = c
        .ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", &ids))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeRouteTables", &c.role_arn)?;
    let mut tables: Vec<RouteTable> = Vec::new();
    let mut uncovered: Vec<&str> = Vec::new();
    for subnet in &ids {
        let table = explicit.iter().find(|t| {
            t.vpc_id() == Some(vpc_id)
                && t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(subnet))
        });
        match table {
            Some(t) => {
                if !tables
                    .iter()
                    .any(|x| x.route_table_id() == t.route_table_id())
                {
                    tables.push(t.clone());
                }
            }
            None => uncovered.push(subnet),
        }
    }
    if !uncovered.is_empty() {
        let main = c
            .ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &[vpc_id]))
            .filters(filter("association.main", &["true"]))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeRouteTables", &c.role_arn)?;
        let main = main.iter().find(|t| {
            t.vpc_id() == Some(vpc_id) && t.associations().iter().any(|a| a.main() == Some(true))
        });
        match main {
            Some(t) => {
                if !tables
                    .iter()
                    .any(|x| x.route_table_id() == t.route_table_id())
                {
                    tables.push(t.clone());
                }
            }
            None => {
                return Err(StepError::invalid_plan(format!(
                    "no route table serves subnets {} of {vpc_id} in account {} (no association and no main table)",
                    uncovered.join(", "),
                    c.account_id
                )));
            }
        }
    }
    Ok(tables)
}

/// Where the route of `table` for exactly `cidr` sends it, if there is one.
pub fn route_target(table: &RouteTable, cidr: &str) -> Option<String> {
    table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some(cidr))
        .map(route_target_of)
}

/// The target of a route: a peering, gateway, NAT or transit gateway, interface,
/// instance… (`blackhole` when AWS names none).
pub fn route_target_of(r: &Route) -> String {
    r.vpc_peering_connection_id()
        .or(r.gateway_id())
        .or(r.nat_gateway_id())
        .or(r.transit_gateway_id())
        .or(r.network_interface_id())
        .or(r.instance_id())
        .or(r.local_gateway_id())
        .or(r.carrier_gateway_id())
        .or(r.core_network_arn())
        .unwrap_or("blackhole")
        .to_string()
}

/// IPv4 CIDR overlap, for the check AWS only makes when the peering is already requested.
pub fn cidrs_overlap(a: &str, b: &str) -> bool {
    match (parse_cidr(a), parse_cidr(b)) {
        (Some((na, la)), Some((nb, lb))) => {
            let len = la.min(lb);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (na & mask) == (nb & mask)
        }
        _ => false,
    }
}

/// True when every address of `inner` is in `outer` (IPv4; false when either is not a
/// CIDR).
pub fn cidr_contains(outer: &str, inner: &str) -> bool {
    match (parse_cidr(outer), parse_cidr(inner)) {
        (Some((_, lo)), Some((_, li))) if lo <= li => cidrs_overlap(outer, inner),
        _ => false,
    }
}

/// True when address `ip` (IPv4 or IPv6) is in `cidr` of the same family.
pub fn address_in(cidr: &str, ip: &str) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u32>() else {
        return false;
    };
    match (
        net.parse::<std::net::IpAddr>(),
        ip.parse::<std::net::IpAddr>(),
    ) {
        (Ok(std::net::IpAddr::V4(n)), Ok(std::net::IpAddr::V4(a))) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (Ok(std::net::IpAddr::V6(n)), Ok(std::net::IpAddr::V6(a))) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

/// How many snapshots the account owns that are still `pending`: what its quota of
/// pending snapshots counts (ebs L-94D7AB7D, 100, not adjustable,
/// <https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html>). Reads
/// every page.
pub async fn pending_snapshots(c: &AccountClients) -> Result<usize, StepError> {
    let listed = c
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter("status", &["pending"]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeSnapshots", &c.role_arn)?;
    Ok(listed
        .iter()
        .filter(|s| s.state().is_some_and(|st| st.as_str() == "pending"))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{clients, two_pages};
    use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
    use aws_sdk_ec2::types::RouteTableAssociation;
    use aws_smithy_mocks::mock;

    fn rt(id: &str, subnet: Option<&str>, main: bool) -> RouteTable {
        RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(
                RouteTableAssociation::builder()
                    .set_subnet_id(subnet.map(str::to_string))
                    .main(main)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn subnets_without_their_own_table_use_the_main_table() {
        let explicit = mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| {
            DescribeRouteTablesOutput::builder()
                .route_tables(rt("rtb-a", Some("subnet-a"), false))
                .build()
        });
        let main = mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| {
            DescribeRouteTablesOutput::builder()
                .route_tables(rt("rtb-main", None, true))
                .build()
        });
        let c = clients(&[&explicit, &main], &[], &[]);
        let tables = route_tables_of_subnets(&c, "vpc-1", &["subnet-a".into(), "subnet-b".into()])
            .await
            .unwrap();
        let ids: Vec<_> = tables.iter().filter_map(|t| t.route_table_id()).collect();
        assert_eq!(ids, vec!["rtb-a", "rtb-main"]);
    }

    #[tokio::test]
    async fn a_subnet_whose_table_is_on_the_second_page_does_not_get_the_main_table() {
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_route_tables,
            next_token => next_token,
            DescribeRouteTablesOutput::builder().route_tables(rt("rtb-a", Some("subnet-a"), false)),
            DescribeRouteTablesOutput::builder().route_tables(rt("rtb-b", Some("subnet-b"), false)),
        );
        let c = clients(&[&first, &second], &[], &[]);
        let tables = route_tables_of_subnets(&c, "vpc-1", &["subnet-a".into(), "subnet-b".into()])
            .await
            .unwrap();
        let ids: Vec<_> = tables.iter().filter_map(|t| t.route_table_id()).collect();
        assert_eq!(ids, vec!["rtb-a", "rtb-b"]);
    }

    #[tokio::test]
    async fn no_table_at_all_is_an_invalid_plan_naming_the_subnets() {
        let none = mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| DescribeRouteTablesOutput::builder().build());
        let none_main = mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| DescribeRouteTablesOutput::builder().build());
        let c = clients(&[&none, &none_main], &[], &[]);
        let err = route_tables_of_subnets(&c, "vpc-1", &["subnet-b".into()])
            .await
            .unwrap_err();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        assert!(err.to_string().contains("subnet-b"));
    }

    #[test]
    fn overlap_is_detected_whatever_the_prefix_lengths() {
        assert!(cidrs_overlap("10.0.0.0/16", "10.0.5.0/24"));
        assert!(cidrs_overlap("10.0.5.0/24", "10.0.0.0/16"));
        assert!(!cidrs_overlap("10.0.0.0/16", "10.1.0.0/16"));
        assert!(cidrs_overlap("0.0.0.0/0", "192.168.0.0/16"));
        assert!(!cidrs_overlap("bad", "10.0.0.0/8"));
    }

    #[test]
    fn an_address_is_in_a_cidr_of_its_own_family_only() {
        assert!(address_in("10.1.0.0/16", "10.1.200.7"));
        assert!(!address_in("10.1.0.0/16", "10.2.0.1"));
        assert!(address_in("0.0.0.0/0", "192.0.2.1"));
        assert!(address_in("2600:1f18:abcd::/56", "2600:1f18:abcd:ff::1"));
        assert!(!address_in("2600:1f18:abcd::/56", "2600:1f18:abce::1"));
        assert!(!address_in("10.1.0.0/16", "::ffff:10.1.0.1"));
    }

    #[test]
    fn containment_is_one_way() {
        assert!(cidr_contains("10.0.0.0/8", "10.1.0.0/16"));
        assert!(cidr_contains("10.1.0.0/16", "10.1.0.0/16"));
        assert!(!cidr_contains("10.1.0.0/16", "10.0.0.0/8"));
        assert!(!cidr_contains("172.16.0.0/12", "10.1.0.0/16"));
    }
}
