//! Preflight, the target account as AWS sees it: done being verified (a freshly vended
//! account may answer `PendingVerification`), subscribed to the AWS Marketplace products
//! the sources carry (else RunInstances answers `OptInRequired`), and with room in its
//! On-Demand vCPU quotas for the new instances (else `VcpuLimitExceeded`). Each of these
//! would otherwise surface at launch, after the peering, routes and images exist.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, InstanceLifecycleType, ResourceType};

use crate::accounts::AccountClients;
use crate::aws::ec2::tag_spec;
use crate::error::{SdkResultExt, StepError};
use crate::names;
use crate::plan::Plan;
use crate::state::InstanceFacts;

use super::check::Verdict;

/// Whether AWS has finished verifying the target account: a `CreateSecurityGroup` with
/// `DryRun` (the call Launch makes first, same name and tags, so IAM judges it alike)
/// answers `DryRunOperation`. `PendingVerification` ("you may not be able to carry out
/// requests with this account", a client error every EC2 action can return,
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html>) is
/// NotReady: Preflight's retrier waits it out within its bound, nothing created.
/// Errors: NotReady, AccessDenied, ResourceFailed.
pub(super) async fn read_verified(tgt: &AccountClients, plan: &Plan) -> Verdict {
    let id = &plan.migration_id;
    let name = names::security_group(id);
    let probe = tgt
        .ec2
        .create_security_group()
        .dry_run(true)
        .group_name(&name)
        .description(format!(
            "carveout {id}: lets the ALB reach the moved service"
        ))
        .vpc_id(&plan.target.vpc_id)
        .tag_specifications(tag_spec(
            ResourceType::SecurityGroup,
            id,
            &[("Name", &name)],
        ))
        .send()
        .await
        .named("ec2:CreateSecurityGroup", &tgt.role_arn);
    match probe {
        // A re-run finds carveout's own group already there: EC2 answered, so verified.
        Err(f) if f.is("DryRunOperation") || f.is("InvalidGroup.Duplicate") => Ok(format!(
            "the target account {} is verified: a dry run of the first launch call succeeds",
            tgt.account_id
        )),
        Err(f) => Err(f.into()),
        Ok(_) => Err(StepError::ResourceFailed(
            "a DryRun CreateSecurityGroup answered success instead of DryRunOperation".into(),
        )),
    }
}

/// Passes when the target account is subscribed (per `options.marketplaceSubscriptions`)
/// to every AWS Marketplace product code the sources carry. A code travels from the
/// source into its image and the new instance, and "if any of the AMIs have a product
/// code attached for which the user has not subscribed, RunInstances fails"
/// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html>,
/// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/paid-amis.html>). No EC2 call
/// tells another account's subscriptions, so the plan states them.
pub(super) fn marketplace(plan: &Plan, instances: &[InstanceFacts]) -> Verdict {
    let listed: BTreeSet<&str> = plan
        .options
        .marketplace_subscriptions
        .iter()
        .map(String::as_str)
        .collect();
    let carried: BTreeSet<&str> = instances
        .iter()
        .flat_map(|i| i.product_codes.iter().map(String::as_str))
        .collect();
    if let Some(missing) = instances.iter().find_map(|i| {
        i.product_codes
            .iter()
            .find(|c| !listed.contains(c.as_str()))
            .map(|c| (i, c))
    }) {
        let (instance, code) = missing;
        return Err(StepError::invalid_plan(format!(
            "{} was launched from an AWS Marketplace image (product code {code}): its image and \
             the new instance carry the code, and RunInstances in the target account {} fails \
             (OptInRequired) until that account subscribes to the product. Subscribe the target \
             account to the product in AWS Marketplace (find it with `aws ec2 describe-images \
             --filters Name=product-code,Values={code}`), then list {code} in \
             options.marketplaceSubscriptions",
            instance.instance_id, plan.target.account_id
        )));
    }
    Ok(if carried.is_empty() {
        "no source instance carries an AWS Marketplace product code".to_string()
    } else {
        format!(
            "the target account is subscribed to the sources' AWS Marketplace products: {}",
            carried.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// The On-Demand vCPU quota an instance type counts against: (Service Quotas code, name).
/// EC2 counts running On-Demand instances in vCPUs per family bucket
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html#ec2-on-demand-instances-limits>).
/// A type belongs to the bucket of the whole letter group its name starts with (`trn` is
/// not `t`, `inf` not `i`, `u7i-…` and `u-…` are both High Memory); every other family is
/// Standard. The emulator holds the same table (emulator/carveout_emulator/patches/quotas.py).
pub fn vcpu_bucket(instance_type: &str) -> (&'static str, &'static str) {
    let letters: String = instance_type
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    match letters.as_str() {
        "dl" => ("L-6E869C2A", "DL instances"),
        "f" => ("L-74FC7D96", "F instances"),
        "g" | "gr" | "vt" => ("L-DB2E81BA", "G and VT instances"),
        "hpc" => ("L-F7808C92", "HPC instances"),
        "u" => ("L-43DA4232", "High Memory instances"),
        "inf" => ("L-1945791B", "Inf instances"),
        "p" => ("L-417A185B", "P instances"),
        "trn" => ("L-2C3B7624", "Trn instances"),
        "x" => ("L-7295265B", "X instances"),
        _ => (
            "L-1216C47A",
            "Standard (A, C, D, H, I, M, R, T, Z) instances",
        ),
    }
}

/// One vCPU quota bucket the new instances use: the quota's value, the vCPUs of running
/// On-Demand instances already in it (pending, stopped and Spot ones do not count), and
/// what the launches add.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct VcpuRoom {
    pub code: &'static str,
    pub name: &'static str,
    pub quota: f64,
    pub in_use: i64,
    pub planned: i64,
}

/// The target account's room in each bucket the `planned` launches use (instance type →
/// (vCPUs each, count)). Reads its running On-Demand instances (every page of
/// DescribeInstances and DescribeInstanceTypes) and each quota (GetServiceQuota; where
/// only the default exists, GetAWSDefaultServiceQuota). Errors: AccessDenied,
/// ResourceFailed.
pub(super) async fn read_vcpu_room(
    tgt: &AccountClients,
    planned: &BTreeMap<String, (i32, i64)>,
) -> Result<Vec<VcpuRoom>, StepError> {
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    let reservations = tgt
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstances", &tgt.role_arn)?;
    for i in reservations.iter().flat_map(|r| r.instances()) {
        // Spot Instances count against their own quotas.
        if i.instance_lifecycle() == Some(&InstanceLifecycleType::Spot) {
            continue;
        }
        if let Some(t) = i.instance_type() {
            *running.entry(t.as_str().to_string()).or_default() += 1;
        }
    }
    let unknown: Vec<String> = running
        .keys()
        .filter(|t| !planned.contains_key(*t))
        .cloned()
        .collect();
    let mut vcpus: BTreeMap<String, i32> =
        planned.iter().map(|(t, (v, _))| (t.clone(), *v)).collect();
    if !unknown.is_empty() {
        let infos = tgt
            .ec2
            .describe_instance_types()
            .set_instance_types(Some(unknown.iter().map(|t| t.as_str().into()).collect()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .named("ec2:DescribeInstanceTypes", &tgt.role_arn)?;
        for info in &infos {
            if let (Some(t), Some(v)) = (
                info.instance_type(),
                info.v_cpu_info().and_then(|v| v.default_v_cpus()),
            ) {
                vcpus.insert(t.as_str().to_string(), v);
            }
        }
    }
    let mut rooms: BTreeMap<&'static str, VcpuRoom> = BTreeMap::new();
    for (t, (each, count)) in planned {
        let (code, name) = vcpu_bucket(t);
        rooms
            .entry(code)
            .or_insert(VcpuRoom {
                code,
                name,
                quota: 0.0,
                in_use: 0,
                planned: 0,
            })
            .planned += i64::from(*each) * count;
    }
    for (t, count) in &running {
        let (code, _) = vcpu_bucket(t);
        if let Some(room) = rooms.get_mut(code) {
            room.in_use += i64::from(vcpus.get(t).copied().unwrap_or(0)) * count;
        }
    }
    for room in rooms.values_mut() {
        room.quota = crate::aws::quotas::quota_value(tgt, "ec2", room.code).await?;
    }
    Ok(rooms.into_values().collect())
}

/// Passes when every bucket has room for the new instances, with the numbers; otherwise
/// InvalidPlan naming the quota, its value, what is in use, what the launches need, and
/// how to raise it.
pub(super) fn vcpu_quotas(target_account: &str, rooms: &[VcpuRoom]) -> Verdict {
    if let Some(r) = rooms
        .iter()
        .find(|r| (r.in_use + r.planned) as f64 > r.quota)
    {
        return Err(StepError::invalid_plan(format!(
            "the target account {target_account} may run {} vCPUs of Running On-Demand {} \
             (Service Quotas ec2 {}); {} are in use and the new instances need {}. Request an \
             increase to at least {} (Service Quotas console, or `aws service-quotas \
             request-service-quota-increase --service-code ec2 --quota-code {} --desired-value \
             {}` in that account) before the migration",
            r.quota,
            r.name,
            r.code,
            r.in_use,
            r.planned,
            r.in_use + r.planned,
            r.code,
            r.in_use + r.planned
        )));
    }
    Ok(format!(
        "the target account's vCPU quotas have room: {}",
        rooms
            .iter()
            .map(|r| format!("{} {} + {} of {}", r.code, r.in_use, r.planned, r.quota))
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{instance, plan};

    #[test]
    fn instance_types_count_against_their_family_bucket() {
        assert_eq!(vcpu_bucket("t3.small").0, "L-1216C47A");
        assert_eq!(vcpu_bucket("m5d.large").0, "L-1216C47A");
        assert_eq!(vcpu_bucket("g5.xlarge").0, "L-DB2E81BA");
        assert_eq!(vcpu_bucket("vt1.3xlarge").0, "L-DB2E81BA");
        assert_eq!(vcpu_bucket("p4d.24xlarge").0, "L-417A185B");
        assert_eq!(vcpu_bucket("inf2.xlarge").0, "L-1945791B");
        assert_eq!(vcpu_bucket("u-6tb1.metal").0, "L-43DA4232");
        assert_eq!(vcpu_bucket("u7i-12tb.224xlarge").0, "L-43DA4232");
        assert_eq!(vcpu_bucket("trn1n.32xlarge").0, "L-2C3B7624");
        assert_eq!(vcpu_bucket("im4gn.large").0, "L-1216C47A");
        assert_eq!(vcpu_bucket("gr6.4xlarge").0, "L-DB2E81BA");
        assert_eq!(vcpu_bucket("x2idn.large").0, "L-7295265B");
        assert_eq!(vcpu_bucket("f1.2xlarge").0, "L-74FC7D96");
    }

    fn room(quota: f64, in_use: i64, planned: i64) -> VcpuRoom {
        VcpuRoom {
            code: "L-1216C47A",
            name: "Standard (A, C, D, H, I, M, R, T, Z) instances",
            quota,
            in_use,
            planned,
        }
    }

    #[test]
    fn launches_that_fit_the_quota_pass_and_one_vcpu_over_is_refused_with_the_numbers() {
        assert!(vcpu_quotas("222222222222", &[room(5.0, 2, 2)]).is_ok());
        let err = vcpu_quotas("222222222222", &[room(5.0, 2, 4)]).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        for word in [
            "may run 5 vCPUs",
            "L-1216C47A",
            "2 are in use",
            "need 4",
            "at least 6",
        ] {
            assert!(msg.contains(word), "{word}: {msg}");
        }
    }

    #[tokio::test]
    async fn running_instances_and_their_types_on_every_page_are_counted() {
        use crate::test_support::{clients, two_pages};
        use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput as Types;
        use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput as Instances;
        use aws_sdk_ec2::types::{Instance, InstanceType, InstanceTypeInfo, Reservation, VCpuInfo};
        use aws_sdk_servicequotas::operation::get_service_quota::GetServiceQuotaOutput;
        use aws_sdk_servicequotas::types::ServiceQuota;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let running = |t: InstanceType| {
            let i = Instance::builder().instance_type(t).build();
            Reservation::builder().instances(i).build()
        };
        let vcpus = |t: InstanceType, v: i32| {
            let cpu = VCpuInfo::builder().default_v_cpus(v).build();
            InstanceTypeInfo::builder()
                .instance_type(t)
                .v_cpu_info(cpu)
                .build()
        };
        let [i1, i2] = two_pages!(
            aws_sdk_ec2::Client::describe_instances,
            next_token => next_token,
            Instances::builder().reservations(running(InstanceType::M5Large)),
            Instances::builder().reservations(running(InstanceType::C5Xlarge)),
        );
        let [t1, t2] = two_pages!(
            aws_sdk_ec2::Client::describe_instance_types,
            next_token => next_token,
            Types::builder().instance_types(vcpus(InstanceType::C5Xlarge, 4)),
            Types::builder().instance_types(vcpus(InstanceType::M5Large, 2)),
        );
        let quota = mock!(aws_sdk_servicequotas::Client::get_service_quota).then_output(|| {
            let q = ServiceQuota::builder().value(32.0).build();
            GetServiceQuotaOutput::builder().quota(q).build()
        });
        let tgt = crate::accounts::AccountClients {
            quotas: mock_client!(aws_sdk_servicequotas, RuleMode::Sequential, &[&quota]),
            ..clients(&[&i1, &i2, &t1, &t2], &[], &[])
        };
        let planned = BTreeMap::from([("t3.small".to_string(), (2, 1))]);
        let rooms = read_vcpu_room(&tgt, &planned).await.unwrap();
        assert_eq!(
            (rooms[0].in_use, rooms[0].planned, rooms[0].quota),
            (6, 2, 32.0)
        );
    }

    #[test]
    fn a_marketplace_code_must_be_listed_as_subscribed() {
        let mut p = plan();
        let mut src = instance("i-0123456789abcdef0", "t3.small", None);
        src.product_codes = vec!["abc123".into()];
        let err = marketplace(&p, std::slice::from_ref(&src)).unwrap_err();
        let msg = err.to_string();
        for word in [
            "abc123",
            "OptInRequired",
            "222222222222",
            "options.marketplaceSubscriptions",
        ] {
            assert!(msg.contains(word), "{word}: {msg}");
        }
        p.options.marketplace_subscriptions = vec!["abc123".into()];
        assert!(marketplace(&p, &[src]).unwrap().contains("abc123"));
        let plain = instance("i-0123456789abcdef0", "t3.small", None);
        assert!(
            marketplace(&p, &[plain])
                .unwrap()
                .contains("no source instance")
        );
    }
}
