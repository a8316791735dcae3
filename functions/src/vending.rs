//! Account-vending follow-up: when Control Tower (`CreateManagedAccount`) or Organizations
//! (`CreateAccountResult`) reports a new account, start the migrations waiting for it.
//!
//! Plans wait in SSM Parameter Store under `<prefix><target account id>/<migration id>`
//! (default prefix `/carveout/plans/`), one JSON plan per parameter. Each valid plan is
//! started as an execution named after its migration id, so a repeated event starts
//! nothing twice; an invalid plan is reported (log, and SNS when a topic is configured)
//! and never started.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{SdkResultExt, StepError};
use crate::plan::Plan;

pub const DEFAULT_PREFIX: &str = "/carveout/plans/";

/// The `detail` of both lifecycle events (CloudTrail service events).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_name: Option<String>,
    service_event_details: Option<ServiceEventDetails>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceEventDetails {
    create_managed_account_status: Option<ManagedAccountStatus>,
    create_account_status: Option<CreateAccountStatus>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccountStatus {
    state: String,
    account: Option<ManagedAccount>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ManagedAccount {
    account_id: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateAccountStatus {
    state: String,
    account_id: Option<String>,
}

/// The account a lifecycle event reports as successfully created, or why it is ignored.
pub fn vended_account(event: &Value) -> Result<String, String> {
    let event: CloudWatchEvent<Detail> = serde_json::from_value(event.clone())
        .map_err(|e| format!("not an EventBridge event: {e}"))?;
    let source = event.source.as_deref().unwrap_or_default();
    let detail = event.detail.unwrap_or_default();
    let details = detail.service_event_details.unwrap_or_default();
    let (state, account) = match (source, detail.event_name.as_deref()) {
        ("aws.controltower", Some("CreateManagedAccount")) => {
            let s = details
                .create_managed_account_status
                .ok_or("CreateManagedAccount without createManagedAccountStatus")?;
            (s.state, s.account.map(|a| a.account_id))
        }
        ("aws.organizations", Some("CreateAccountResult")) => {
            let s = details
                .create_account_status
                .ok_or("CreateAccountResult without createAccountStatus")?;
            (s.state, s.account_id)
        }
        (source, name) => return Err(format!("not an account-vending event ({source} {name:?})")),
    };
    if state != "SUCCEEDED" {
        return Err(format!("account creation is {state}, not SUCCEEDED"));
    }
    account.ok_or_else(|| "the event names no account id".to_string())
}

#[derive(Debug, Clone)]
pub struct VendingConfig {
    pub state_machine_arn: String,
    pub parameter_prefix: String,
    pub topic_arn: Option<String>,
}

impl VendingConfig {
    pub fn from_env() -> Result<Self, String> {
        let state_machine_arn =
            std::env::var("STATE_MACHINE_ARN").map_err(|_| "STATE_MACHINE_ARN is not set")?;
        let mut parameter_prefix =
            std::env::var("PLAN_PARAMETER_PREFIX").unwrap_or_else(|_| DEFAULT_PREFIX.into());
        if !parameter_prefix.ends_with('/') {
            parameter_prefix.push('/');
        }
        let topic_arn = std::env::var("NOTIFICATION_TOPIC_ARN")
            .ok()
            .filter(|t| !t.is_empty());
        Ok(VendingConfig {
            state_machine_arn,
            parameter_prefix,
            topic_arn,
        })
    }
}

pub struct VendingClients {
    pub ssm: aws_sdk_ssm::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub sns: aws_sdk_sns::Client,
}

impl VendingClients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        VendingClients {
            ssm: aws_sdk_ssm::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}

#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VendingOut {
    pub account_id: Option<String>,
    pub ignored: Option<String>,
    pub started: Vec<Started>,
    pub already_started: Vec<Started>,
    pub invalid: Vec<InvalidPlan>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub migration_id: String,
    pub execution_arn: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvalidPlan {
    pub parameter: String,
    pub reason: String,
}

const WHO: &str = "the vending function's role";

/// The ARN of the execution named `name` of a state machine.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

pub async fn handle(
    clients: &VendingClients,
    config: &VendingConfig,
    event: Value,
) -> Result<VendingOut, StepError> {
    let account = match vended_account(&event) {
        Ok(account) => account,
        Err(reason) => {
            tracing::info!(reason, "ignored");
            return Ok(VendingOut {
                ignored: Some(reason),
                ..VendingOut::default()
            });
        }
    };
    let mut out = VendingOut {
        account_id: Some(account.clone()),
        ..VendingOut::default()
    };
    for (name, value) in plans_for(clients, config, &account).await? {
        let plan = serde_json::from_str::<Value>(&value)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| Plan::parse(&v).map_err(|e| e.to_string()))
            .and_then(|p| {
                if p.target.account_id == account {
                    Ok(p)
                } else {
                    Err(format!(
                        "target.accountId is {}, but it is stored under {account}",
                        p.target.account_id
                    ))
                }
            });
        let plan = match plan {
            Ok(plan) => plan,
            Err(reason) => {
                tracing::error!(parameter = %name, reason, "invalid plan: not started");
                out.invalid.push(InvalidPlan {
                    parameter: name,
                    reason,
                });
                continue;
            }
        };
        // The execution is named after the migration id: a repeated event finds the first
        // execution and starts nothing new.
        let arn = execution_arn(&config.state_machine_arn, &plan.migration_id);
        let existing = clients
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await;
        let exists = match existing.named("states:DescribeExecution", WHO) {
            Ok(_) => true,
            Err(f) if f.is("ExecutionDoesNotExist") => false,
            Err(f) => return Err(f.into()),
        };
        let started = Started {
            migration_id: plan.migration_id.clone(),
            execution_arn: arn,
        };
        if exists {
            out.already_started.push(started);
            continue;
        }
        match clients
            .sfn
            .start_execution()
            .state_machine_arn(&config.state_machine_arn)
            .name(&plan.migration_id)
            .input(&value)
            .send()
            .await
            .named("states:StartExecution", WHO)
        {
            Ok(_) => {
                tracing::info!(migration = %plan.migration_id, execution = %started.execution_arn, "started");
                out.started.push(started);
            }
            // Started concurrently by a duplicate event.
            Err(f) if f.is("ExecutionAlreadyExists") => out.already_started.push(started),
            Err(f) => return Err(f.into()),
        }
    }
    if !out.invalid.is_empty() {
        report_invalid(clients, config, &account, &out.invalid).await?;
    }
    Ok(out)
}

/// The plans stored for `account`: (parameter name, value), from every page of
/// GetParametersByPath.
async fn plans_for(
    clients: &VendingClients,
    config: &VendingConfig,
    account: &str,
) -> Result<Vec<(String, String)>, StepError> {
    let path = format!("{}{account}/", config.parameter_prefix);
    let pages = clients
        .ssm
        .get_parameters_by_path()
        .path(&path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .named("ssm:GetParametersByPath", WHO)?;
    Ok(pages
        .iter()
        .flat_map(|page| page.parameters())
        .filter_map(|p| Some((p.name()?.to_string(), p.value()?.to_string())))
        .collect())
}

async fn report_invalid(
    clients: &VendingClients,
    config: &VendingConfig,
    account: &str,
    invalid: &[InvalidPlan],
) -> Result<(), StepError> {
    let Some(topic) = &config.topic_arn else {
        return Ok(());
    };
    let lines: Vec<String> = invalid
        .iter()
        .map(|i| format!("- {}: {}", i.parameter, i.reason))
        .collect();
    clients
        .sns
        .publish()
        .topic_arn(topic)
        .subject(format!("carveout: invalid plan(s) for new account {account}"))
        .message(format!(
            "Account {account} was created, but these stored plans are invalid and were not started:\n{}",
            lines.join("\n")
        ))
        .send()
        .await
        .named("sns:Publish", WHO)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "ct-ok" => {
                include_str!("../../events/controltower-create-managed-account-succeeded.json")
            }
            "ct-failed" => {
                include_str!("../../events/controltower-create-managed-account-failed.json")
            }
            "org-ok" => {
                include_str!("../../events/organizations-create-account-result-succeeded.json")
            }
            other => panic!("no event fixture named {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn control_tower_success_names_the_account() {
        assert_eq!(vended_account(&fixture("ct-ok")), Ok("222222222222".into()));
    }

    #[test]
    fn organizations_success_names_the_account() {
        assert_eq!(
            vended_account(&fixture("org-ok")),
            Ok("222222222222".into())
        );
    }

    #[test]
    fn a_failed_creation_is_ignored() {
        let reason = vended_account(&fixture("ct-failed")).unwrap_err();
        assert!(reason.contains("FAILED"), "{reason}");
    }

    #[tokio::test]
    async fn plans_on_every_page_of_the_parameters_are_read() {
        use crate::test_support::two_pages;
        use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
        use aws_sdk_ssm::types::Parameter;
        use aws_smithy_mocks::{RuleMode, mock_client};
        let plan = |m: &str| {
            Parameter::builder()
                .name(format!("/carveout/plans/222222222222/{m}"))
                .value("{}")
                .build()
        };
        let [first, second] = two_pages!(
            aws_sdk_ssm::Client::get_parameters_by_path,
            next_token => next_token,
            GetParametersByPathOutput::builder().parameters(plan("m-1")),
            GetParametersByPathOutput::builder().parameters(plan("m-2")),
        );
        let clients = VendingClients {
            ssm: mock_client!(aws_sdk_ssm, RuleMode::Sequential, &[&first, &second]),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::Sequential, &[]),
            sns: mock_client!(aws_sdk_sns, RuleMode::Sequential, &[]),
        };
        let config = VendingConfig {
            state_machine_arn: "arn:aws:states:ap-northeast-1:111111111111:stateMachine:m".into(),
            parameter_prefix: DEFAULT_PREFIX.into(),
            topic_arn: None,
        };
        let found = plans_for(&clients, &config, "222222222222").await.unwrap();
        let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/carveout/plans/222222222222/m-1",
                "/carveout/plans/222222222222/m-2"
            ]
        );
    }

    #[test]
    fn other_events_are_ignored() {
        let event = serde_json::json!({"source": "aws.ec2", "detail-type": "x", "detail": {}});
        assert!(vended_account(&event).is_err());
    }
}
