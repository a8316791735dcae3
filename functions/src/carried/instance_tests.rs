use super::*;
use crate::carried::Handling;

fn source() -> InstanceSettings {
    InstanceSettings {
        instance_profile_arn: Some("arn:aws:iam::111111111111:instance-profile/web".into()),
        metadata: Some(MetadataOptions {
            http_tokens: "optional".into(),
            http_put_response_hop_limit: 2,
            http_endpoint: "enabled".into(),
            instance_metadata_tags: "disabled".into(),
            http_protocol_ipv6: None,
        }),
        detailed_monitoring: true,
        tenancy: Some("default".into()),
        source_dest_check: Some(true),
        ..Default::default()
    }
}

fn mapped() -> CarryOptions {
    CarryOptions {
        instance_profiles: [(
            "arn:aws:iam::111111111111:instance-profile/web".to_string(),
            "arn:aws:iam::222222222222:instance-profile/web".to_string(),
        )]
        .into(),
        ..Default::default()
    }
}

#[test]
fn a_profile_without_a_mapping_is_refused_naming_the_profile_and_the_option() {
    let d = decide("i-1", "m5.large", &source(), &CarryOptions::default());
    let refused = d.refused.join("; ");
    assert!(
        refused.contains("instance-profile/web")
            && refused.contains("options.instanceProfiles {\"web\""),
        "{refused}"
    );
    assert_eq!(d.launch.instance_profile_arn, None);
}

#[test]
fn a_mapped_profile_is_launched_and_reported_as_mapped() {
    let d = decide("i-1", "m5.large", &source(), &mapped());
    assert!(d.refused.is_empty(), "{:?}", d.refused);
    assert_eq!(
        d.launch.instance_profile_arn.as_deref(),
        Some("arn:aws:iam::222222222222:instance-profile/web")
    );
    let row = d
        .rows
        .iter()
        .find(|r| r.setting == "IamInstanceProfile")
        .unwrap();
    assert_eq!(row.handling, Handling::Mapped);
}

#[test]
fn metadata_options_are_copied_exactly_unless_the_plan_requires_imdsv2() {
    let d = decide("i-1", "m5.large", &source(), &mapped());
    let m = d.launch.metadata.clone().unwrap();
    assert_eq!(
        (m.http_tokens.as_str(), m.http_put_response_hop_limit),
        ("optional", 2),
        "IMDSv1 stays allowed, hop limit 2 kept"
    );
    let strict = CarryOptions {
        require_imdsv2: true,
        ..mapped()
    };
    let d = decide("i-1", "m5.large", &source(), &strict);
    let m = d.launch.metadata.unwrap();
    assert_eq!(
        (m.http_tokens.as_str(), m.http_put_response_hop_limit),
        ("required", 2)
    );
    assert!(
        d.rows
            .iter()
            .any(|r| r.setting == "MetadataOptions" && r.handling == Handling::Mapped)
    );
}

#[test]
fn user_data_is_reported_and_passed_only_when_asked() {
    let s = InstanceSettings {
        has_user_data: true,
        ..source()
    };
    let d = decide("i-1", "m5.large", &s, &mapped());
    assert!(!d.launch.pass_user_data);
    let row = d.rows.iter().find(|r| r.setting == "UserData").unwrap();
    assert_eq!(row.handling, Handling::NotCarried);
    assert!(row.why.as_deref().unwrap().contains("options.passUserData"));
    let d = decide(
        "i-1",
        "m5.large",
        &s,
        &CarryOptions {
            pass_user_data: true,
            ..mapped()
        },
    );
    assert!(d.launch.pass_user_data);
}

#[test]
fn cpu_options_follow_the_type_and_credits_only_a_burstable_one() {
    let s = InstanceSettings {
        cpu_options: Some(CpuOptions {
            core_count: 2,
            threads_per_core: 1,
        }),
        cpu_credits: Some("unlimited".into()),
        ..source()
    };
    let d = decide("i-1", "t3.large", &s, &mapped());
    assert_eq!(
        d.launch.cpu_options,
        Some(CpuOptions {
            core_count: 2,
            threads_per_core: 1
        })
    );
    assert_eq!(d.launch.cpu_credits.as_deref(), Some("unlimited"));
    let other = CarryOptions {
        instance_type: Some("m5.large".into()),
        ..mapped()
    };
    let d = decide("i-1", "t3.large", &s, &other);
    assert_eq!(d.launch.instance_type, "m5.large");
    assert_eq!((d.launch.cpu_options, d.launch.cpu_credits), (None, None));
    assert!(
        d.rows
            .iter()
            .any(|r| r.setting == "CpuOptions" && r.handling == Handling::NotCarried)
    );
}

#[test]
fn dedicated_hosts_and_unmapped_placement_groups_are_refused() {
    let s = InstanceSettings {
        tenancy: Some("host".into()),
        placement_group: Some("db-cluster".into()),
        ..source()
    };
    let refused = decide("i-1", "m5.large", &s, &mapped()).refused.join("; ");
    assert!(
        refused.contains("Dedicated Host")
            && refused.contains("options.placementGroups {\"db-cluster\""),
        "{refused}"
    );
    let s = InstanceSettings {
        placement_group: Some("db-cluster".into()),
        ..source()
    };
    let opts = CarryOptions {
        placement_groups: [("db-cluster".to_string(), "db".to_string())].into(),
        ..mapped()
    };
    let d = decide("i-1", "m5.large", &s, &opts);
    assert!(d.refused.is_empty());
    assert_eq!(d.launch.placement_group.as_deref(), Some("db"));
}

#[test]
fn addresses_that_do_not_move_are_refused_unless_accepted() {
    let s = InstanceSettings {
        secondary_private_ips: vec!["10.0.1.9".into()],
        elastic_ip: Some("203.0.113.5".into()),
        ..source()
    };
    let refused = decide("i-1", "m5.large", &s, &mapped()).refused.join("; ");
    assert!(
        refused.contains("10.0.1.9")
            && refused.contains("203.0.113.5")
            && refused.contains("address transfer")
            && refused.contains("options.acceptAddressChanges"),
        "{refused}"
    );
    let d = decide(
        "i-1",
        "m5.large",
        &s,
        &CarryOptions {
            accept_address_changes: true,
            ..mapped()
        },
    );
    assert!(d.refused.is_empty());
    assert!(
        d.rows
            .iter()
            .any(|r| r.setting == "ElasticIp" && r.handling == Handling::NotCarried)
    );
}

#[test]
fn a_source_that_routes_traffic_keeps_source_dest_check_off() {
    let s = InstanceSettings {
        source_dest_check: Some(false),
        ..source()
    };
    assert_eq!(
        decide("i-1", "m5.large", &s, &mapped())
            .launch
            .source_dest_check,
        Some(false)
    );
    assert_eq!(
        decide("i-1", "m5.large", &source(), &mapped())
            .launch
            .source_dest_check,
        None,
        "the default needs no call"
    );
}

#[test]
fn every_volume_has_a_row_with_its_type_size_and_performance() {
    let s = InstanceSettings {
        volumes: vec![VolumeSettings {
            device_name: "/dev/sdf".into(),
            volume_type: "gp3".into(),
            size_gib: 100,
            iops: Some(6000),
            throughput: Some(250),
            delete_on_termination: false,
        }],
        ..source()
    };
    let d = decide("i-1", "m5.large", &s, &mapped());
    let row = d
        .rows
        .iter()
        .find(|r| r.setting == "BlockDeviceMappings /dev/sdf")
        .unwrap();
    assert_eq!(
        row.new,
        "gp3 100 GiB, 6000 IOPS, 250 MiB/s, kept after termination"
    );
}

#[test]
fn a_provisioned_initialization_rate_reaches_every_volume_of_the_launch() {
    let vol = |d: &str| VolumeSettings {
        device_name: d.into(),
        volume_type: "gp3".into(),
        size_gib: 8,
        ..Default::default()
    };
    let s = InstanceSettings {
        volumes: vec![vol("/dev/xvda"), vol("/dev/sdf")],
        ..source()
    };
    let d = decide("i-1", "m5.large", &s, &mapped());
    assert_eq!(d.launch.volume_initialization_rate, None);
    assert!(d.launch.initialized_devices.is_empty());
    let opts = CarryOptions {
        volume_initialization_rate: Some(200),
        ..mapped()
    };
    let d = decide("i-1", "m5.large", &s, &opts);
    assert_eq!(d.launch.volume_initialization_rate, Some(200));
    assert_eq!(d.launch.initialized_devices, ["/dev/xvda", "/dev/sdf"]);
    let row = d
        .rows
        .iter()
        .find(|r| r.setting == "VolumeInitializationRate")
        .unwrap();
    assert_eq!(
        (row.handling, row.new.as_str()),
        (Handling::Mapped, "200 MiB/s for every volume")
    );
}

#[test]
fn every_catalogued_setting_is_decided_somewhere() {
    // The catalogue is the docs' table: a setting it lists that decide() never names
    // would be a promise the code does not keep.
    let s = InstanceSettings {
        has_user_data: true,
        cpu_options: Some(CpuOptions {
            core_count: 1,
            threads_per_core: 1,
        }),
        cpu_credits: Some("standard".into()),
        shutdown_behavior: Some("stop".into()),
        placement_group: Some("g".into()),
        secondary_private_ips: vec!["10.0.0.9".into()],
        extra_network_interfaces: vec!["eni-1".into()],
        elastic_ip: Some("203.0.113.1".into()),
        termination_protection: true,
        volumes: vec![VolumeSettings {
            device_name: "/dev/xvda".into(),
            ..Default::default()
        }],
        ..source()
    };
    let opts = CarryOptions {
        placement_groups: [("g".to_string(), "g".to_string())].into(),
        accept_address_changes: true,
        ..mapped()
    };
    let mut named: Vec<String> = decide("i-1", "t3.micro", &s, &opts)
        .rows
        .into_iter()
        .map(|r| r.setting)
        .collect();
    named.extend([
        "PublicIpAddress".into(),
        "Tags".into(),
        "TargetGroupAttributes".into(),
        "HealthCheck".into(),
    ]);
    for (setting, _) in crate::carried::CATALOGUE {
        assert!(
            named
                .iter()
                .any(|n| n == setting || n.starts_with(&format!("{setting} "))),
            "{setting} is catalogued but never decided"
        );
    }
}

#[test]
fn ebs_optimization_and_hibernation_stay_with_the_type() {
    let s = InstanceSettings {
        ebs_optimized: true,
        hibernation: true,
        ..source()
    };
    let d = decide("i-1", "m4.large", &s, &mapped());
    assert!(d.launch.ebs_optimized && d.launch.hibernation);
    let other = CarryOptions {
        instance_type: Some("t2.large".into()),
        ..mapped()
    };
    let d = decide("i-1", "m4.large", &s, &other);
    assert!(
        !d.launch.ebs_optimized && !d.launch.hibernation,
        "t2 supports neither: RunInstances would refuse"
    );
    assert!(
        d.rows
            .iter()
            .any(|r| r.setting == "EbsOptimized" && r.handling == Handling::NotCarried)
    );
}
