//! Account access: one base SDK config per process, one AssumeRole per account and
//! invocation (role chaining caps sessions at an hour, so credentials are never kept
//! across invocations).
//!
//! The endpoint comes from the standard AWS settings (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_EC2`, …) read by `aws-config`, so the same code talks to AWS or to
//! the local emulator.

use std::collections::HashMap;
use std::sync::Arc;

pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::Mutex;

use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;

/// Loads the base config once per process (Lambda init or CLI start).
pub async fn load_base_config() -> SdkConfig {
    base_loader().load().await
}

fn base_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        // Throttling and 5xx are retried here, with backoff, within a bounded time.
        .retry_config(crate::sdk_policy::retry_config())
        .timeout_config(crate::sdk_policy::timeout_config())
}

/// The CLI's config: the caller's normal credentials and region, or the emulator when an
/// endpoint is given (with dummy credentials if none are set).
pub async fn load_cli_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = base_loader();
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "carveout-emulator",
            ));
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new("us-east-1"));
        }
    }
    loader.load().await
}

/// Clients acting inside one account, through its execution role.
#[derive(Clone, Debug)]
pub struct AccountClients {
    pub account_id: String,
    pub role_arn: String,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ram: aws_sdk_ram::Client,
    pub kms: aws_sdk_kms::Client,
    /// Service Quotas: Preflight reads the target account's vCPU quotas.
    pub quotas: aws_sdk_servicequotas::Client,
    /// IAM: Preflight reads the target account's instance profiles for the plan's mapping.
    pub iam: aws_sdk_iam::Client,
    /// Route 53: private hosted zones of the ALB's VPC, associated with the target VPC.
    pub route53: aws_sdk_route53::Client,
}

impl AccountClients {
    pub fn from_config(account_id: &str, role_arn: &str, config: &SdkConfig) -> Self {
        AccountClients {
            account_id: account_id.to_string(),
            role_arn: role_arn.to_string(),
            ec2: aws_sdk_ec2::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ram: aws_sdk_ram::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            quotas: aws_sdk_servicequotas::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
        }
    }
}

/// Assumes the plan's role in the accounts a step needs, once each per invocation.
pub struct Accounts {
    config: SdkConfig,
    sts: aws_sdk_sts::Client,
    plan_region: String,
    session_name: String,
    cache: Mutex<HashMap<String, Arc<AccountClients>>>,
    plan: Plan,
}

impl Accounts {
    pub fn new(base: &SdkConfig, plan: &Plan) -> Self {
        let config = base
            .to_builder()
            .region(Region::new(plan.region.clone()))
            .build();
        Accounts {
            sts: aws_sdk_sts::Client::new(&config),
            config,
            plan_region: plan.region.clone(),
            session_name: format!("carveout-{}", plan.migration_id),
            cache: Mutex::new(HashMap::new()),
            plan: plan.clone(),
        }
    }

    /// The same, with sessions named `carveout-<name>` (a program's reads name the program).
    pub fn with_session(mut self, name: &str) -> Self {
        self.session_name = format!("carveout-{name}");
        self
    }

    pub fn region(&self) -> &str {
        &self.plan_region
    }

    /// Clients in the network account (`service.accountId`): the ALB, its VPC, the
    /// listener and target groups.
    pub async fn network(&self) -> Result<Arc<AccountClients>, StepError> {
        self.get(&self.plan.service.account_id).await
    }

    /// Clients in the source account: the instances being moved and their images.
    pub async fn source(&self) -> Result<Arc<AccountClients>, StepError> {
        self.get(&self.plan.source.account_id).await
    }

    /// Clients in the target account: the new VPC and instances.
    pub async fn target(&self) -> Result<Arc<AccountClients>, StepError> {
        self.get(&self.plan.target.account_id).await
    }

    /// Clients acting in `account_id` through the plan's role there.
    pub async fn get(&self, account_id: &str) -> Result<Arc<AccountClients>, StepError> {
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache.get(account_id) {
            return Ok(found.clone());
        }
        let role_arn = self.plan.role_arn(account_id);
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(session_name(&self.session_name))
            .duration_seconds(900)
            .send()
            .await
            .named("sts:AssumeRole", &role_arn)
            // Only AWS's access-denied answer means the role is missing or does not trust
            // us; throttling and timeouts stay retryable (CarveOut.NotReady).
            .map_err(|f| match StepError::from(f) {
                StepError::AccessDenied { message, .. } => StepError::AccessDenied {
                    principal: role_arn.clone(),
                    action: "sts:AssumeRole".into(),
                    message: format!(
                        "cannot assume {role_arn}: {message}; deploy the carveout member role in account {account_id} (templates/) or fix roleName"
                    ),
                },
                other => other,
            })?;
        let creds = out.credentials().ok_or_else(|| {
            StepError::ResourceFailed(format!(
                "sts:AssumeRole on {role_arn} returned no credentials"
            ))
        })?;
        let credentials = Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            std::time::SystemTime::try_from(*creds.expiration()).ok(),
            "carveout-assume-role",
        );
        let config = self
            .config
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
        let clients = Arc::new(AccountClients::from_config(account_id, &role_arn, &config));
        cache.insert(account_id.to_string(), clients.clone());
        Ok(clients)
    }
}

/// Session names allow 2-64 of `[\w+=,.@-]`; migration ids are a subset, keep the limit.
fn session_name(name: &str) -> String {
    name.chars().take(64).collect()
}
