//! What an execution that ended without its own Rollback left behind, read from its
//! history (Step Functions keeps it for 90 days after the execution closes:
//! <https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html>).
//!
//! Pure decisions over the events ([`Finding`]); the parent module reads them.

use aws_sdk_sfn::types::HistoryEvent;

use crate::state::State;

/// One history event, as much of it as the watcher needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The `HistoryEventType` name: `TaskStateEntered`, `LambdaFunctionScheduled`, …
    pub kind: String,
    /// Epoch milliseconds.
    pub timestamp_ms: i64,
    /// The state's name (state entered/exited events).
    pub state: Option<String>,
    /// The state's input (entered) or output (exited), JSON text.
    pub data: Option<String>,
    /// `LambdaFunctionScheduled`: the Task's TimeoutSeconds, when the Task sets one.
    pub timeout_seconds: Option<i64>,
}

/// What the history says is to be done.
#[derive(Debug, Clone)]
pub enum Finding {
    /// No state ever held Preflight's facts: nothing was changed (nothing changes before
    /// Preflight passes), so there is nothing to restore.
    NothingChanged,
    /// The execution's own Rollback ran to its end: it already restored what it could.
    RollbackRan,
    /// The execution stopped between Preflight and its end without Rollback: restore from
    /// the last state it held. `quiet_after_ms`: the epoch ms by which every Lambda
    /// invocation the execution scheduled must have ended (stopping an execution does not
    /// stop a running function, and a failed answer does not prove the function stopped):
    /// restoring before then could be undone by one of them.
    Restore {
        state: Box<State>,
        quiet_after_ms: Option<i64>,
    },
    /// Preflight passed, yet no state document in the history parses (e.g. written by
    /// another version of carveout): what was changed cannot be known from here.
    Unreadable,
}

/// The state whose Task restores routing: its successful exit means Rollback ran.
pub const ROLLBACK_STATE: &str = "Rollback";

/// The state whose exit with facts means something may have changed.
pub const PREFLIGHT_STATE: &str = "Preflight";

/// A Task without TimeoutSeconds may run as long as Lambda's maximum (15 minutes).
const LAMBDA_MAX_SECONDS: i64 = 900;

/// Decides from the history, newest event first (as `reverseOrder` reads it).
pub fn finding(newest_first: &[Event]) -> Finding {
    if newest_first
        .iter()
        .any(|e| e.kind.ends_with("StateExited") && e.state.as_deref() == Some(ROLLBACK_STATE))
    {
        return Finding::RollbackRan;
    }
    // The newest document that is a whole state of the migration, with Preflight's facts:
    // a state's input on entry or its output on exit. A Map iteration's input carries the
    // plan and facts too, but not the instance list (the Map leaves it to the child) nor
    // what the migration added before the Map (`maintenance`): restoring from it would
    // take a stopped source for one never stopped.
    let state = newest_first.iter().find_map(|e| {
        let with_state = e.kind.ends_with("StateEntered") || e.kind.ends_with("StateExited");
        let text = e.data.as_deref().filter(|_| with_state)?;
        serde_json::from_str::<State>(text)
            .ok()
            .filter(|s| s.facts.as_ref().is_some_and(|f| !f.instances.is_empty()))
    });
    // Preflight's exit holds facts only when it passed (a caught failure exits too, with
    // the error instead): read as plain JSON, whatever the version that wrote it.
    let preflight_passed = newest_first.iter().any(|e| {
        e.kind == "TaskStateExited"
            && e.state.as_deref() == Some(PREFLIGHT_STATE)
            && e.data
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .is_some_and(|v| !v["facts"].is_null())
    });
    match state {
        Some(state) => Finding::Restore {
            state: Box::new(state),
            quiet_after_ms: in_flight_until(newest_first),
        },
        None if preflight_passed => Finding::Unreadable,
        None => Finding::NothingChanged,
    }
}

/// A child execution's step may run this long after its last event: the longest
/// TimeoutSeconds of a Task in statemachine/image.asl.json, launch.asl.json and
/// shift.asl.json (the watching waits; a test reads the files).
const CHILD_STEP_SECONDS: i64 = 340;

/// The latest moment an invocation the execution scheduled can still be running: its
/// schedule time plus its Task's timeout (or Lambda's maximum), over every scheduled one,
/// answered or not (an answer such as `Lambda.Unknown` does not prove the function ended).
/// A child execution still running when the execution ended (a `TaskSubmitted` without
/// its end) is stopped with it, but its step in flight is not: its invocations are not in
/// this history, so the wait covers one child step after the newest event.
fn in_flight_until(events: &[Event]) -> Option<i64> {
    let own = events
        .iter()
        .filter(|e| e.kind == "LambdaFunctionScheduled")
        .map(|e| e.timestamp_ms + 1000 * e.timeout_seconds.unwrap_or(LAMBDA_MAX_SECONDS))
        .max();
    let submitted = events.iter().filter(|e| e.kind == "TaskSubmitted").count();
    let ended = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind.as_str(),
                "TaskSucceeded" | "TaskFailed" | "TaskTimedOut"
            )
        })
        .count();
    let child = (submitted > ended)
        .then(|| events.iter().map(|e| e.timestamp_ms).max())
        .flatten()
        .map(|newest| newest + 1000 * CHILD_STEP_SECONDS);
    own.max(child)
}

impl From<&HistoryEvent> for Event {
    fn from(e: &HistoryEvent) -> Self {
        let (state, data) = if let Some(d) = e.state_entered_event_details() {
            (Some(d.name().to_string()), d.input().map(str::to_string))
        } else if let Some(d) = e.state_exited_event_details() {
            (Some(d.name().to_string()), d.output().map(str::to_string))
        } else {
            (None, None)
        };
        Event {
            kind: e.r#type().as_str().to_string(),
            timestamp_ms: e.timestamp().to_millis().unwrap_or_default(),
            state,
            data,
            timeout_seconds: e
                .lambda_function_scheduled_event_details()
                .and_then(|d| d.timeout_in_seconds()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_json(with_facts: bool) -> String {
        let plan = crate::test_support::plan_json();
        let mut v = json!({ "plan": plan });
        if with_facts {
            v["facts"] = crate::test_support::facts_json();
        }
        v.to_string()
    }

    fn ev(kind: &str, state: Option<&str>, data: Option<String>) -> Event {
        Event {
            kind: kind.into(),
            timestamp_ms: 1_000,
            state: state.map(str::to_string),
            data,
            timeout_seconds: None,
        }
    }

    #[test]
    fn a_run_that_never_passed_preflight_changed_nothing() {
        let events = [
            ev(
                "FailStateEntered",
                Some("PreflightFailed"),
                Some(state_json(false)),
            ),
            ev(
                "TaskStateEntered",
                Some("Preflight"),
                Some(state_json(false)),
            ),
        ];
        assert!(matches!(finding(&events), Finding::NothingChanged));
    }

    #[test]
    fn a_run_whose_rollback_finished_needs_nothing_more() {
        let events = [
            ev("FailStateEntered", Some("MigrationFailed"), None),
            ev(
                "TaskStateExited",
                Some(ROLLBACK_STATE),
                Some(state_json(true)),
            ),
            ev(
                "TaskStateEntered",
                Some(ROLLBACK_STATE),
                Some(state_json(true)),
            ),
        ];
        assert!(matches!(finding(&events), Finding::RollbackRan));
    }

    #[test]
    fn a_stopped_run_restores_from_the_newest_whole_state() {
        // A Map iteration's input: the plan and the facts without the instance list.
        let mut iteration: serde_json::Value =
            serde_json::from_str(&state_json(true)).expect("fixture parses");
        iteration["facts"]
            .as_object_mut()
            .expect("facts are an object")
            .remove("instances");
        let mut whole: serde_json::Value =
            serde_json::from_str(&state_json(true)).expect("fixture parses");
        whole["maintenance"] = json!({"sinceEpochMs": 1, "actions": []});
        let events = [
            ev("ExecutionAborted", None, None),
            // A Map iteration's output and input are not whole states: skipped.
            ev(
                "TaskStateExited",
                Some("ShareImage"),
                Some("{\"imageId\":\"ami-1\"}".into()),
            ),
            ev(
                "TaskStateEntered",
                Some("LaunchWorkflow"),
                Some(iteration.to_string()),
            ),
            ev(
                "MapStateEntered",
                Some("LaunchInstances"),
                Some(whole.to_string()),
            ),
        ];
        let Finding::Restore {
            state,
            quiet_after_ms,
        } = finding(&events)
        else {
            panic!("expected Restore");
        };
        assert!(state.facts.is_some_and(|f| !f.instances.is_empty()));
        assert!(
            state.maintenance.is_some(),
            "the Map's own input, not its iteration's"
        );
        assert_eq!(quiet_after_ms, None, "no invocation scheduled");
    }

    #[test]
    fn a_history_past_preflight_with_no_readable_state_is_not_taken_for_nothing_changed() {
        let events = [
            ev("ExecutionAborted", None, None),
            ev(
                "TaskStateEntered",
                Some("StopSourceInstances"),
                Some("{}".into()),
            ),
            ev(
                "TaskStateExited",
                Some(PREFLIGHT_STATE),
                Some(r#"{"facts":{"v":9}}"#.into()),
            ),
        ];
        assert!(matches!(finding(&events), Finding::Unreadable));
        // A caught Preflight failure exits too, with its error and no facts.
        let refused = [ev(
            "TaskStateExited",
            Some(PREFLIGHT_STATE),
            Some(r#"{"error":{}}"#.into()),
        )];
        assert!(matches!(finding(&refused), Finding::NothingChanged));
    }

    #[test]
    fn a_child_step_in_flight_is_waited_out_for_the_longest_child_task_timeout() {
        fn longest(states: &serde_json::Value) -> i64 {
            states
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .map(|s| {
                    let own = s["TimeoutSeconds"].as_i64().unwrap_or(0);
                    let inner = s["ItemProcessor"]["States"].clone();
                    own.max(longest(&inner))
                })
                .max()
                .unwrap_or(0)
        }
        let children = [
            include_str!("../../../statemachine/image.asl.json"),
            include_str!("../../../statemachine/launch.asl.json"),
            include_str!("../../../statemachine/shift.asl.json"),
        ];
        let most = children
            .iter()
            .map(|c| longest(&serde_json::from_str::<serde_json::Value>(c).unwrap()["States"]))
            .max()
            .unwrap();
        assert_eq!(CHILD_STEP_SECONDS, most);
    }

    #[test]
    fn every_invocation_scheduled_is_waited_out_for_its_task_timeout() {
        let mut scheduled = ev("LambdaFunctionScheduled", None, None);
        scheduled.timestamp_ms = 5_000;
        scheduled.timeout_seconds = Some(120);
        let mut answered = ev("LambdaFunctionScheduled", None, None);
        answered.timeout_seconds = Some(120);
        let events = [
            ev("ExecutionAborted", None, None),
            // An error answer does not prove the function stopped.
            ev("LambdaFunctionFailed", None, None),
            scheduled,
            ev(
                "TaskStateEntered",
                Some("StopSourceInstances"),
                Some(state_json(true)),
            ),
            ev("LambdaFunctionSucceeded", None, None),
            answered,
        ];
        let Finding::Restore { quiet_after_ms, .. } = finding(&events) else {
            panic!("expected Restore");
        };
        assert_eq!(quiet_after_ms, Some(5_000 + 120_000));
        let mut untimed = ev("LambdaFunctionScheduled", None, None);
        untimed.timestamp_ms = 0;
        assert_eq!(
            in_flight_until(&[untimed]),
            Some(900_000),
            "Lambda's maximum"
        );
    }
}
