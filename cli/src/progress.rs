//! Progress of an execution, from its event log (local runner or Step Functions history):
//! one line per state on stderr, polls counted, a live status line (indicatif) on a
//! terminal and plain lines elsewhere, and a closing summary.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub struct Progress {
    started: Instant,
    /// The live status line, only when stderr is a terminal.
    bar: Option<ProgressBar>,
    current: String,
    /// Billed transitions: every state entered plus every retry (a poll).
    pub transitions: u64,
    /// Polls: retries on CarveOut.NotReady, per state.
    pub polls: BTreeMap<String, u64>,
    last_error: BTreeMap<String, String>,
    /// (first, last) event timestamp in ms since the epoch, when the events carry one.
    clock: Option<(u64, u64)>,
    /// The largest history of a child execution (the per-instance image and launch work).
    pub child_events: u64,
}

impl Progress {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("valid progress template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            started: Instant::now(),
            bar,
            current: String::new(),
            transitions: 0,
            polls: BTreeMap::new(),
            last_error: BTreeMap::new(),
            clock: None,
            child_events: 0,
        }
    }

    fn line(&self, mark: &str, text: &str) {
        let line = format!(
            "[{:>7.2}s] {mark} {text}",
            self.started.elapsed().as_secs_f64()
        );
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.set_message(format!(
                    "{} · {} transitions · {} polls",
                    self.current,
                    self.transitions,
                    self.total_polls()
                ));
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn event(&mut self, e: &Value) {
        if let Some(ts) = e["ts"].as_u64() {
            let (first, _) = self.clock.unwrap_or((ts, ts));
            self.clock = Some((first, ts));
        }
        // In a program, whose service's migration (`split-1-hp · CreatePeering`).
        let state = match e["migrationId"].as_str() {
            Some(m)
                if !matches!(
                    e["event"].as_str(),
                    Some("ChildStarted" | "ChildSucceeded" | "ChildFailed")
                ) =>
            {
                format!("{m} · {}", e["state"].as_str().unwrap_or_default())
            }
            _ => e["state"].as_str().unwrap_or_default().to_string(),
        };
        let index = e["index"]
            .as_u64()
            .map(|i| format!(" #{i}"))
            .unwrap_or_default();
        match e["event"].as_str().unwrap_or_default() {
            "StateEntered" => {
                self.transitions += 1;
                self.current = state.clone();
                if matches!(
                    e["type"].as_str(),
                    Some("Task" | "Parallel" | "Map" | "Fail" | "Wait")
                ) {
                    self.line("▶", &format!("{state}{index}"));
                }
            }
            "StateExited" if e["type"] == "Task" => {
                let output = match &e["output"] {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                    v => v.clone(),
                };
                // A predicted poll's look: the volume gate's, or an image wait's.
                let gate = output
                    .get("volumeGate")
                    .or_else(|| output.pointer("/image/look"))
                    .unwrap_or(&Value::Null);
                if gate["ready"] == Value::Bool(false) {
                    // A predicted poll: the look says how far along it is and when the next is.
                    let looks = self.polls.entry(state.clone()).or_default();
                    *looks += 1;
                    let n = *looks;
                    self.line(
                        "↻",
                        &format!(
                            "{state}{index} look {n}: {}",
                            gate["summary"].as_str().unwrap_or("")
                        ),
                    );
                } else {
                    self.line("✓", &format!("{state}{index}"));
                }
            }
            "TaskError" => {
                self.last_error.insert(
                    state,
                    format!(
                        "{}: {}",
                        e["error"].as_str().unwrap_or("?"),
                        e["cause"].as_str().unwrap_or("")
                    ),
                );
            }
            "StateRetried" => {
                self.transitions += 1;
                let why = self.last_error.get(&state).cloned().unwrap_or_default();
                if why.starts_with("CarveOut.NotReady") {
                    *self.polls.entry(state.clone()).or_default() += 1;
                    self.line(
                        "↻",
                        &format!(
                            "{state}{index} poll {}: {}",
                            e["attempt"],
                            why.trim_start_matches("CarveOut.NotReady: ")
                        ),
                    );
                } else {
                    self.line(
                        "↻",
                        &format!("{state}{index} retry {}: {why}", e["attempt"]),
                    );
                }
            }
            "ExecutionStopped" => {
                self.line(
                    "■",
                    &format!("execution stopped at {state} (as StopExecution)"),
                );
            }
            "ChildStarted" => {
                self.line(
                    "▶",
                    &format!(
                        "{} (child execution {})",
                        e["execution"].as_str().unwrap_or(&state),
                        e["executionArn"].as_str().unwrap_or("")
                    ),
                );
            }
            "ChildSucceeded" | "ChildFailed" => {
                let events = e["historyEvents"].as_u64().unwrap_or(0);
                self.child_events = self.child_events.max(events);
                let how = if e["event"] == "ChildSucceeded" {
                    ("✓", "done".to_string())
                } else {
                    (
                        "✗",
                        format!("failed: {}", e["error"].as_str().unwrap_or("?")),
                    )
                };
                self.line(
                    how.0,
                    &format!(
                        "{} {}, {events} history events of its own",
                        e["execution"].as_str().unwrap_or(&state),
                        how.1
                    ),
                );
            }
            "WatcherStarted" => {
                self.line(
                    "⚑",
                    &format!(
                        "execution {}: the watcher restores what it left",
                        e["status"].as_str().unwrap_or("?")
                    ),
                );
            }
            "StateCaught" => {
                let why = self.last_error.get(&state).cloned().unwrap_or_default();
                self.line("✗", &format!("{state}{index} failed: {why}"));
            }
            _ => {}
        }
    }

    pub fn total_polls(&self) -> u64 {
        self.polls.values().sum()
    }

    pub fn finish(&self, result: &Value) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        // The events' own timestamps when they have them (watching an execution that ran
        // earlier), else the time this process followed it.
        let elapsed = match self.clock {
            Some((first, last)) => (last - first) as f64 / 1000.0,
            None => self.started.elapsed().as_secs_f64(),
        };
        let polls: Vec<String> = self.polls.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let polls = if polls.is_empty() {
            String::new()
        } else {
            format!(" ({})", polls.join(", "))
        };
        eprintln!();
        match result["status"].as_str() {
            Some("SUCCEEDED") if result["output"]["status"] == "MIGRATED_WITH_ISSUES" => {
                let out = &result["output"];
                eprintln!(
                    "Migration {} moved the service in {elapsed:.1}s, then {} failed",
                    out["migrationId"].as_str().unwrap_or("?"),
                    out["error"]["Error"].as_str().unwrap_or("a step"),
                );
                eprintln!(
                    "  routing          {}",
                    out["routing"].as_str().unwrap_or("?")
                );
                eprintln!(
                    "  cause            {}",
                    out["cause"].as_str().unwrap_or("?")
                );
            }
            Some("SUCCEEDED") => {
                let out = &result["output"];
                eprintln!(
                    "Migration {} succeeded in {elapsed:.1}s",
                    out["migrationId"].as_str().unwrap_or("?")
                );
                for i in out["instances"].as_array().into_iter().flatten() {
                    eprintln!(
                        "  new instance     {} ({}) in {}, from {} (source {})",
                        i["instanceId"].as_str().unwrap_or("?"),
                        i["privateIp"].as_str().unwrap_or("?"),
                        i["subnetId"].as_str().unwrap_or("?"),
                        i["imageId"].as_str().unwrap_or("?"),
                        i["sourceInstanceId"].as_str().unwrap_or("?"),
                    );
                }
                eprintln!(
                    "  peering          {}",
                    out["peeringConnectionId"].as_str().unwrap_or("?")
                );
                eprintln!(
                    "  target group     {}",
                    out["targetGroupArn"].as_str().unwrap_or("?")
                );
                let now: Vec<&str> = out["traffic"]["forwardsTo"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                eprintln!("  listener now →   {}", now.join(", "));
                eprintln!(
                    "  resources        {} created, all tagged carveout:migration-id",
                    out["created"].as_array().map_or(0, Vec::len)
                );
            }
            _ => {
                eprintln!(
                    "Migration {} after {elapsed:.1}s: {}",
                    if result["status"] == "ABORTED" {
                        "stopped"
                    } else {
                        "failed"
                    },
                    result["error"].as_str().unwrap_or("?")
                );
                eprintln!("  {}", result["cause"].as_str().unwrap_or(""));
            }
        }
        let recovery = &result["recovery"];
        if let Some(summary) = recovery["summary"].as_str() {
            eprintln!("  watcher          {summary}");
        } else if let Some(error) = recovery["error"].as_str() {
            eprintln!(
                "  watcher FAILED   {error}: {}",
                recovery["cause"].as_str().unwrap_or("")
            );
        }
        eprintln!(
            "  state transitions {} · polls {}{polls}",
            self.transitions,
            self.total_polls(),
        );
        if let Some(events) = result["historyEvents"].as_u64() {
            eprintln!(
                "  history events   {events} in the migration's execution, at most {} in a child",
                self.child_events
            );
        }
    }
}
