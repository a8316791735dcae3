//! VPC peering connections: where one is in its life, and the lookups that find them
//! (between two VPCs, every one a VPC is part of, the requests an account has pending,
//! the one a migration created).
//!
//! EC2 may ignore a filter it does not index (the emulator ignores them all), so every
//! lookup also checks the ends and the status itself.

use aws_sdk_ec2::types::VpcPeeringConnection;

use super::ec2::{filter, has_tag, migration_filter};
use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};
use crate::names::MIGRATION_TAG;

/// Peering states after which a connection never carries traffic (AWS keeps showing
/// them for a while; `deleting` leads only to `deleted`).
pub const PEERING_TERMINAL: [&str; 5] = ["deleting", "deleted", "rejected", "failed", "expired"];

/// Where a peering connection is in its life, from its status code
/// (VpcPeeringConnectionStateReasonCode: initiating-request, pending-acceptance,
/// provisioning, active, deleting, deleted, rejected, failed, expired;
/// <https://docs.aws.amazon.com/vpc/latest/peering/vpc-peering-basics.html#vpc-peering-lifecycle>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeeringPhase {
    /// `initiating-request`: not acceptable yet.
    Initiating,
    /// `pending-acceptance`: the accepter may accept.
    AwaitingAcceptance,
    /// `provisioning`: accepted, not carrying traffic yet.
    Provisioning,
    /// `active`.
    Active,
    /// One of [`PEERING_TERMINAL`]: it never carries traffic.
    Ended(String),
    /// A code AWS did not document when this was written: treated as a failure.
    Unknown(String),
}

pub fn peering_phase(code: &str) -> PeeringPhase {
    match code {
        "initiating-request" => PeeringPhase::Initiating,
        "pending-acceptance" => PeeringPhase::AwaitingAcceptance,
        "provisioning" => PeeringPhase::Provisioning,
        "active" => PeeringPhase::Active,
        c if PEERING_TERMINAL.contains(&c) => PeeringPhase::Ended(c.to_string()),
        c => PeeringPhase::Unknown(c.to_string()),
    }
}

/// Accepted peerings (active, or provisioning on the way to active): reusable.
pub const PEERING_ACCEPTED: [&str; 2] = ["active", "provisioning"];

pub fn peering_status(p: &VpcPeeringConnection) -> String {
    p.status()
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

/// The peering this migration created, by tag, for listings (report, rollback). Reads
/// every page.
pub async fn tagged_peerings(
    net: &AccountClients,
    migration_id: &str,
) -> Result<Vec<String>, StepError> {
    let listed = net
        .ec2
        .describe_vpc_peering_connections()
        .filters(migration_filter(migration_id))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVpcPeeringConnections", &net.role_arn)?;
    Ok(listed
        .iter()
        .filter(|p| {
            has_tag(p.tags(), MIGRATION_TAG, migration_id)
                && !PEERING_TERMINAL.contains(&peering_status(p).as_str())
        })
        .filter_map(|p| p.vpc_peering_connection_id().map(str::to_string))
        .collect())
}

/// Peerings not ended that `vpc` is part of (requester or accepter), with `peer` at the
/// other end when given: between two VPCs AWS allows one such connection, requested
/// from either side. Reads every page.
pub async fn peerings_of(
    c: &AccountClients,
    vpc: &str,
    peer: Option<&str>,
) -> Result<Vec<VpcPeeringConnection>, StepError> {
    let mut found: Vec<VpcPeeringConnection> = Vec::new();
    for (requester, accepter) in [(Some(vpc), peer), (peer, Some(vpc))] {
        let mut call = c.ec2.describe_vpc_peering_connections();
        if let Some(r) = requester {
            call = call.filters(filter("requester-vpc-info.vpc-id", &[r]));
        }
        if let Some(a) = accepter {
            call = call.filters(filter("accepter-vpc-info.vpc-id", &[a]));
        }
        let listed = call
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeVpcPeeringConnections", &c.role_arn)?;
        for p in listed {
            let ends = (
                p.requester_vpc_info().and_then(|v| v.vpc_id()),
                p.accepter_vpc_info().and_then(|v| v.vpc_id()),
            );
            let wanted = ends.0.is_some()
                && ends.0 == requester.or(ends.0)
                && ends.1.is_some()
                && ends.1 == accepter.or(ends.1);
            let fresh = !found
                .iter()
                .any(|f| f.vpc_peering_connection_id() == p.vpc_peering_connection_id());
            if wanted && fresh && !PEERING_TERMINAL.contains(&peering_status(&p).as_str()) {
                found.push(p);
            }
        }
    }
    Ok(found)
}

/// Peerings between two VPCs that are, or may become, usable: [`peerings_of`] `vpc_a`
/// with `vpc_b`.
pub async fn peerings_between(
    clients: &AccountClients,
    vpc_a: &str,
    vpc_b: &str,
) -> Result<Vec<VpcPeeringConnection>, StepError> {
    peerings_of(clients, vpc_a, Some(vpc_b)).await
}

/// The VPC at the other end of `p` from `vpc`, if `vpc` is one of its ends.
pub fn other_side(p: &VpcPeeringConnection, vpc: &str) -> Option<String> {
    let requester = p.requester_vpc_info().and_then(|v| v.vpc_id());
    let accepter = p.accepter_vpc_info().and_then(|v| v.vpc_id());
    match (requester, accepter) {
        (Some(r), Some(a)) if r == vpc => Some(a.to_string()),
        (Some(r), Some(a)) if a == vpc => Some(r.to_string()),
        _ => None,
    }
}

/// How many peering requests the account made that wait for acceptance (or are still
/// being initiated), from any of its VPCs: what its quota of outstanding requests counts
/// (vpc L-DC9F7029). Reads every page.
pub async fn pending_requests(c: &AccountClients, account: &str) -> Result<usize, StepError> {
    let listed = c
        .ec2
        .describe_vpc_peering_connections()
        .filters(filter(
            "status-code",
            &["initiating-request", "pending-acceptance"],
        ))
        .filters(filter("requester-vpc-info.owner-id", &[account]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVpcPeeringConnections", &c.role_arn)?;
    Ok(listed
        .iter()
        .filter(|p| {
            matches!(
                peering_status(p).as_str(),
                "initiating-request" | "pending-acceptance"
            ) && p.requester_vpc_info().and_then(|v| v.owner_id()) == Some(account)
        })
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::clients;
    use aws_sdk_ec2::operation::describe_vpc_peering_connections::DescribeVpcPeeringConnectionsOutput;
    use aws_sdk_ec2::types::{
        VpcPeeringConnectionStateReason, VpcPeeringConnectionStateReasonCode as Code,
        VpcPeeringConnectionVpcInfo as Info,
    };
    use aws_smithy_mocks::mock;

    fn pcx(id: &str, requester: (&str, &str), accepter: &str, code: Code) -> VpcPeeringConnection {
        VpcPeeringConnection::builder()
            .vpc_peering_connection_id(id)
            .requester_vpc_info(
                Info::builder()
                    .vpc_id(requester.0)
                    .owner_id(requester.1)
                    .build(),
            )
            .accepter_vpc_info(Info::builder().vpc_id(accepter).build())
            .status(
                VpcPeeringConnectionStateReason::builder()
                    .code(code)
                    .build(),
            )
            .build()
    }

    /// An EC2 that ignores every filter (as the emulator does) answers the same list twice.
    fn unfiltered(n: usize) -> Vec<aws_smithy_mocks::Rule> {
        (0..n)
            .map(|_| {
                mock!(aws_sdk_ec2::Client::describe_vpc_peering_connections).then_output(|| {
                    DescribeVpcPeeringConnectionsOutput::builder()
                        .vpc_peering_connections(pcx(
                            "pcx-a",
                            ("vpc-n", "1"),
                            "vpc-t",
                            Code::Active,
                        ))
                        .vpc_peering_connections(pcx(
                            "pcx-b",
                            ("vpc-t", "2"),
                            "vpc-n",
                            Code::PendingAcceptance,
                        ))
                        .vpc_peering_connections(pcx(
                            "pcx-c",
                            ("vpc-x", "1"),
                            "vpc-y",
                            Code::PendingAcceptance,
                        ))
                        .vpc_peering_connections(pcx(
                            "pcx-d",
                            ("vpc-n", "1"),
                            "vpc-z",
                            Code::Deleted,
                        ))
                        .build()
                })
            })
            .collect()
    }

    #[tokio::test]
    async fn a_vpcs_peerings_are_those_it_is_an_end_of_not_ended_each_once() {
        let rules = unfiltered(2);
        let c = clients(&rules.iter().collect::<Vec<_>>(), &[], &[]);
        let found = peerings_of(&c, "vpc-n", None).await.unwrap();
        let ids: Vec<_> = found
            .iter()
            .filter_map(|p| p.vpc_peering_connection_id())
            .collect();
        assert_eq!(ids, vec!["pcx-a", "pcx-b"]);
        assert_eq!(other_side(&found[1], "vpc-n").as_deref(), Some("vpc-t"));
    }

    #[tokio::test]
    async fn peerings_between_two_vpcs_match_both_ends_whichever_side_requested() {
        let rules = unfiltered(2);
        let c = clients(&rules.iter().collect::<Vec<_>>(), &[], &[]);
        let found = peerings_between(&c, "vpc-t", "vpc-n").await.unwrap();
        let ids: Vec<_> = found
            .iter()
            .filter_map(|p| p.vpc_peering_connection_id())
            .collect();
        assert_eq!(ids, vec!["pcx-b", "pcx-a"]);
    }

    #[tokio::test]
    async fn pending_requests_count_the_accounts_own_from_any_of_its_vpcs() {
        let rules = unfiltered(1);
        let c = clients(&rules.iter().collect::<Vec<_>>(), &[], &[]);
        // pcx-c (vpc-x, not the ALB's) counts; pcx-b was requested by account 2.
        assert_eq!(pending_requests(&c, "1").await.unwrap(), 1);
    }
}
