//! Preflight, what else acts on the source: an instance that a service manages (an Auto
//! Scaling group, and the EKS, ECS and Elastic Beanstalk capacity built on one; Spot
//! requests and fleets) is replaced or terminated when it is stopped, and a reboot that
//! fails its health checks can have it replaced too. Instance store data does not survive
//! a stop. So stop-source, and reboot for group-managed instances, are refused for them;
//! `live` touches nothing and stays allowed.

use crate::error::StepError;
use crate::plan::{Consistency, Plan};
use crate::state::InstanceFacts;

use super::check::Verdict;

/// Who manages an instance, read from the tags AWS puts on the instances it launches
/// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-tagging.html>,
/// EKS managed node groups, ECS capacity providers, Elastic Beanstalk, EC2 Fleet and Spot
/// Fleet) and its lifecycle (`spot`). `None`: nothing but its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Manager {
    /// The manager in words, with its name: `Auto Scaling group web-asg`.
    pub what: String,
    /// Whether it is a group that replaces instances failing health checks (a reboot
    /// may count as one).
    pub replaces_unhealthy: bool,
}

/// The manager of `instance`, if any (see [`Manager`]).
pub(super) fn manager(instance: &InstanceFacts) -> Option<Manager> {
    let tag = |key: &str| {
        instance
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.clone())
    };
    let group = |what: String| {
        Some(Manager {
            what,
            replaces_unhealthy: true,
        })
    };
    let other = |what: String| {
        Some(Manager {
            what,
            replaces_unhealthy: false,
        })
    };
    if let Some(env) = tag("elasticbeanstalk:environment-name") {
        return group(format!("Elastic Beanstalk environment {env}"));
    }
    if let Some(cluster) = tag("eks:cluster-name").or_else(|| tag("aws:eks:cluster-name")) {
        return group(format!("EKS cluster {cluster} (a node group)"));
    }
    if tag("AmazonECSManaged").is_some() {
        return group("an ECS capacity provider".to_string());
    }
    if let Some(asg) = tag("aws:autoscaling:groupName") {
        return group(format!("Auto Scaling group {asg}"));
    }
    if let Some(fleet) = tag("aws:ec2:fleet-id") {
        return other(format!("EC2 Fleet {fleet}"));
    }
    if let Some(fleet) = tag("aws:ec2spot:fleet-request-id") {
        return other(format!("Spot Fleet request {fleet}"));
    }
    if instance.lifecycle.as_deref() == Some("spot") {
        return other("a Spot Instance request".to_string());
    }
    None
}

/// Passes unless the plan stops (stop-source) or reboots (reboot) a source that something
/// else manages or whose instance store would be lost by a stop. `store_types`: the
/// source instance types with instance store volumes ([`super::instances::read_instance_store`]).
pub(super) fn stoppable(plan: &Plan, instances: &[InstanceFacts], store_types: &[&str]) -> Verdict {
    let stops = plan.consistency == Consistency::StopSource;
    let reboots = plan.consistency == Consistency::Reboot;
    for i in instances {
        let Some(m) = manager(i) else { continue };
        if stops || (reboots && m.replaces_unhealthy) {
            let act = if stops { "stop" } else { "reboot" };
            return Err(StepError::invalid_plan(format!(
                "{} is managed by {}, which replaces (terminates) an instance it sees stopped or \
                 unhealthy: consistency \"{}\" would {act} it. Use consistency \"live\" (no stop, \
                 no reboot), or move a service whose instances nothing else manages",
                i.instance_id,
                m.what,
                if stops { "stop-source" } else { "reboot" },
            )));
        }
    }
    if stops
        && let Some(i) = instances
            .iter()
            .find(|i| store_types.contains(&i.instance_type.as_str()))
    {
        return Err(StepError::invalid_plan(format!(
            "{} ({}) has instance store volumes, whose data is lost when the instance stops: \
             consistency \"stop-source\" would erase it on the source itself, whatever \
             options.allowInstanceStoreDataLoss says about the new instances. Use consistency \
             \"live\" or \"reboot\"",
            i.instance_id, i.instance_type
        )));
    }
    Ok(match plan.consistency {
        Consistency::Live => "consistency live stops and reboots nothing".to_string(),
        _ => "no source instance is managed by an Auto Scaling group, cluster, fleet or Spot \
              request, and none that stops has instance store"
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Tag;
    use crate::test_support::{instance, plan};

    fn tagged(key: &str, value: &str) -> InstanceFacts {
        let mut i = instance("i-0123456789abcdef0", "t3.small", None);
        i.tags.push(Tag {
            key: key.into(),
            value: value.into(),
        });
        i
    }

    fn with(consistency: Consistency) -> Plan {
        let mut p = plan();
        p.consistency = consistency;
        p
    }

    #[test]
    fn an_auto_scaling_instance_is_never_stopped_nor_rebooted_but_may_move_live() {
        let asg = [tagged("aws:autoscaling:groupName", "web-asg")];
        let err = stoppable(&with(Consistency::StopSource), &asg, &[]).unwrap_err();
        assert!(
            err.to_string().contains("Auto Scaling group web-asg"),
            "{err}"
        );
        let err = stoppable(&with(Consistency::Reboot), &asg, &[]).unwrap_err();
        assert!(err.to_string().contains("would reboot it"), "{err}");
        assert!(stoppable(&with(Consistency::Live), &asg, &[]).is_ok());
    }

    #[test]
    fn clusters_beanstalk_fleets_and_spot_are_named() {
        for (key, value, words) in [
            ("eks:cluster-name", "prod", "EKS cluster prod"),
            ("AmazonECSManaged", "", "ECS capacity provider"),
            (
                "elasticbeanstalk:environment-name",
                "web-env",
                "Elastic Beanstalk environment web-env",
            ),
            (
                "aws:ec2spot:fleet-request-id",
                "sfr-1",
                "Spot Fleet request sfr-1",
            ),
            ("aws:ec2:fleet-id", "fleet-1", "EC2 Fleet fleet-1"),
        ] {
            let err =
                stoppable(&with(Consistency::StopSource), &[tagged(key, value)], &[]).unwrap_err();
            assert!(err.to_string().contains(words), "{words}: {err}");
        }
        let mut spot = instance("i-0123456789abcdef0", "t3.small", None);
        spot.lifecycle = Some("spot".into());
        let err = stoppable(&with(Consistency::StopSource), &[spot.clone()], &[]).unwrap_err();
        assert!(err.to_string().contains("Spot Instance request"), "{err}");
        // A fleet does not replace a rebooted instance.
        assert!(stoppable(&with(Consistency::Reboot), &[spot], &[]).is_ok());
    }

    #[test]
    fn stop_source_with_instance_store_is_refused_whatever_the_data_loss_option_says() {
        let mut p = with(Consistency::StopSource);
        p.options.allow_instance_store_data_loss = true;
        let src = [instance("i-0123456789abcdef0", "m5d.large", None)];
        let err = stoppable(&p, &src, &["m5d.large"]).unwrap_err();
        assert!(
            err.to_string().contains("lost when the instance stops"),
            "{err}"
        );
        assert!(stoppable(&with(Consistency::Reboot), &src, &["m5d.large"]).is_ok());
    }
}
