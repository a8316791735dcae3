//! Unit-test helpers: account clients whose SDK calls are answered by aws-smithy-mocks.

use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use aws_smithy_types::error::ErrorMetadata;

use crate::accounts::AccountClients;
use crate::plan::Plan;
use crate::state::InstanceFacts;

pub const ROLE: &str = "arn:aws:iam::111111111111:role/CarveOutExecutionRole";

/// Clients of account 111111111111 answering from `ec2`, `elb` and `ram` rules (in order).
pub fn clients(ec2: &[&Rule], elb: &[&Rule], ram: &[&Rule]) -> AccountClients {
    clients_with_kms(ec2, elb, ram, &[])
}

/// As [`clients`], with KMS answering from `kms`.
pub fn clients_with_kms(
    ec2: &[&Rule],
    elb: &[&Rule],
    ram: &[&Rule],
    kms: &[&Rule],
) -> AccountClients {
    AccountClients {
        account_id: "111111111111".into(),
        role_arn: ROLE.into(),
        ec2: mock_client!(aws_sdk_ec2, RuleMode::Sequential, ec2),
        elb: mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::Sequential, elb),
        ram: mock_client!(aws_sdk_ram, RuleMode::Sequential, ram),
        kms: mock_client!(aws_sdk_kms, RuleMode::Sequential, kms),
        quotas: mock_client!(aws_sdk_servicequotas, RuleMode::Sequential, &[]),
        iam: mock_client!(aws_sdk_iam, RuleMode::Sequential, &[]),
        route53: mock_client!(aws_sdk_route53, RuleMode::Sequential, &[]),
    }
}

/// Two mock rules answering the paginated operation `op` in two pages, for tests that
/// prove a caller reads every page: the first answers only a request without a token
/// (`request_token`, `next_token` or ELBv2's `marker`) with `first` and `page-2` as
/// `output_token`; the second answers only the request carrying `page-2`, with `second`.
/// `first` and `second` are output builders. In `RuleMode::Sequential` a request that
/// does not match the next rule fails the test.
macro_rules! two_pages {
    ($op:expr, $request_token:ident => $output_token:ident, $first:expr, $second:expr $(,)?) => {
        [
            aws_smithy_mocks::mock!($op)
                .match_requests(|r| r.$request_token().is_none())
                .then_output(move || $first.$output_token("page-2").build()),
            aws_smithy_mocks::mock!($op)
                .match_requests(|r| r.$request_token() == Some("page-2"))
                .then_output(move || $second.build()),
        ]
    };
}
pub(crate) use two_pages;

/// AWS error metadata with a code, as a service error carries it.
pub fn aws_error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (mocked)"))
        .build()
}

/// A valid plan: network and source account 111111111111, target 222222222222, one
/// instance, consistency live.
pub fn plan() -> Plan {
    serde_json::from_value(serde_json::json!({
        "migrationId": "m-1", "region": "ap-northeast-1",
        "service": {"accountId": "111111111111",
            "listenerArn": "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener/app/main/0123456789abcdef/0123456789abcdef",
            "targetGroupArn": "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/hp/0123456789abcdef"},
        "source": {"accountId": "111111111111", "instanceIds": ["i-0123456789abcdef0"]},
        "target": {"accountId": "222222222222", "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]},
        "consistency": "live"
    }))
    .expect("the fixture plan parses")
}

/// A running source instance of `instance_type` at 10.0.10.5:80 with one root volume,
/// encrypted with `key` when given.
pub fn instance(id: &str, instance_type: &str, key: Option<&str>) -> InstanceFacts {
    serde_json::from_value(serde_json::json!({
        "instanceId": id, "instanceType": instance_type, "privateIp": "10.0.10.5",
        "availabilityZone": "ap-northeast-1a", "imageId": "ami-1", "rootDeviceName": "/dev/sda1",
        "state": "running", "port": 80, "tags": [],
        "volumes": [{"volumeId": "vol-1", "deviceName": "/dev/sda1",
            "encrypted": key.is_some(), "kmsKeyId": key}]
    }))
    .expect("the fixture instance parses")
}

/// Preflight's facts for [`plan`]: one instance, forwarding to the plan's target group.
pub fn facts_json() -> serde_json::Value {
    let tg =
        "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/hp/0123456789abcdef";
    serde_json::json!({
        "network": {"vpcId": "vpc-1", "cidrs": ["10.0.0.0/16"], "routeTableIds": ["rtb-1"],
            "loadBalancerArn": "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:loadbalancer/app/main/0123456789abcdef",
            "securityGroupIds": ["sg-1"]},
        "target": {"vpcId": "vpc-0123456789abcdef0", "cidrs": ["10.1.0.0/16"], "routeTableIds": ["rtb-2"],
            "subnets": [{"subnetId": "subnet-0123456789abcdef0", "availabilityZone": "ap-northeast-1a", "cidr": "10.1.0.0/24"}]},
        "service": {"listenerArn": plan().service.listener_arn, "ruleArn": null, "targetGroupArn": tg,
            "originalActions": [{"Type": "forward", "TargetGroupArn": tg}],
            "targetGroup": {"protocol": "HTTP", "port": 80, "protocolVersion": null, "ipAddressType": null,
                "healthCheckProtocol": null, "healthCheckPort": null, "healthCheckPath": null,
                "healthCheckIntervalSeconds": null, "healthCheckTimeoutSeconds": null,
                "healthyThresholdCount": null, "unhealthyThresholdCount": null,
                "matcherHttpCode": null, "matcherGrpcCode": null},
            "probePriority": 50000},
        "instances": [instance("i-0123456789abcdef0", "t3.micro", None)],
        "options": {"shareSecurityGroupWithRam": false, "noReboot": true}
    })
}

/// [`plan`] as JSON.
pub fn plan_json() -> serde_json::Value {
    serde_json::to_value(plan()).expect("the fixture plan serializes")
}

/// A target subnet's facts in `zone` (CIDR 10.1.10.0/24).
pub fn subnet(id: &str, zone: &str) -> crate::state::SubnetFacts {
    crate::state::SubnetFacts {
        subnet_id: id.into(),
        availability_zone: zone.into(),
        cidr: "10.1.10.0/24".into(),
    }
}
