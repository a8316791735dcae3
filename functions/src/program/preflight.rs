//! The program's Preflight (read-only): the program file, every service's own Preflight,
//! and the limits the services share. `carveout program plan` prints it; a service that
//! fails its own Preflight is reported and left out, a shared limit that the program as
//! a whole would pass refuses the program before anything changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::limits::{Use, judge};
use super::shared::{Resolved, Waiting, uses};
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

/// Services whose own Preflight runs at once (each reads its three accounts; the SDK
/// retries what the accounts' API rates throttle).
const PREFLIGHT_CONCURRENCY: usize = 4;

/// Runs the program's Preflight. Errors: InvalidPlan for a program file that does not
/// parse or whose services together pass a shared limit (every refusal listed, each
/// naming the limit and the count); AccessDenied/ResourceFailed from a shared read.
pub async fn preflight(ctx: &Context, input: &Value) -> Result<ProgramCheck, StepError> {
    let (program, services) = Program::parse(input)?;
    let waves = waves(&program, &services).map_err(StepError::invalid_plan)?;
    // Targets picked by tag first (one read each), then every service's own Preflight,
    // PREFLIGHT_CONCURRENCY at a time: fifty in turn could outlast the function.
    let mut plans: Vec<(Value, Option<Standing>)> = Vec::new();
    for service in &services {
        let mut plan = service.plan.clone();
        let mut standing = None;
        if let Some(tags) = &service.target_by_tag {
            let accounts = ctx
                .accounts(&service.plan()?)
                .with_session(&program.program_id);
            // A target that cannot be found is this service's problem, not the program's.
            match find(&accounts, tags).await {
                Ok(Found::Ready { vpc_id, subnet_ids }) => {
                    super::vended::fill(&mut plan, vpc_id, subnet_ids)
                }
                Ok(Found::Waiting(why)) => {
                    standing = Some(Standing::Waiting {
                        why,
                        wait_minutes: tags.wait_minutes,
                    })
                }
                Err(e) => {
                    standing = Some(Standing::Refused {
                        error: e.name().to_string(),
                        cause: e.to_string(),
                    })
                }
            }
        }
        plans.push((plan, standing));
    }
    let mut answers: Vec<Option<Result<Facts, StepError>>> = plans.iter().map(|_| None).collect();
    let todo: Vec<usize> = (0..plans.len()).filter(|&i| plans[i].1.is_none()).collect();
    for chunk in todo.chunks(PREFLIGHT_CONCURRENCY) {
        let mut running = tokio::task::JoinSet::new();
        for &i in chunk {
            let (ctx, plan) = (ctx.clone(), plans[i].0.clone());
            running.spawn(async move { (i, crate::steps::preflight(&ctx, plan).await) });
        }
        while let Some(done) = running.join_next().await {
            let (i, answer) = done.map_err(|e| {
                StepError::ResourceFailed(format!("a service's Preflight did not finish: {e}"))
            })?;
            answers[i] = Some(answer);
        }
    }
    let mut checked = Vec::new();
    let mut resolved: Vec<(String, Plan, Facts)> = Vec::new();
    let mut pending: Vec<(String, Plan)> = Vec::new();
    for ((service, (plan, waiting)), answer) in services.iter().zip(plans).zip(answers) {
        let standing = match (waiting, answer) {
            (Some(waiting @ Standing::Waiting { .. }), _) => {
                pending.push((service.name.clone(), Plan::parse(&plan)?));
                waiting
            }
            (Some(waiting), _) => waiting,
            (None, Some(Ok(facts))) => {
                let checks = facts.checks.clone();
                resolved.push((service.name.clone(), Plan::parse(&plan)?, facts));
                Standing::Ready { checks }
            }
            (None, Some(Err(e))) => Standing::Refused {
                error: e.name().to_string(),
                cause: e.to_string(),
            },
            // Not reached: every service without a waiting target was checked above.
            (None, None) => Standing::Refused {
                error: crate::error::RESOURCE_FAILED.into(),
                cause: "its Preflight did not run".into(),
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
    let views: Vec<Resolved> = resolved
        .iter()
        .map(|(name, plan, facts)| Resolved { name, plan, facts })
        .collect();
    let overlaps = super::shared::overlapping_targets(&views);
    if !overlaps.is_empty() {
        return Err(StepError::invalid_plan(format!(
            "program {}: nothing was changed: {}",
            program.program_id,
            overlaps.join("; ")
        )));
    }
    let waiting_views: Vec<Waiting> = pending
        .iter()
        .map(|(name, plan)| Waiting { name, plan })
        .collect();
    let first = resolved
        .first()
        .map(|r| &r.1)
        .or(pending.first().map(|p| &p.1));
    let shared = match first {
        None => Vec::new(),
        Some(first) => {
            let accounts = ctx.accounts(first).with_session(&program.program_id);
            uses(&accounts, &views, &waiting_views, &waves).await?
        }
    };
    let waiting = checked
        .iter()
        .filter(|s| matches!(s.standing, Standing::Waiting { .. }))
        .count() as u64;
    let worst = super::history::worst_case(checked.len() as u64, waiting, waves.len() as u64);
    if worst > super::history::HISTORY_LIMIT {
        return Err(StepError::invalid_plan(format!(
            "program {}: its execution could write {worst} history events, above {}: split it",
            program.program_id,
            super::history::HISTORY_LIMIT
        )));
    }
    let mut shared_checks = judge(&shared).map_err(|refused| {
        StepError::invalid_plan(format!(
            "program {}: the services together pass {} shared limit(s); nothing was changed: {}",
            program.program_id,
            refused.len(),
            refused.join("; ")
        ))
    })?;
    shared_checks.push(format!(
        "the program's own history: at most {worst} events of {} (its services' polls are in their own executions)",
        super::history::HISTORY_LIMIT
    ));
    Ok(ProgramCheck {
        program_id: program.program_id,
        tolerated_failure_percentage: program.tolerated_failure_percentage,
        waves,
        services: checked,
        shared,
        shared_checks,
    })
}
