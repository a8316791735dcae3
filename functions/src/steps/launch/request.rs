//! The settings `carried::decide` chose, as RunInstances parameters, and the one setting
//! RunInstances cannot take (source/destination check, set just after).

use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, BlockDeviceMapping, CpuOptionsRequest, CreditSpecificationRequest,
    EbsBlockDevice, HibernationOptionsRequest, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceMetadataProtocolState,
    InstanceMetadataTagsState, InstanceType, Placement, RunInstancesMonitoringEnabled,
    ShutdownBehavior, Tenancy,
};

use crate::accounts::AccountClients;
use crate::carried::LaunchSettings;
use crate::error::{FreshIdResultExt, SdkResultExt, StepError};

/// `run` with every parameter of `l`; `user_data`: the source's, base64 as
/// DescribeInstanceAttribute answers it, when the plan passes it.
pub(super) fn with_settings(
    run: RunInstancesFluentBuilder,
    l: &LaunchSettings,
    user_data: Option<String>,
) -> RunInstancesFluentBuilder {
    let mut run = run
        .instance_type(InstanceType::from(l.instance_type.as_str()))
        .set_iam_instance_profile(
            l.instance_profile_arn
                .as_ref()
                .map(|arn| IamInstanceProfileSpecification::builder().arn(arn).build()),
        )
        .set_user_data(user_data)
        .monitoring(
            RunInstancesMonitoringEnabled::builder()
                .enabled(l.detailed_monitoring)
                .build(),
        )
        // Only `true` is sent: off is the default, and on types EBS-optimized by default
        // it cannot be turned off anyway.
        .set_ebs_optimized(l.ebs_optimized.then_some(true))
        .set_cpu_options(l.cpu_options.map(|c| {
            CpuOptionsRequest::builder()
                .core_count(c.core_count)
                .threads_per_core(c.threads_per_core)
                .build()
        }))
        .set_credit_specification(
            l.cpu_credits
                .as_ref()
                .map(|c| CreditSpecificationRequest::builder().cpu_credits(c).build()),
        )
        .set_hibernation_options(l.hibernation.then(|| {
            HibernationOptionsRequest::builder()
                .configured(true)
                .build()
        }))
        .set_instance_initiated_shutdown_behavior(
            l.shutdown_behavior.as_deref().map(ShutdownBehavior::from),
        );
    if let Some(m) = &l.metadata {
        run = run.metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::from(m.http_tokens.as_str()))
                .http_put_response_hop_limit(m.http_put_response_hop_limit)
                .http_endpoint(InstanceMetadataEndpointState::from(
                    m.http_endpoint.as_str(),
                ))
                .instance_metadata_tags(InstanceMetadataTagsState::from(
                    m.instance_metadata_tags.as_str(),
                ))
                .set_http_protocol_ipv6(
                    m.http_protocol_ipv6
                        .as_deref()
                        .map(InstanceMetadataProtocolState::from),
                )
                .build(),
        );
    }
    // A mapping that names only an image device's rate keeps everything else the image
    // records for it (RunInstances: "the AMI's block device mapping ... can be modified").
    // https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html#volume-initialization-rate
    if let Some(rate) = l.volume_initialization_rate {
        for device in &l.initialized_devices {
            run = run.block_device_mappings(
                BlockDeviceMapping::builder()
                    .device_name(device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .volume_initialization_rate(rate)
                            .build(),
                    )
                    .build(),
            );
        }
    }
    if l.tenancy.is_some() || l.placement_group.is_some() {
        run = run.placement(
            Placement::builder()
                .set_tenancy(l.tenancy.as_deref().map(Tenancy::from))
                .set_group_name(l.placement_group.clone())
                .build(),
        );
    }
    run
}

/// The source's user data (base64), read again at launch so that it never travels in the
/// execution's history. Errors: AccessDenied or ResourceFailed of the read.
pub(super) async fn source_user_data(
    src: &AccountClients,
    source_instance_id: &str,
) -> Result<Option<String>, StepError> {
    let out = src
        .ec2
        .describe_instance_attribute()
        .instance_id(source_instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .named("ec2:DescribeInstanceAttribute", &src.role_arn)?;
    Ok(out
        .user_data()
        .and_then(|v| v.value())
        .filter(|v| !v.is_empty())
        .map(str::to_string))
}

/// Source/destination checking off on the new instance when it was off on the source
/// (an instance that routes others' traffic). Setting it again is a no-op.
pub(super) async fn carry_after_launch(
    tgt: &AccountClients,
    l: &LaunchSettings,
    instance_id: &str,
) -> Result<(), StepError> {
    let Some(check) = l.source_dest_check else {
        return Ok(());
    };
    tgt.ec2
        .modify_instance_attribute()
        .instance_id(instance_id)
        .source_dest_check(AttributeBooleanValue::builder().value(check).build())
        .send()
        .await
        .named("ec2:ModifyInstanceAttribute", &tgt.role_arn)
        .fresh_id(&format!("the new instance {instance_id}"))?;
    Ok(())
}
