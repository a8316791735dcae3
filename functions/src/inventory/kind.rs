//! The kinds of resource a migration creates, and what carveout knows about each: its name
//! in the execution output, whether it carries the service's traffic, and where it comes
//! in the removal order. How each is found is `list.rs`; how each is removed,
//! `remove.rs`.

use serde::{Deserialize, Serialize};

/// One kind of resource carveout creates. Declared in removal order: what depends on
/// something comes before it (a rule before its target group, instances before their
/// security group, images before their snapshots, routes before their peering), so
/// sorting by kind gives a safe order for `carveout cleanup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    ListenerRule,
    TargetGroup,
    Instance,
    SecurityGroup,
    RamResourceShare,
    HostedZoneAssociation,
    Image,
    Snapshot,
    Route,
    VpcPeeringConnection,
}

impl ResourceKind {
    /// Every kind, in removal order.
    pub const ALL: [ResourceKind; 10] = [
        ResourceKind::ListenerRule,
        ResourceKind::TargetGroup,
        ResourceKind::Instance,
        ResourceKind::SecurityGroup,
        ResourceKind::RamResourceShare,
        ResourceKind::HostedZoneAssociation,
        ResourceKind::Image,
        ResourceKind::Snapshot,
        ResourceKind::Route,
        ResourceKind::VpcPeeringConnection,
    ];

    /// The name used in the execution output and by `carveout cleanup` (kebab-case, the
    /// resource type of its ARN where it has one).
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::ListenerRule => "listener-rule",
            ResourceKind::TargetGroup => "target-group",
            ResourceKind::Instance => "instance",
            ResourceKind::SecurityGroup => "security-group",
            ResourceKind::RamResourceShare => "ram-resource-share",
            ResourceKind::HostedZoneAssociation => "hosted-zone-association",
            ResourceKind::Image => "image",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Route => "route",
            ResourceKind::VpcPeeringConnection => "vpc-peering-connection",
        }
    }

    /// True when a finished migration's traffic goes through it: `carveout cleanup` keeps
    /// these while the service forwards to the migration's target group. The probe rule
    /// and the images are leftovers once the instances run.
    pub fn carries_traffic(self) -> bool {
        !matches!(
            self,
            ResourceKind::ListenerRule | ResourceKind::Image | ResourceKind::Snapshot
        )
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_name_is_the_display_name() {
        for kind in ResourceKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
    }

    #[test]
    fn removal_order_puts_dependents_first() {
        use ResourceKind::*;
        for (before, after) in [
            (ListenerRule, TargetGroup),
            (Instance, SecurityGroup),
            (Image, Snapshot),
            (Route, VpcPeeringConnection),
        ] {
            assert!(before < after, "{before} must go before {after}");
        }
        let mut sorted = ResourceKind::ALL;
        sorted.sort();
        assert_eq!(sorted, ResourceKind::ALL);
    }
}
