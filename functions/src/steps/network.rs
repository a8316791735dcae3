//! The network branch: peering (request; accept and wait) and routes on both sides.

use aws_sdk_ec2::types::{ResourceType, VpcPeeringConnection};

use crate::accounts::AccountClients;
use crate::aws::ec2::{has_tag, route_target, tag_spec};
use crate::aws::peerings::{
    PEERING_ACCEPTED, PeeringPhase, peering_phase, peering_status as status, peerings_between,
};
use crate::error::{FreshIdResultExt, SdkResultExt, StepError};
use crate::idiom::{Poll, find_or_create, poll_once, watching};
use crate::names::{self, MIGRATION_TAG};
use crate::state::{PeeringOut, RouteOut, State, now_epoch_ms};

use crate::context::Context;

/// Peerings between the two VPCs that are, or may become, usable (either direction).
async fn live_peerings(
    state: &State,
    net: &AccountClients,
) -> Result<Vec<VpcPeeringConnection>, StepError> {
    let facts = state.facts()?;
    peerings_between(net, &facts.network.vpc_id, &facts.target.vpc_id).await
}

pub async fn create_peering(ctx: &Context, state: State) -> Result<PeeringOut, StepError> {
    let facts = state.facts()?;
    let accounts = ctx.accounts(&state.plan);
    let net = accounts.network().await?;
    let id = &state.plan.migration_id;
    let ensured = find_or_create(
        "VPC peering",
        || async {
            let live = live_peerings(&state, &net).await?;
            let ours = live.iter().find(|p| has_tag(p.tags(), MIGRATION_TAG, id));
            // An accepted peering of the same two VPCs made by someone else is reused, and
            // remembered as not ours (cleanup must never delete it).
            let other = live
                .iter()
                .find(|p| PEERING_ACCEPTED.contains(&status(p).as_str()));
            Ok(ours
                .map(|p| (p, false))
                .or(other.map(|p| (p, true)))
                .and_then(|(p, reused)| {
                    Some(PeeringOut {
                        peering_connection_id: p.vpc_peering_connection_id()?.to_string(),
                        reused,
                        changed_at_ms: Some(now_epoch_ms()),
                    })
                }))
        },
        || async {
            let out = net
                .ec2
                .create_vpc_peering_connection()
                .vpc_id(&facts.network.vpc_id)
                .peer_vpc_id(&facts.target.vpc_id)
                .peer_owner_id(&state.plan.target.account_id)
                .peer_region(accounts.region())
                .tag_specifications(tag_spec(
                    ResourceType::VpcPeeringConnection,
                    id,
                    &[("Name", &names::label(id))],
                ))
                .send()
                .await
                .named("ec2:CreateVpcPeeringConnection", &net.role_arn)?;
            Ok(out
                .vpc_peering_connection()
                .and_then(|p| p.vpc_peering_connection_id())
                .map(|pcx| PeeringOut {
                    peering_connection_id: pcx.to_string(),
                    reused: false,
                    changed_at_ms: Some(now_epoch_ms()),
                }))
        },
    )
    .await?;
    Ok(ensured.value)
}

/// Accepts in the target account (only the accepter's credentials can) and waits until
/// the requester sees the peering active: accepting and waiting are one state. Each read
/// takes the accepter's view first (accepting when the request is pending acceptance;
/// NotReady while the accepter cannot see it yet, eventual consistency), then the
/// requester's (active is ready, provisioning NotReady), each on every page of the answer.
/// Watched inside the invocation while young (`idiom::watching`), then one read per Retry.
/// <https://docs.aws.amazon.com/vpc/latest/peering/vpc-peering-basics.html#vpc-peering-lifecycle>
pub async fn accept_peering(ctx: &Context, state: State) -> Result<PeeringOut, StepError> {
    let peering = state.peering()?;
    let accounts = ctx.accounts(&state.plan);
    let tgt = accounts.target().await?;
    let net = accounts.network().await?;
    // Once accepted (or seen past acceptance) in this invocation, only the requester's view
    // is read: a stale accepter's view must not accept twice.
    let accepted = std::sync::atomic::AtomicBool::new(false);
    watching(peering.changed_at_ms, || async {
        if !accepted.load(std::sync::atomic::Ordering::Relaxed) {
            accept_once(&tgt, peering).await?;
            accepted.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        peering_look(&net, peering).await
    })
    .await
}

/// One attempt to accept: accepted (or already), NotReady while the accepter cannot see
/// or accept it yet, ResourceFailed when it ended.
async fn accept_once(tgt: &AccountClients, peering: &PeeringOut) -> Result<(), StepError> {
    let pcx = &peering.peering_connection_id;
    let not_visible = |f: &crate::error::AwsFailure| f.is("InvalidVpcPeeringConnectionID.NotFound");

    let described = tgt
        .ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(pcx)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVpcPeeringConnections", &tgt.role_arn);
    let current = match described {
        Ok(listed) => listed.first().map(status),
        Err(f) if not_visible(&f) => None,
        Err(f) => return Err(f.into()),
    };
    match current.as_deref() {
        None => {
            return Err(StepError::NotReady(format!(
                "peering {pcx} is not yet visible to account {}",
                tgt.account_id
            )));
        }
        Some(s) if peering_phase(s) == PeeringPhase::Initiating => {
            return Err(StepError::NotReady(format!(
                "peering {pcx} is initiating-request: not acceptable yet"
            )));
        }
        Some("pending-acceptance") => {
            match tgt
                .ec2
                .accept_vpc_peering_connection()
                .vpc_peering_connection_id(pcx)
                .send()
                .await
                .named("ec2:AcceptVpcPeeringConnection", &tgt.role_arn)
            {
                Ok(_) => tracing::info!(pcx, "accepted"),
                Err(f) if not_visible(&f) => {
                    return Err(StepError::NotReady(format!(
                        "peering {pcx} is not yet visible to the accepter"
                    )));
                }
                // Accepted meanwhile (a lost answer retried, a stale view): read it again;
                // an ended peering fails on that read. EC2 answers InvalidStateTransition to
                // an accept outside pending-acceptance (moto too)
                // (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>).
                Err(f) if f.is("InvalidStateTransition") => {
                    return Err(StepError::NotReady(format!(
                        "peering {pcx} left pending-acceptance while it was accepted: reading it again"
                    )));
                }
                Err(f) => return Err(f.into()),
            }
        }
        Some(s) => match peering_phase(s) {
            PeeringPhase::Provisioning | PeeringPhase::Active => {
                tracing::info!(pcx, "already accepted")
            }
            _ => {
                return Err(StepError::ResourceFailed(format!(
                    "peering {pcx} is {s}: it will not be accepted"
                )));
            }
        },
    }
    // The accepter's view is not tagged: the requester tagged the peering at creation,
    // where cleanup finds and deletes it, and a role that may tag resources it did not
    // create could tag any peering and then delete it.
    Ok(())
}

/// One look at the peering (every page of the answer).
async fn peering_look(net: &AccountClients, peering: &PeeringOut) -> Result<PeeringOut, StepError> {
    let pcx = &peering.peering_connection_id;
    let listed = net
        .ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(pcx)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeVpcPeeringConnections", &net.role_arn)
        .fresh_id(&format!("the new peering {pcx}"))?;
    let observed = match listed.first().map(status) {
        Some(s) => active_poll(&s).map(|()| peering.clone()),
        None => Poll::Failed("it no longer exists".into()),
    };
    poll_once(&format!("peering {pcx}"), observed)
}

/// What a peering's status code means to AcceptPeering's wait: active is ready; the states on
/// the way to it are pending; an ended or unknown state fails.
fn active_poll(code: &str) -> Poll<()> {
    match peering_phase(code) {
        PeeringPhase::Active => Poll::Ready(()),
        PeeringPhase::Initiating
        | PeeringPhase::AwaitingAcceptance
        | PeeringPhase::Provisioning => Poll::Pending(code.to_string()),
        PeeringPhase::Ended(s) => Poll::Failed(s),
        PeeringPhase::Unknown(s) => Poll::Failed(format!("{s} (a state carveout does not know)")),
    }
}

/// Routes to the peer's CIDRs in every route table of the subnets involved, both sides.
/// An identical route is fine; one that sends the CIDR elsewhere is a conflict.
pub async fn add_routes(ctx: &Context, state: State) -> Result<Vec<RouteOut>, StepError> {
    let facts = state.facts()?;
    let pcx = &state.peering()?.peering_connection_id;
    let accounts = ctx.accounts(&state.plan);
    let mut routes = Vec::new();
    for (account, tables, cidrs) in [
        (
            &state.plan.service.account_id,
            &facts.network.route_table_ids,
            &facts.target.cidrs,
        ),
        (
            &state.plan.target.account_id,
            &facts.target.route_table_ids,
            &facts.network.cidrs,
        ),
    ] {
        let c = accounts.get(account).await?;
        for table_id in tables {
            for cidr in cidrs {
                ensure_route(&c, table_id, cidr, pcx).await?;
                routes.push(RouteOut {
                    account_id: account.clone(),
                    route_table_id: table_id.clone(),
                    destination_cidr: cidr.clone(),
                    peering_connection_id: pcx.clone(),
                });
            }
        }
    }
    Ok(routes)
}

async fn ensure_route(
    c: &AccountClients,
    table_id: &str,
    cidr: &str,
    pcx: &str,
) -> Result<bool, StepError> {
    let current = || async {
        let tables = c
            .ec2
            .describe_route_tables()
            .route_table_ids(table_id)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeRouteTables", &c.role_arn)?;
        Ok::<_, StepError>(tables.first().and_then(|t| route_target(t, cidr)))
    };
    let check = |target: Option<String>| match target {
        Some(t) if t == pcx => Ok(true),
        Some(t) => Err(StepError::conflict(format!(
            "route table {table_id} already sends {cidr} to {t}, not to peering {pcx}; remove that route or choose another VPC"
        ))),
        None => Ok(false),
    };
    if check(current().await?)? {
        return Ok(false);
    }
    match c
        .ec2
        .create_route()
        .route_table_id(table_id)
        .destination_cidr_block(cidr)
        .vpc_peering_connection_id(pcx)
        .send()
        .await
        .named("ec2:CreateRoute", &c.role_arn)
    {
        Ok(_) => Ok(true),
        // Lost a race with a concurrent run, or the describe was stale: look again.
        Err(f) if f.is("RouteAlreadyExists") => check(current().await?).map(|_| false),
        Err(f) => Err(f.about_fresh_id(&format!("the new peering {pcx}"))),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_documented_peering_state_has_its_meaning_while_waiting_for_active() {
        assert!(matches!(super::active_poll("active"), Poll::Ready(())));
        for on_the_way in ["initiating-request", "pending-acceptance", "provisioning"] {
            assert!(
                matches!(super::active_poll(on_the_way), Poll::Pending(_)),
                "{on_the_way}"
            );
        }
        for ended in [
            "deleting",
            "deleted",
            "rejected",
            "failed",
            "expired",
            "somethingnew",
        ] {
            assert!(
                matches!(super::active_poll(ended), Poll::Failed(_)),
                "{ended}"
            );
        }
    }

    use super::*;
    use crate::test_support::{aws_error, clients, two_pages};
    use aws_sdk_ec2::operation::create_route::{CreateRouteError, CreateRouteOutput};
    use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
    use aws_sdk_ec2::types::{Route, RouteTable};
    use aws_smithy_mocks::mock;

    fn table(route: Option<Route>) -> DescribeRouteTablesOutput {
        let table = RouteTable::builder()
            .route_table_id("rtb-1")
            .set_routes(route.map(|r| vec![r]))
            .build();
        DescribeRouteTablesOutput::builder()
            .route_tables(table)
            .build()
    }

    fn via(cidr: &str, pcx: Option<&str>, gateway: Option<&str>) -> Option<Route> {
        Some(
            Route::builder()
                .destination_cidr_block(cidr)
                .set_vpc_peering_connection_id(pcx.map(str::to_string))
                .set_gateway_id(gateway.map(str::to_string))
                .build(),
        )
    }

    #[tokio::test]
    async fn an_identical_route_is_kept_without_a_create_call() {
        let describe = mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| table(via("10.1.0.0/16", Some("pcx-1"), None)));
        let create = mock!(aws_sdk_ec2::Client::create_route)
            .then_output(|| CreateRouteOutput::builder().build());
        let c = clients(&[&describe, &create], &[], &[]);
        assert_eq!(
            ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1").await,
            Ok(false)
        );
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_route_answered_after_an_empty_first_page_is_seen_and_kept() {
        let [first, second] = two_pages!(
            aws_sdk_ec2::Client::describe_route_tables,
            next_token => next_token,
            DescribeRouteTablesOutput::builder(),
            DescribeRouteTablesOutput::builder().route_tables(
                RouteTable::builder()
                    .route_table_id("rtb-1")
                    .set_routes(via("10.1.0.0/16", Some("pcx-1"), None).map(|r| vec![r]))
                    .build()
            ),
        );
        let c = clients(&[&first, &second], &[], &[]);
        assert_eq!(
            ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1").await,
            Ok(false),
            "the identical route on the second page: no create call"
        );
    }

    #[tokio::test]
    async fn a_route_to_something_else_is_a_conflict_naming_it() {
        let describe = mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| table(via("10.1.0.0/16", None, Some("igw-9"))));
        let c = clients(&[&describe], &[], &[]);
        let err = ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1")
            .await
            .unwrap_err();
        assert_eq!(err.name(), "CarveOut.Conflict");
        assert!(err.to_string().contains("igw-9"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_route_is_created() {
        let describe =
            mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| table(None));
        let create = mock!(aws_sdk_ec2::Client::create_route)
            .match_requests(|r| r.vpc_peering_connection_id() == Some("pcx-1"))
            .then_output(|| CreateRouteOutput::builder().build());
        let c = clients(&[&describe, &create], &[], &[]);
        assert_eq!(
            ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1").await,
            Ok(true)
        );
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_route_created_concurrently_is_accepted_after_a_second_look() {
        let empty = mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| table(None));
        let create = mock!(aws_sdk_ec2::Client::create_route)
            .then_error(|| CreateRouteError::generic(aws_error("RouteAlreadyExists")));
        let now = mock!(aws_sdk_ec2::Client::describe_route_tables)
            .then_output(|| table(via("10.1.0.0/16", Some("pcx-1"), None)));
        let c = clients(&[&empty, &create, &now], &[], &[]);
        assert_eq!(
            ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1").await,
            Ok(false)
        );
    }

    #[tokio::test]
    async fn a_denied_call_names_the_role_and_the_action() {
        let describe =
            mock!(aws_sdk_ec2::Client::describe_route_tables).then_output(|| table(None));
        let create = mock!(aws_sdk_ec2::Client::create_route)
            .then_error(|| CreateRouteError::generic(aws_error("UnauthorizedOperation")));
        let c = clients(&[&describe, &create], &[], &[]);
        let err = ensure_route(&c, "rtb-1", "10.1.0.0/16", "pcx-1")
            .await
            .unwrap_err();
        assert_eq!(err.name(), "CarveOut.AccessDenied");
        let text = err.to_string();
        assert!(
            text.contains("ec2:CreateRoute") && text.contains("CarveOutExecutionRole"),
            "{text}"
        );
    }
}
