//! Step Functions history events as the progress events of `carveout local`, for
//! `carveout watch` and `start --watch`.

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::{Value, json};

/// Turns Step Functions history events into the progress events of the local runner.
#[derive(Default)]
pub struct HistoryReader {
    pub last_id: i64,
    /// State name by event id: events without a name inherit their predecessor's.
    names: std::collections::HashMap<i64, String>,
    failed: std::collections::HashSet<String>,
    pub ended: bool,
}

impl HistoryReader {
    pub fn convert(&mut self, e: &HistoryEvent) -> Vec<Value> {
        use HistoryEventType as T;
        self.last_id = e.id();
        let entered = e
            .state_entered_event_details()
            .map(|d| d.name().to_string());
        let exited = e.state_exited_event_details().map(|d| d.name().to_string());
        let name = entered
            .clone()
            .or(exited.clone())
            .or_else(|| self.names.get(&e.previous_event_id()).cloned())
            .unwrap_or_default();
        self.names.insert(e.id(), name.clone());
        let kind = |t: &T| match t.as_str() {
            s if s.starts_with("Task") || s.starts_with("LambdaFunction") => "Task",
            s if s.starts_with("Map") => "Map",
            s if s.starts_with("Parallel") => "Parallel",
            s if s.starts_with("Fail") => "Fail",
            s if s.starts_with("Wait") => "Wait",
            _ => "Other",
        };
        let t = e.r#type();
        let failure = e
            .task_failed_event_details()
            .map(|d| (d.error(), d.cause()))
            .or_else(|| {
                e.lambda_function_failed_event_details()
                    .map(|d| (d.error(), d.cause()))
            })
            .or_else(|| {
                e.task_timed_out_event_details()
                    .map(|d| (d.error(), d.cause()))
            });
        let mut out = Vec::new();
        if matches!(t, T::ExecutionStarted) {
            out.push(json!({"event": "ExecutionStarted"}));
        } else if entered.is_some() {
            out.push(json!({"event": "StateEntered", "state": name, "type": kind(t)}));
        } else if exited.is_some() {
            // The output of a look that predicts the next (the volume gate, an image wait)
            // is progress.
            let output = e
                .state_exited_event_details()
                .and_then(|d| d.output())
                .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
                .and_then(|o| {
                    if o.get("volumeGate").is_some() {
                        Some(json!({"volumeGate": o["volumeGate"]}))
                    } else {
                        o.pointer("/image/look")
                            .map(|l| json!({"image": {"look": l}}))
                    }
                });
            out.push(
                json!({"event": "StateExited", "state": name, "type": kind(t), "output": output}),
            );
        } else if let Some((error, cause)) = failure {
            self.failed.insert(name.clone());
            out.push(json!({"event": "TaskError", "state": name, "error": error.unwrap_or(""), "cause": cause.unwrap_or("")}));
        } else if matches!(t, T::TaskScheduled | T::LambdaFunctionScheduled)
            && self.failed.remove(&name)
        {
            out.push(json!({"event": "StateRetried", "state": name, "attempt": 0}));
        } else if let Some(arn) = e
            .task_submitted_event_details()
            .and_then(|d| d.output())
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
            .and_then(|o| o["ExecutionArn"].as_str().map(str::to_string))
        {
            // A child execution (`startExecution.sync:2`): `carveout watch` follows it too.
            out.push(json!({"event": "ChildStarted", "state": name, "executionArn": arn}));
        } else if let Some(d) = e.execution_succeeded_event_details() {
            self.ended = true;
            let output: Value = d
                .output()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            out.push(json!({"event": "Result", "status": "SUCCEEDED", "output": output}));
        } else if let Some(d) = e.execution_failed_event_details() {
            self.ended = true;
            out.push(json!({"event": "Result", "status": "FAILED", "error": d.error().unwrap_or(""), "cause": d.cause().unwrap_or("")}));
        } else if matches!(t, T::ExecutionRedriven) {
            self.ended = false;
            out.push(json!({"event": "ExecutionRedriven"}));
        } else if matches!(t, T::ExecutionAborted | T::ExecutionTimedOut) {
            self.ended = true;
            out.push(
                json!({"event": "Result", "status": t.as_str(), "error": t.as_str(), "cause": ""}),
            );
        }
        // The execution's own clock: elapsed time is the execution's, not the watcher's.
        if let Ok(ms) = e.timestamp().to_millis() {
            for event in &mut out {
                event["ts"] = json!(ms);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Progress;
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{
        ExecutionSucceededEventDetails, LambdaFunctionFailedEventDetails, StateEnteredEventDetails,
        StateExitedEventDetails,
    };

    fn event(
        id: i64,
        prev: i64,
        t: HistoryEventType,
    ) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        HistoryEvent::builder()
            .id(id)
            .previous_event_id(prev)
            .r#type(t)
            .timestamp(DateTime::from_secs(0))
    }

    #[test]
    fn history_events_become_progress_events_with_polls_counted() {
        use HistoryEventType as T;
        let name = "WaitImageAvailable";
        let history = vec![
            event(1, 0, T::TaskStateEntered).state_entered_event_details(
                StateEnteredEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            ),
            event(2, 1, T::LambdaFunctionScheduled),
            event(3, 2, T::LambdaFunctionFailed).lambda_function_failed_event_details(
                LambdaFunctionFailedEventDetails::builder()
                    .error("CarveOut.NotReady")
                    .cause("image is pending")
                    .build(),
            ),
            event(4, 3, T::LambdaFunctionScheduled),
            event(5, 4, T::LambdaFunctionSucceeded),
            event(6, 5, T::TaskStateExited).state_exited_event_details(
                StateExitedEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            ),
            event(7, 6, T::ExecutionSucceeded).execution_succeeded_event_details(
                ExecutionSucceededEventDetails::builder()
                    .output("{\"a\":1}")
                    .build(),
            ),
        ];
        let mut reader = HistoryReader::default();
        let mut progress = Progress::new();
        let mut kinds = Vec::new();
        for e in history {
            for converted in reader.convert(&e.build().unwrap()) {
                progress.event(&converted);
                kinds.push(converted["event"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(
            kinds,
            [
                "StateEntered",
                "TaskError",
                "StateRetried",
                "StateExited",
                "Result"
            ]
        );
        assert_eq!(progress.polls.get(name), Some(&1));
        assert_eq!(progress.transitions, 2);
        assert!(reader.ended);
    }

    #[test]
    fn a_redrive_after_an_end_means_the_execution_runs_again() {
        use HistoryEventType as T;
        let mut reader = HistoryReader::default();
        reader.convert(&event(1, 0, T::ExecutionAborted).build().unwrap());
        assert!(reader.ended);
        let again = reader.convert(&event(2, 1, T::ExecutionRedriven).build().unwrap());
        assert_eq!(again[0]["event"], "ExecutionRedriven");
        assert!(!reader.ended, "watch keeps following a redriven execution");
    }
}
