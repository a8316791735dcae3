//! The program state machine's functions (statemachine/program.asl.json): thin handlers
//! over the program's Preflight, the wave loop ([`super::next`]), the wait for a vended
//! target, and a service's outcome. Dispatched by name like the steps
//! (`runtime::dispatch`).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::next::{WaveItem, WaveState, next};
use super::outcome::{Ended, ServiceResult, service_result};
use super::preflight::{ProgramCheck, preflight};
use super::vended::{Found, find};
use crate::context::Context;
use crate::error::StepError;
use crate::plan::Plan;
use crate::state::now_epoch_ms;

pub const PREFLIGHT: &str = "program-preflight";
pub const NEXT_WAVE: &str = "program-wave";
pub const TARGET: &str = "program-target";
pub const OUTCOME: &str = "program-outcome";
/// The program's handler names, beside the steps'.
pub const HANDLERS: [&str; 4] = [PREFLIGHT, NEXT_WAVE, TARGET, OUTCOME];

/// The loop's input: the whole program state (`$`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoopState {
    preflight: ProgramCheck,
    #[serde(default)]
    wave: Option<WaveState>,
    /// What the last wave's services became (the Map's result).
    #[serde(default)]
    last_wave: Option<Vec<ServiceResult>>,
}

/// Runs program handler `name` (one of [`HANDLERS`]) on `input`.
pub async fn run(name: &str, ctx: &Context, input: Value) -> Result<Value, StepError> {
    match name {
        PREFLIGHT => {
            let doc = input.get("program").cloned().unwrap_or(input);
            // `{preflight}`: the whole state from here on (the Task's OutputPath).
            preflight(ctx, &doc)
                .await
                .map(compact)
                .and_then(to_json)
                .map(|check| serde_json::json!({ "preflight": check }))
        }
        NEXT_WAVE => parse::<LoopState>(name, input).and_then(|s| {
            to_json(next(
                &s.preflight,
                s.wave.as_ref(),
                s.last_wave.unwrap_or_default(),
                now_epoch_ms(),
            ))
        }),
        TARGET => match parse::<WaveItem>(name, input) {
            Ok(item) => target(ctx, item).await.and_then(to_json),
            Err(e) => Err(e),
        },
        OUTCOME => parse::<Ended>(name, input).and_then(|e| to_json(service_result(e))),
        other => Err(StepError::InvalidPlan(format!(
            "{other:?} is not a program handler ({})",
            HANDLERS.join(", ")
        ))),
    }
}

/// The item's plan with its target found by tag. Errors: NotReady while the account, its
/// role or its VPC is not there (the state's Retry waits); ResourceFailed once it waited
/// `waitMinutes` since its wave began (`waitSinceMs`); InvalidPlan for tags that pick
/// several VPCs or no subnet.
async fn target(ctx: &Context, item: WaveItem) -> Result<Value, StepError> {
    let tags = item.target_by_tag.clone().ok_or_else(|| {
        StepError::invalid_plan(format!("service {}: no targetByTag to wait for", item.name))
    })?;
    let plan = Plan::parse(&item.plan)?;
    let accounts = ctx.accounts(&plan);
    match find(&accounts, &tags).await? {
        Found::Ready { vpc_id, subnet_ids } => {
            let mut plan = item.plan;
            super::vended::fill(&mut plan, vpc_id, subnet_ids);
            Ok(plan)
        }
        Found::Waiting(why) => {
            let since = item.wait_since_ms.unwrap_or_else(now_epoch_ms);
            let waited = now_epoch_ms().saturating_sub(since) / 1000;
            if waited >= u64::from(tags.wait_minutes) * 60 {
                Err(StepError::ResourceFailed(format!(
                    "service {}: gave up after {} min waiting for its target: {why}",
                    item.name, tags.wait_minutes
                )))
            } else {
                Err(StepError::NotReady(format!("service {}: {why}", item.name)))
            }
        }
    }
}

/// The Preflight as the state keeps it through every wave: without each service's checks
/// and the shared uses (their lines stay), so fifty services stay far below the 256 KiB a
/// state may hold (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>).
fn compact(mut check: ProgramCheck) -> ProgramCheck {
    for s in &mut check.services {
        if let super::preflight::Standing::Ready { checks } = &mut s.standing {
            checks.clear();
        }
    }
    check.shared.clear();
    check
}

fn parse<T: DeserializeOwned>(name: &str, input: Value) -> Result<T, StepError> {
    serde_json::from_value(input)
        .map_err(|e| StepError::InvalidPlan(format!("the input of {name} does not parse: {e}")))
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, StepError> {
    serde_json::to_value(value)
        .map_err(|e| StepError::ResourceFailed(format!("output does not serialize: {e}")))
}
