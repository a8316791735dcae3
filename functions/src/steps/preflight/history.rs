//! The execution's own limit: Step Functions fails an execution whose history passes
//! 25,000 events, and no Catch runs then, so no Rollback
//! (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>). Every poll
//! is a Task attempt in some history: the per-instance image and launch work runs in child
//! executions with their own, the rest in the migration's. A plan whose worst case passes
//! the limit in any of them is refused before anything changes.

use serde_json::Value;

use super::check::Verdict;
use crate::error::StepError;
use crate::state::Facts;
use crate::workflow::{ASL, HISTORY_LIMIT, HistoryEvents, history_events, planned_input};

/// The worst-case history of a run of `plan` on `facts`, from the deployed definition.
/// Errors: InvalidPlan if the definition cannot be walked on these facts (a defect).
pub(super) fn read_history(plan: &Value, facts: &Facts) -> Result<Worst, StepError> {
    let asl: Value = serde_json::from_str(ASL)
        .map_err(|e| StepError::invalid_plan(format!("the built-in definition: {e}")))?;
    let facts_json = serde_json::to_value(facts)
        .map_err(|e| StepError::invalid_plan(format!("the facts: {e}")))?;
    let walk = |facts: &Value| {
        history_events(&asl, &planned_input(plan, facts))
            .map_err(|e| StepError::invalid_plan(format!("the workflow cannot be walked: {e}")))
    };
    let events = walk(&facts_json)?;
    // The bound is linear in the instances: one fewer gives what each one costs.
    let mut fewer = facts_json.clone();
    if let Some(list) = fewer["instances"].as_array_mut() {
        list.pop();
    }
    let per_instance = events.most.saturating_sub(walk(&fewer)?.most);
    Ok(Worst {
        events,
        instances: facts.instances.len() as u64,
        per_instance,
    })
}

/// A plan's worst-case history: its events, its instances and what one instance adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Worst {
    pub events: HistoryEvents,
    pub instances: u64,
    pub per_instance: u64,
}

/// Passes when the worst case stays within [`HISTORY_LIMIT`]; otherwise InvalidPlan with the
/// numbers and how many instances one execution can move with these options.
pub(super) fn history_fits(worst: &Worst) -> Verdict {
    let most = worst.events.most;
    let child = worst.events.child_most;
    if child > HISTORY_LIMIT {
        return Err(StepError::invalid_plan(format!(
            "at worst a child execution (an instance's image or launch, a step of a gradual \
             cutover) writes {child} history events, over Step Functions' limit of \
             {HISTORY_LIMIT}: past it the service fails it and the migration rolls back"
        )));
    }
    if most <= HISTORY_LIMIT {
        return Ok(format!(
            "the execution's history stays within Step Functions' {HISTORY_LIMIT} events: \
             {most} at worst (every poll used), and {child} in each instance's child execution"
        ));
    }
    let fixed = most.saturating_sub(worst.per_instance * worst.instances);
    let fit = HISTORY_LIMIT.saturating_sub(fixed) / worst.per_instance.max(1);
    Err(StepError::invalid_plan(format!(
        "at worst this migration writes {most} history events ({} instances, up to {} each: \
         every poll and retry), over Step Functions' limit of {HISTORY_LIMIT}; \
         past it the service fails the execution and no Rollback runs. With these options \
         one execution can move at most {fit} instances (options.kmsKeyId adds a copy and its \
         polls per instance); see docs/safety.md, \"The execution's history\"",
        worst.instances, worst.per_instance
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(most: u64, instances: u64, per_instance: u64) -> Worst {
        Worst {
            events: HistoryEvents {
                least: 100,
                most,
                child_most: 900,
                inline: most + 900,
            },
            instances,
            per_instance,
        }
    }

    #[test]
    fn a_worst_case_within_the_limit_passes_with_its_number() {
        let ok = history_fits(&worst(24_000, 19, 1_200)).unwrap();
        assert!(ok.contains("24000 at worst"), "{ok}");
    }

    #[test]
    fn a_worst_case_over_the_limit_is_refused_with_the_instances_that_fit() {
        // 1,000 fixed + 20 × 1,250 = 26,000: (25,000 − 1,000) / 1,250 = 19 fit.
        let err = history_fits(&worst(26_000, 20, 1_250)).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.name(), "CarveOut.InvalidPlan");
        for word in [
            "26000 history events",
            "20 instances",
            "limit of 25000",
            "at most 19",
        ] {
            assert!(msg.contains(word), "{word}: {msg}");
        }
    }
}
