//! The program's Preflight (read-only): the program file, every service's own Preflight,
//! and the limits the services share. `carveout program plan` prints it; a service that
//! fails its own Preflight is reported and left out, a shared limit that the program as
//! a whole would pass refuses the program before anything changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits::{Use, judge};
use super::shared::{Resolved, uses};
use super::vended::{Found, find};
use super::{Program, TargetTags, Wave, waves};
use crate::context::Context;
use crate::error::StepError;
use crate::plan::Plan;
use crate::state::Facts;

/// Where one service stands after the program's Preflight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "status"
)]
pub enum Standing {
    /// Its Preflight passed: `checks` as `carveout plan` shows them.
    Ready { checks: Vec<String> },
    /// Its target is picked by tag and not there yet: it waits up to `waitMinutes`.
    Waiting { why: String, wait_minutes: u32 },
    /// Its Preflight failed: the error's name and message. Nothing of it will run.
    Refused { error: String, cause: String },
}

/// One service of the program, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCheck {
    pub name: String,
    pub migration_id: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_by_tag: Option<TargetTags>,
    /// Its plan, with the target picked by tag filled in when found.
    pub plan: Value,
    #[serde(flatten)]
    pub standing: Standing,
}

/// The program's Preflight: waves, each service's standing, and the shared limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgramCheck {
    pub program_id: String,
    pub tolerated_failure_percentage: u8,
    pub waves: Vec<Wave>,
    pub services: Vec<ServiceCheck>,
    /// Every shared limit with its numbers (all within their limits when Ok); written
    /// for the reader, not read back by the loop.
    #[serde(default, skip_deserializing)]
    pub shared: Vec<Use>,
    pub shared_checks: Vec<String>,
}

/// Runs the program's Preflight. Errors: InvalidPlan for a program file that does not
/// parse or whose services together pass a shared limit (every refusal listed, each
/// naming the limit and the count); AccessDenied/ResourceFailed from a shared read.
pub async fn preflight(ctx: &Context, input: &Value) -> Result<ProgramCheck, StepError> {
    let (program, services) = Program::parse(input)?;
    let waves = waves(&program, &services).map_err(StepError::invalid_plan)?;
    let mut checked = Vec::new();
    let mut resolved: Vec<(String, Plan, Facts)> = Vec::new();
    for service in &services {
        let mut plan = service.plan.clone();
        if let Some(tags) = &service.target_by_tag {
            let accounts = ctx
                .accounts(&service.plan()?)
                .with_session(&program.program_id);
            match find(&accounts, tags).await? {
                Found::Ready { vpc_id, subnet_ids } => {
                    plan["target"]["vpcId"] = vpc_id.into();
                    plan["target"]["subnetIds"] = subnet_ids.into();
                }
                Found::Waiting(why) => {
                    checked.push(ServiceCheck {
                        name: service.name.clone(),
                        migration_id: service.migration_id().to_string(),
                        depends_on: service.depends_on.clone(),
                        target_by_tag: service.target_by_tag.clone(),
                        plan,
                        standing: Standing::Waiting {
                            why,
                            wait_minutes: tags.wait_minutes,
                        },
                    });
                    continue;
                }
            }
        }
        let standing = match crate::steps::preflight(ctx, plan.clone()).await {
            Ok(facts) => {
                let checks = facts.checks.clone();
                resolved.push((service.name.clone(), Plan::parse(&plan)?, facts));
                Standing::Ready { checks }
            }
            Err(e) => Standing::Refused {
                error: e.name().to_string(),
                cause: e.to_string(),
            },
        };
        checked.push(ServiceCheck {
            name: service.name.clone(),
            migration_id: service.migration_id().to_string(),
            depends_on: service.depends_on.clone(),
            target_by_tag: service.target_by_tag.clone(),
            plan,
            standing,
        });
    }
    let shared = match resolved.first() {
        None => Vec::new(),
        Some((_, first, _)) => {
            let accounts = ctx.accounts(first).with_session(&program.program_id);
            let views: Vec<Resolved> = resolved
                .iter()
                .map(|(name, plan, facts)| Resolved { name, plan, facts })
                .collect();
            uses(&accounts, &views, &waves).await?
        }
    };
    let shared_checks = judge(&shared).map_err(|refused| {
        StepError::invalid_plan(format!(
            "program {}: the services together pass {} shared limit(s); nothing was changed: {}",
            program.program_id,
            refused.len(),
            refused.join("; ")
        ))
    })?;
    Ok(ProgramCheck {
        program_id: program.program_id,
        tolerated_failure_percentage: program.tolerated_failure_percentage,
        waves,
        services: checked,
        shared,
        shared_checks,
    })
}
