//! Preflight, callers and callees: security groups whose rules name the sources' groups.
//! The new instances get a new group in another account, so a rule of another service that
//! admits the source's group (a callee the service talks to) will not admit them, and a
//! group the source's rules admit (a caller other than the ALB) will not reach them.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, SecurityGroup};

use crate::accounts::AccountClients;
use crate::aws::ec2::filter;
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;

use super::check::Verdict;

/// One rule of another group that names a source group, or that a source group's rule
/// names: `{group, direction}` with the port range.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Reference {
    pub group_id: String,
    pub group_name: String,
    pub account_id: String,
    pub what: String,
    /// A callee: its rule admits a source group (the service talks to it).
    pub callee: bool,
}

fn ports(p: &IpPermission) -> String {
    match (p.ip_protocol(), p.from_port(), p.to_port()) {
        (Some("-1"), _, _) => "all traffic".into(),
        (proto, Some(a), Some(b)) if a == b => format!("{} {a}", proto.unwrap_or("tcp")),
        (proto, Some(a), Some(b)) => format!("{} {a}-{b}", proto.unwrap_or("tcp")),
        (proto, _, _) => proto.unwrap_or("all").to_string(),
    }
}

fn names(p: &IpPermission, group: &str) -> bool {
    p.user_id_group_pairs()
        .iter()
        .any(|g| g.group_id() == Some(group))
}

/// The references among `groups` (every group of an account whose rules name one of
/// `sources`, and the source groups themselves). `alb`: the ALB's groups, which the new
/// group admits (not a reference to report).
pub(super) fn references(
    groups: &[SecurityGroup],
    sources: &BTreeSet<String>,
    alb: &[String],
    account_id: &str,
) -> Vec<Reference> {
    let ours = |id: &str| sources.contains(id) || alb.iter().any(|a| a == id);
    let mut found = BTreeSet::new();
    for g in groups {
        let id = g.group_id().unwrap_or_default();
        let name = g.group_name().unwrap_or_default().to_string();
        if sources.contains(id) {
            // The source's own ingress: callers other than the ALB.
            for p in g.ip_permissions() {
                for pair in p.user_id_group_pairs() {
                    let Some(caller) = pair.group_id() else {
                        continue;
                    };
                    if !ours(caller) {
                        found.insert(Reference {
                            group_id: caller.to_string(),
                            group_name: String::new(),
                            account_id: pair.user_id().unwrap_or(account_id).to_string(),
                            what: format!("is admitted by the source's group {id} on {} (a caller that will not reach the new instances)", ports(p)),
                            callee: false,
                        });
                    }
                }
            }
            continue;
        }
        if ours(id) {
            continue;
        }
        for source in sources {
            for p in g.ip_permissions().iter().filter(|p| names(p, source)) {
                found.insert(Reference {
                    group_id: id.to_string(),
                    group_name: name.clone(),
                    account_id: account_id.to_string(),
                    what: format!("admits the source's group {source} on {} (a callee that will not admit the new instances)", ports(p)),
                    callee: true,
                });
            }
            for p in g
                .ip_permissions_egress()
                .iter()
                .filter(|p| names(p, source))
            {
                found.insert(Reference {
                    group_id: id.to_string(),
                    group_name: name.clone(),
                    account_id: account_id.to_string(),
                    what: format!("sends to the source's group {source} on {} (a caller whose egress rule will not name the new instances)", ports(p)),
                    callee: false,
                });
            }
        }
    }
    found.into_iter().collect()
}

/// Every group of `account` whose ingress or egress names one of `sources` (two filtered
/// DescribeSecurityGroups, every page), and the source groups themselves when they are
/// this account's.
pub(super) async fn read_referencing(
    account: &AccountClients,
    sources: &BTreeSet<String>,
) -> Result<Vec<SecurityGroup>, StepError> {
    let ids: Vec<&str> = sources.iter().map(String::as_str).collect();
    let mut groups = Vec::new();
    for name in [
        "ip-permission.group-id",
        "egress.ip-permission.group-id",
        "group-id",
    ] {
        let page = account
            .ec2
            .describe_security_groups()
            .filters(filter(name, &ids))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeSecurityGroups", &account.role_arn)?;
        groups.extend(page);
    }
    Ok(groups)
}

/// No reference left unacknowledged: each one not in
/// options.acknowledgedSecurityGroupReferences is named, with what it means.
pub(super) fn acknowledged(plan: &Plan, found: &[Reference]) -> Verdict {
    let ack = &plan.options.acknowledged_security_group_references;
    let open: Vec<String> = found
        .iter()
        .filter(|r| !ack.contains(&r.group_id))
        .map(|r| {
            let name = if r.group_name.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.group_name)
            };
            format!(
                "{}{name} of account {} {}",
                r.group_id, r.account_id, r.what
            )
        })
        .collect();
    if !open.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "other security groups reference the sources' groups, and the new instances will be in group {} of account {} instead: {}; plan the rules that group needs (peered-VPC group references or CIDRs), then list each group in options.acknowledgedSecurityGroupReferences",
            crate::names::security_group(&plan.migration_id),
            plan.target.account_id,
            open.join("; ")
        )));
    }
    Ok(if found.is_empty() {
        "no other security group references the sources' groups (callers and callees other than the ALB)".into()
    } else {
        let ids: BTreeSet<&str> = found.iter().map(|r| r.group_id.as_str()).collect();
        format!(
            "security groups referencing the sources' groups are acknowledged by the plan: {}",
            ids.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::UserIdGroupPair;

    fn rule(port: i32, group: &str) -> IpPermission {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
            .build()
    }

    fn group(id: &str, ingress: Vec<IpPermission>, egress: Vec<IpPermission>) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(id)
            .group_name(format!("{id}-name"))
            .set_ip_permissions(Some(ingress))
            .set_ip_permissions_egress(Some(egress))
            .build()
    }

    #[test]
    fn callees_and_callers_are_found_and_the_alb_is_not() {
        let sources = BTreeSet::from(["sg-src".to_string()]);
        let groups = [
            group(
                "sg-src",
                vec![rule(80, "sg-alb"), rule(22, "sg-bastion")],
                vec![],
            ),
            group("sg-db", vec![rule(5432, "sg-src")], vec![]),
            group("sg-alb", vec![], vec![rule(80, "sg-src")]),
            group("sg-batch", vec![], vec![rule(80, "sg-src")]),
        ];
        let found = references(&groups, &sources, &["sg-alb".to_string()], "111111111111");
        let ids: Vec<&str> = found.iter().map(|r| r.group_id.as_str()).collect();
        assert_eq!(ids, ["sg-bastion", "sg-batch", "sg-db"]);
        assert!(found.iter().any(|r| r.group_id == "sg-db"
            && r.what.contains("tcp 5432")
            && r.what.contains("callee")));
    }

    #[test]
    fn an_unacknowledged_reference_is_refused_by_group_and_an_acknowledged_one_passes() {
        let found = vec![Reference {
            group_id: "sg-0123456789abcdef0".into(),
            group_name: "db".into(),
            account_id: "111111111111".into(),
            what: "admits the source's group sg-src on tcp 5432 (a callee …)".into(),
            callee: true,
        }];
        let mut plan = crate::test_support::plan();
        let err = acknowledged(&plan, &found).unwrap_err();
        assert!(
            err.to_string().contains("sg-0123456789abcdef0 (db)")
                && err
                    .to_string()
                    .contains("acknowledgedSecurityGroupReferences"),
            "{err}"
        );
        plan.options.acknowledged_security_group_references = vec!["sg-0123456789abcdef0".into()];
        assert!(
            acknowledged(&plan, &found)
                .unwrap()
                .contains("acknowledged")
        );
    }
}
