//! Program-level checks on the limits services share (pure): every service alone may fit,
//! and all of them together not. Each check takes what exists now (read by
//! [`super::shared`]) and what the program adds, and answers the check line with the
//! numbers, or the refusal naming the limit, the count and how to make room.
//!
//! The limits (AWS's defaults, and where they are adjustable):
//! - active VPC peering connections per VPC, 50, up to 125 (Service Quotas vpc
//!   L-7E9ECCDB), and outstanding peering requests per account, 25 (vpc L-DC9F7029):
//!   <https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html>;
//! - routes per route table, 50, up to 1,000 (vpc L-93826ACB), same page;
//! - target groups per Application Load Balancer, 100, not adjustable, and rules per
//!   ALB, 100 (DescribeAccountLimits `target-groups-per-application-load-balancer`,
//!   `rules-per-application-load-balancer`):
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html>;
//! - pending snapshots per account, 100, not adjustable (Service Quotas ebs L-94D7AB7D):
//!   <https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html>; past it
//!   EC2 answers `PendingSnapshotLimitExceeded`
//!   (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>);
//! - On-Demand vCPUs per instance bucket and account (ec2 L-1216C47A and the others),
//!   checked per service by Preflight and here summed over the services one target
//!   account receives.

use serde::Serialize;

/// One limit: AWS's name for it, where it is read, and how to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// AWS's name (`Routes per route table`).
    pub name: &'static str,
    /// Where it is read: a Service Quotas code (`vpc L-93826ACB`) or an ELB limit name.
    pub source: &'static str,
    /// What to do when it is too low.
    pub fix: &'static str,
}

pub const ACTIVE_PEERINGS: Limit = Limit {
    name: "Active VPC peering connections per VPC",
    source: "Service Quotas vpc L-7E9ECCDB",
    fix: "request an increase (up to 125) in Service Quotas, or split the program",
};
pub const OUTSTANDING_REQUESTS: Limit = Limit {
    name: "Outstanding VPC peering connection requests",
    source: "Service Quotas vpc L-DC9F7029",
    fix: "accept or delete the pending requests, lower maxConcurrency, or request an increase in Service Quotas",
};
pub const ROUTES: Limit = Limit {
    name: "Routes per route table",
    source: "Service Quotas vpc L-93826ACB",
    fix: "request an increase (up to 1,000) in Service Quotas, or remove unused routes",
};
pub const TARGET_GROUPS: Limit = Limit {
    name: "Target groups per Application Load Balancer",
    source: "elasticloadbalancing target-groups-per-application-load-balancer",
    fix: "not adjustable: finalize earlier migrations (their old target groups stay on the ALB until then) or split the program",
};
pub const RULES: Limit = Limit {
    name: "Rules per Application Load Balancer",
    source: "elasticloadbalancing rules-per-application-load-balancer",
    fix: "lower maxConcurrency (one probe rule per service in flight), delete unused rules, or request an increase",
};
pub const PENDING_SNAPSHOTS: Limit = Limit {
    name: "Pending snapshots per account",
    source: "Service Quotas ebs L-94D7AB7D",
    fix: "not adjustable: lower the source account's cap (accountConcurrency) or maxConcurrency, or let its pending snapshots (backups) complete first",
};
pub const VCPUS: Limit = Limit {
    name: "Running On-Demand instances (vCPUs)",
    source: "Service Quotas ec2",
    fix: "request an increase in the target account before the program",
};

/// One use of a limit: on what (`route table rtb-1 in 111111111111`), what exists now,
/// what the program adds at its peak, and the limit's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Use {
    pub limit: Limit,
    pub on: String,
    pub now: u64,
    pub adding: u64,
    pub max: u64,
    /// What is added, in words (`one route per new target VPC CIDR`).
    pub why: String,
}

impl Use {
    /// The check line, or the refusal, e.g. `route table rtb-1 in 111111111111: 48 now +
    /// 5 (…) = 53 > 50 (Routes per route table, Service Quotas vpc L-93826ACB): request an
    /// increase …`.
    pub fn verdict(&self) -> Result<String, String> {
        let total = self.now + self.adding;
        let line = format!(
            "{}: {} now + {} ({}) = {total} {} {} ({}, {})",
            self.on,
            self.now,
            self.adding,
            self.why,
            if total > self.max { ">" } else { "of" },
            self.max,
            self.limit.name,
            self.limit.source,
        );
        if total > self.max {
            Err(format!("{line}: {}", self.limit.fix))
        } else {
            Ok(line)
        }
    }
}

/// Every verdict: the check lines when all fit, else every refusal (all at once, so one
/// fix round settles them).
pub fn judge(uses: &[Use]) -> Result<Vec<String>, Vec<String>> {
    let (ok, refused): (Vec<_>, Vec<_>) = uses.iter().map(Use::verdict).partition(Result::is_ok);
    if refused.is_empty() {
        Ok(ok.into_iter().map(Result::unwrap).collect())
    } else {
        Err(refused.into_iter().map(Result::unwrap_err).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(now: u64, adding: u64, max: u64) -> Use {
        Use {
            limit: ROUTES,
            on: "route table rtb-1 in 111111111111".into(),
            now,
            adding,
            max,
            why: "one route per new target VPC CIDR".into(),
        }
    }

    #[test]
    fn a_use_within_the_limit_says_the_numbers() {
        let line = routes(3, 5, 50).verdict().unwrap();
        assert_eq!(
            line,
            "route table rtb-1 in 111111111111: 3 now + 5 (one route per new target VPC CIDR) = 8 of 50 (Routes per route table, Service Quotas vpc L-93826ACB)"
        );
    }

    #[test]
    fn a_use_past_the_limit_names_the_limit_the_count_and_the_fix() {
        let err = routes(48, 5, 50).verdict().unwrap_err();
        assert!(
            err.contains("48 now + 5") && err.contains("= 53 > 50"),
            "{err}"
        );
        assert!(
            err.contains("Routes per route table") && err.contains("L-93826ACB"),
            "{err}"
        );
        assert!(err.contains("request an increase"), "{err}");
    }

    #[test]
    fn exactly_at_the_limit_fits() {
        assert!(routes(45, 5, 50).verdict().is_ok());
    }

    #[test]
    fn every_refusal_is_given_at_once() {
        let all = judge(&[routes(48, 5, 50), routes(1, 1, 50), routes(50, 1, 50)]).unwrap_err();
        assert_eq!(all.len(), 2, "{all:?}");
    }
}
