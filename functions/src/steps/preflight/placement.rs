//! Preflight, where the new instances can run: the instance type each launch uses must be
//! offered in the target subnet's Availability Zone (the target account's zones,
//! DescribeInstanceTypeOfferings), and must boot the image: same architecture, ENA where
//! the type requires it (DescribeInstanceTypes). Launches go only to subnets whose zone
//! offers every planned type; none left is a refusal.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{EnaSupport, Filter, LocationType, ProcessorInfo};

use crate::accounts::AccountClients;
use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;
use crate::state::{InstanceFacts, SubnetFacts};

use super::check::Verdict;

/// The instance type a source instance is launched as: `options.instanceType`, or its own.
pub(super) fn planned_type(plan: &Plan, instance: &InstanceFacts) -> String {
    plan.options
        .instance_type
        .clone()
        .unwrap_or_else(|| instance.instance_type.clone())
}

/// The instance types of all launches ([`planned_type`] of each source instance).
pub(super) fn planned_types(plan: &Plan, instances: &[InstanceFacts]) -> BTreeSet<String> {
    instances.iter().map(|i| planned_type(plan, i)).collect()
}

/// What the target account knows of each planned type: the zones offering it, the
/// architectures it runs and whether it requires ENA.
#[derive(Debug, Default)]
pub(super) struct TypeFacts {
    pub zones: BTreeSet<String>,
    pub architectures: Vec<String>,
    pub ena_required: bool,
    /// Its default vCPUs: what it counts against the account's vCPU quota.
    pub vcpus: i32,
}

/// [`TypeFacts`] of each of `types` in the target account, from every page of
/// DescribeInstanceTypeOfferings and DescribeInstanceTypes.
pub(super) async fn read_types(
    tgt: &AccountClients,
    types: &BTreeSet<String>,
) -> Result<BTreeMap<String, TypeFacts>, StepError> {
    let mut found: BTreeMap<String, TypeFacts> = types
        .iter()
        .map(|t| (t.clone(), TypeFacts::default()))
        .collect();
    let offerings = tgt
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(
            Filter::builder()
                .name("instance-type")
                .set_values(Some(types.iter().cloned().collect()))
                .build(),
        )
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstanceTypeOfferings", &tgt.role_arn)?;
    for o in &offerings {
        if let (Some(t), Some(zone)) = (o.instance_type(), o.location())
            && let Some(f) = found.get_mut(t.as_str())
        {
            f.zones.insert(zone.to_string());
        }
    }
    let described = tgt
        .ec2
        .describe_instance_types()
        .set_instance_types(Some(types.iter().map(|t| t.as_str().into()).collect()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .named("ec2:DescribeInstanceTypes", &tgt.role_arn);
    let described = match described {
        Ok(infos) => infos,
        Err(f) if f.is("InvalidInstanceType") => {
            return Err(StepError::invalid_plan(format!(
                "instance type(s) {}: {} (options.instanceType, or a source instance's type)",
                types.iter().cloned().collect::<Vec<_>>().join(", "),
                f.message
            )));
        }
        Err(f) => return Err(f.into()),
    };
    for info in &described {
        let Some(t) = info.instance_type() else {
            continue;
        };
        if let Some(f) = found.get_mut(t.as_str()) {
            f.architectures = info
                .processor_info()
                .map(ProcessorInfo::supported_architectures)
                .unwrap_or_default()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect();
            f.ena_required = info
                .network_info()
                .and_then(|n| n.ena_support())
                .is_some_and(|e| *e == EnaSupport::Required);
            f.vcpus = info
                .v_cpu_info()
                .and_then(|v| v.default_v_cpus())
                .unwrap_or(0);
        }
    }
    Ok(found)
}

/// The subnets whose zone offers every planned type, or a refusal naming the types and
/// where they are offered
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-type-availability.html>).
pub(super) fn placement(
    subnets: &[SubnetFacts],
    types: &BTreeMap<String, TypeFacts>,
) -> Result<(Vec<SubnetFacts>, String), StepError> {
    let usable: Vec<SubnetFacts> = subnets
        .iter()
        .filter(|s| {
            types
                .values()
                .all(|t| t.zones.contains(&s.availability_zone))
        })
        .cloned()
        .collect();
    let names = types.keys().cloned().collect::<Vec<_>>().join(", ");
    if usable.is_empty() {
        let offered: Vec<String> = types
            .iter()
            .map(|(t, f)| {
                format!(
                    "{t} in {}",
                    if f.zones.is_empty() {
                        "no zone of this account".to_string()
                    } else {
                        f.zones.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                )
            })
            .collect();
        return Err(StepError::invalid_plan(format!(
            "no target subnet is in a zone offering {names} (subnets in {}; offered: {}): add a target subnet in such a zone, or choose another options.instanceType",
            subnets
                .iter()
                .map(|s| format!("{} {}", s.subnet_id, s.availability_zone))
                .collect::<Vec<_>>()
                .join(", "),
            offered.join("; ")
        )));
    }
    let dropped: Vec<String> = subnets
        .iter()
        .filter(|s| !usable.contains(s))
        .map(|s| format!("{} ({})", s.subnet_id, s.availability_zone))
        .collect();
    let sentence = if dropped.is_empty() {
        format!("{names} offered in every target subnet's zone")
    } else {
        format!(
            "{names} not offered where {} are: the new instances launch only in {}",
            dropped.join(", "),
            usable
                .iter()
                .map(|s| format!("{} ({})", s.subnet_id, s.availability_zone))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok((usable, sentence))
}

/// The image keeps the source's architecture and ENA setting: a planned type must run that
/// architecture, and a type that requires ENA needs an ENA-enabled image
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/enhanced-networking-ena.html>).
pub(super) fn bootable(
    plan: &Plan,
    instances: &[InstanceFacts],
    types: &BTreeMap<String, TypeFacts>,
) -> Verdict {
    for i in instances {
        let planned = plan
            .options
            .instance_type
            .clone()
            .unwrap_or_else(|| i.instance_type.clone());
        let Some(t) = types.get(&planned) else {
            continue;
        };
        if let Some(arch) = &i.architecture
            && !t.architectures.is_empty()
            && !t.architectures.contains(arch)
        {
            return Err(StepError::invalid_plan(format!(
                "{planned} runs {} but source instance {} (and so its image) is {arch}: choose an options.instanceType of that architecture",
                t.architectures.join("/"),
                i.instance_id
            )));
        }
        if t.ena_required && i.ena_support == Some(false) {
            return Err(StepError::invalid_plan(format!(
                "{planned} requires ENA but source instance {} has ENA support off, so its image would not boot there: enable ENA on it first, or choose another options.instanceType",
                i.instance_id
            )));
        }
    }
    Ok("every planned instance type runs the source images' architecture".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{instance, plan, subnet};

    fn offered(t: &str, zones: &[&str], arch: &str) -> BTreeMap<String, TypeFacts> {
        BTreeMap::from([(
            t.to_string(),
            TypeFacts {
                zones: zones.iter().map(|z| z.to_string()).collect(),
                architectures: vec![arch.to_string()],
                ena_required: true,
                vcpus: 2,
            },
        )])
    }

    #[test]
    fn launches_go_only_where_the_type_is_offered_and_nowhere_is_a_refusal() {
        let subnets = [
            subnet("subnet-a", "ap-northeast-1a"),
            subnet("subnet-c", "ap-northeast-1c"),
        ];
        let (usable, said) = placement(
            &subnets,
            &offered("g5g.xlarge", &["ap-northeast-1c"], "arm64"),
        )
        .unwrap();
        assert_eq!(usable, vec![subnets[1].clone()]);
        assert!(said.contains("launch only in subnet-c"), "{said}");
        let err = placement(
            &subnets,
            &offered("p5.4xlarge", &["ap-northeast-1d"], "x86_64"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("p5.4xlarge in ap-northeast-1d"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn offerings_and_types_on_every_page_are_read() {
        use crate::test_support::{clients, two_pages};
        use aws_sdk_ec2::operation::describe_instance_type_offerings::DescribeInstanceTypeOfferingsOutput as Offerings;
        use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput as Types;
        use aws_sdk_ec2::types::{InstanceType, InstanceTypeInfo, InstanceTypeOffering, VCpuInfo};
        let offering = |zone: &str| {
            InstanceTypeOffering::builder()
                .instance_type(InstanceType::T3Small)
                .location(zone)
                .build()
        };
        let info = |t: InstanceType, vcpus: i32| {
            InstanceTypeInfo::builder()
                .instance_type(t)
                .v_cpu_info(VCpuInfo::builder().default_v_cpus(vcpus).build())
                .build()
        };
        let [o1, o2] = two_pages!(
            aws_sdk_ec2::Client::describe_instance_type_offerings,
            next_token => next_token,
            Offerings::builder().instance_type_offerings(offering("ap-northeast-1a")),
            Offerings::builder().instance_type_offerings(offering("ap-northeast-1c")),
        );
        let [t1, t2] = two_pages!(
            aws_sdk_ec2::Client::describe_instance_types,
            next_token => next_token,
            Types::builder().instance_types(info(InstanceType::M5Large, 2)),
            Types::builder().instance_types(info(InstanceType::T3Small, 2)),
        );
        let c = clients(&[&o1, &o2, &t1, &t2], &[], &[]);
        let types = BTreeSet::from(["m5.large".to_string(), "t3.small".to_string()]);
        let found = read_types(&c, &types).await.unwrap();
        let t3 = &found["t3.small"];
        assert_eq!(t3.zones.len(), 2, "{:?}", t3.zones);
        assert_eq!((found["m5.large"].vcpus, t3.vcpus), (2, 2));
    }

    #[test]
    fn a_type_of_another_architecture_or_needing_ena_is_refused() {
        let mut p = plan();
        p.options.instance_type = Some("g5g.xlarge".into());
        let mut i = instance("i-a", "t3.small", None);
        i.architecture = Some("x86_64".into());
        let err = bootable(&p, &[i.clone()], &offered("g5g.xlarge", &[], "arm64")).unwrap_err();
        assert!(
            err.to_string()
                .contains("g5g.xlarge runs arm64 but source instance i-a"),
            "{err}"
        );
        p.options.instance_type = Some("m7i.large".into());
        i.ena_support = Some(false);
        let err = bootable(&p, &[i.clone()], &offered("m7i.large", &[], "x86_64")).unwrap_err();
        assert!(err.to_string().contains("requires ENA"), "{err}");
        i.ena_support = Some(true);
        assert!(bootable(&p, &[i], &offered("m7i.large", &[], "x86_64")).is_ok());
    }
}
