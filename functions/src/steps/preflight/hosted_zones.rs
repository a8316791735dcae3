//! Preflight, names: every private hosted zone associated with the ALB's VPC resolves for
//! the source's instances today. The new instances resolve through the target VPC, which
//! may lack some of them: each such zone is associated by carveout
//! (options.associateHostedZones) or acknowledged as not needed
//! (options.acknowledgedHostedZones), else Preflight refuses it by id and name.

use std::collections::BTreeMap;

use crate::accounts::AccountClients;
use crate::aws::route53::{ZoneSummary, zones_of_vpc};
use crate::error::StepError;
use crate::plan::Plan;

/// The zones of both VPCs, each read by the VPC's own account.
pub(super) async fn read_zones(
    net: &AccountClients,
    tgt: &AccountClients,
    plan: &Plan,
    lb_vpc: &str,
) -> Result<(Vec<ZoneSummary>, Vec<ZoneSummary>), StepError> {
    Ok((
        zones_of_vpc(net, lb_vpc, &plan.region).await?,
        zones_of_vpc(tgt, &plan.target.vpc_id, &plan.region).await?,
    ))
}

fn named(z: &ZoneSummary) -> String {
    format!("{} ({})", z.id, z.name)
}

/// The decision: Ok(verdict, zones to associate: id -> name). Errors (InvalidPlan): a
/// listed zone that is not the ALB's VPC's; one carveout cannot associate (owned by
/// another account or a service, or the target VPC has another zone of that name, which
/// Route 53 refuses as ConflictingDomainExists); zones neither option names.
pub(super) fn zones_decided(
    plan: &Plan,
    lb_vpc: &str,
    alb: &[ZoneSummary],
    target: &[ZoneSummary],
) -> Result<(String, BTreeMap<String, String>), StepError> {
    let o = &plan.options;
    let mut problems = Vec::new();
    for (option, ids) in [
        ("associateHostedZones", &o.associate_hosted_zones),
        ("acknowledgedHostedZones", &o.acknowledged_hosted_zones),
    ] {
        for id in ids.iter().filter(|id| !alb.iter().any(|z| &z.id == *id)) {
            problems.push(format!(
                "options.{option} names hosted zone {id}, which is not associated with the ALB's VPC {lb_vpc}"
            ));
        }
    }
    let mut associate = BTreeMap::new();
    let mut unlisted = Vec::new();
    let mut acknowledged = Vec::new();
    for z in alb.iter().filter(|z| !target.iter().any(|t| t.id == z.id)) {
        if o.associate_hosted_zones.contains(&z.id) {
            if let Some(service) = &z.owning_service {
                problems.push(format!("hosted zone {} is managed by {service}: Route 53 associates it only through that service", named(z)));
            } else if z.owning_account.as_deref() != Some(plan.service.account_id.as_str()) {
                problems.push(format!(
                    "hosted zone {} belongs to account {}: carveout authorizes associations only for zones of the network account {}; associate it by hand (CreateVPCAssociationAuthorization in its account) and list it in options.acknowledgedHostedZones",
                    named(z),
                    z.owning_account.as_deref().unwrap_or("?"),
                    plan.service.account_id
                ));
            } else if let Some(clash) = target.iter().find(|t| t.name == z.name) {
                problems.push(format!(
                    "hosted zone {} cannot join the target VPC {}: it already has zone {} of the same name (Route 53: ConflictingDomainExists)",
                    named(z),
                    plan.target.vpc_id,
                    named(clash)
                ));
            } else {
                associate.insert(z.id.clone(), z.name.clone());
            }
        } else if o.acknowledged_hosted_zones.contains(&z.id) {
            acknowledged.push(named(z));
        } else {
            unlisted.push(named(z));
        }
    }
    if !unlisted.is_empty() {
        problems.push(format!(
            "private hosted zone(s) {} are associated with the ALB's VPC {lb_vpc} and not with the target VPC {}: the new instances would not resolve their names; list each in options.associateHostedZones (carveout associates it, cleanup removes the association) or in options.acknowledgedHostedZones",
            unlisted.join(", "),
            plan.target.vpc_id
        ));
    }
    if !problems.is_empty() {
        return Err(StepError::invalid_plan(problems.join("; ")));
    }
    let verdict = if alb.is_empty() {
        format!("the ALB's VPC {lb_vpc} has no private hosted zone")
    } else {
        let listed = |v: Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        format!(
            "private hosted zones of the ALB's VPC: {} already resolve in the target VPC; to associate: {}; acknowledged: {}",
            alb.len() - associate.len() - acknowledged.len(),
            listed(
                associate
                    .iter()
                    .map(|(id, name)| format!("{id} ({name})"))
                    .collect()
            ),
            listed(acknowledged)
        )
    };
    Ok((verdict, associate))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "111111111111";

    fn zone(id: &str, name: &str, owner: &str) -> ZoneSummary {
        ZoneSummary {
            id: id.into(),
            name: name.into(),
            owning_account: Some(owner.into()),
            owning_service: None,
        }
    }

    fn plan(associate: &[&str], acknowledged: &[&str]) -> Plan {
        let mut p = crate::test_support::plan();
        p.service.account_id = NET.into();
        p.options.associate_hosted_zones = associate.iter().map(|s| s.to_string()).collect();
        p.options.acknowledged_hosted_zones = acknowledged.iter().map(|s| s.to_string()).collect();
        p
    }

    #[test]
    fn a_zone_the_target_vpc_lacks_is_named_until_listed() {
        let alb = [
            zone("ZA", "internal.example.", NET),
            zone("ZB", "db.example.", NET),
        ];
        let target = [zone("ZB", "db.example.", NET)];
        let err = zones_decided(&plan(&[], &[]), "vpc-a", &alb, &target).unwrap_err();
        assert!(err.to_string().contains("ZA (internal.example.)"), "{err}");
        assert!(!err.to_string().contains("ZB"), "{err}");
        let (verdict, to_do) = zones_decided(&plan(&["ZA"], &[]), "vpc-a", &alb, &target).unwrap();
        assert_eq!(
            to_do,
            BTreeMap::from([("ZA".into(), "internal.example.".into())])
        );
        assert!(verdict.contains("1 already resolve"), "{verdict}");
        let (_, to_do) = zones_decided(&plan(&[], &["ZA"]), "vpc-a", &alb, &target).unwrap();
        assert!(to_do.is_empty());
    }

    #[test]
    fn zones_carveout_cannot_associate_are_refused_with_the_reason() {
        let mut managed = zone("ZS", "svc.local.", NET);
        managed.owning_account = None;
        managed.owning_service = Some("servicediscovery.amazonaws.com".into());
        let alb = [
            zone("ZO", "other.example.", "999999999999"),
            managed,
            zone("ZC", "clash.example.", NET),
        ];
        let target = [zone("ZT", "clash.example.", "222222222222")];
        let err = zones_decided(&plan(&["ZO", "ZS", "ZC"], &[]), "vpc-a", &alb, &target)
            .unwrap_err()
            .to_string();
        assert!(err.contains("belongs to account 999999999999"), "{err}");
        assert!(
            err.contains("managed by servicediscovery.amazonaws.com"),
            "{err}"
        );
        assert!(err.contains("ConflictingDomainExists"), "{err}");
    }

    #[test]
    fn a_listed_zone_must_be_the_albs_vpcs() {
        let err = zones_decided(&plan(&["ZX"], &[]), "vpc-a", &[], &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("ZX, which is not associated with the ALB's VPC vpc-a"),
            "{err}"
        );
    }
}
