//! The path a successful execution takes through the ASL, computed from the definition
//! itself and the facts Preflight resolved: `carveout plan` lists the changes of exactly
//! the states a run enters, so that list cannot drift from the workflow (an end-to-end
//! test compares it with the states the local runner enters, for each consistency mode,
//! shift and option).
//!
//! Choice rules are evaluated on the execution input (the plan and its facts); Map states
//! iterate over their `ItemsPath` read from that same input (a Map passes its iterations
//! `facts` without the instance list, and no Choice reads that list). Retries (polls) are
//! not states entered.

use serde_json::Value;

/// The state machine definition deployed by template.yaml (`DefinitionUri`), built into
/// the binary so `carveout plan` walks the same workflow wherever it runs.
pub const ASL: &str = include_str!("../../statemachine/carveout.asl.json");

/// The child executions' definitions (template.yaml `ImageStateMachine`,
/// `LaunchStateMachine`, `ShiftStateMachine`), by the placeholder the migration's
/// definition names them with.
pub const CHILDREN: [(&str, &str); 3] = [
    (
        "${ImageStateMachineArn}",
        include_str!("../../statemachine/image.asl.json"),
    ),
    (
        "${LaunchStateMachineArn}",
        include_str!("../../statemachine/launch.asl.json"),
    ),
    (
        "${ShiftStateMachineArn}",
        include_str!("../../statemachine/shift.asl.json"),
    ),
];

/// A Task that runs a child execution and waits for it
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html>).
pub const CHILD_TASK: &str = "arn:aws:states:::states:startExecution.sync:2";

/// The child definition a child Task runs. Errors: a placeholder no child has.
pub(crate) fn child_of(task: &Value) -> Result<Value, String> {
    let arn = task["Parameters"]["StateMachineArn"].as_str().unwrap_or("");
    let (_, text) = CHILDREN
        .iter()
        .find(|(placeholder, _)| *placeholder == arn)
        .ok_or_else(|| format!("no child definition for {arn}"))?;
    serde_json::from_str(text).map_err(|e| format!("{arn}: {e}"))
}

/// One state entered on the way: its name, the Map item it runs for (none outside a
/// Map), and the child execution it runs in (none: the migration's own execution).
#[derive(Debug, Clone, PartialEq)]
pub struct Entered {
    pub state: String,
    pub kind: String,
    pub item: Option<Value>,
    pub execution: Option<String>,
}

/// The execution document as far as it is known before the run: the plan, its facts, and
/// the one image per source instance the Images Map will make (the Launch Map iterates
/// over `$.prepared.images`).
pub fn planned_input(plan: &Value, facts: &Value) -> Value {
    let images: Vec<Value> = facts["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| serde_json::json!({"sourceInstanceId": i["instanceId"]}))
        .collect();
    // A successful run leaves every predicted poll (the volume gate, the image waits) at
    // a ready look.
    serde_json::json!({"plan": plan, "facts": facts, "prepared": {"images": images},
        "volumeGate": {"ready": true}, "image": {"look": {"ready": true}}})
}

/// Every state a successful execution on `input` enters, in order (Parallel branches one
/// after the other, in branch order). Errors: a state the walk cannot follow (a missing
/// `Next`, a Choice rule it does not know), with the state's name.
pub fn path(asl: &Value, input: &Value) -> Result<Vec<Entered>, String> {
    let mut out = Vec::new();
    walk(asl, input, None, None, &mut out)?;
    Ok(out)
}

fn walk(
    machine: &Value,
    input: &Value,
    item: Option<&Value>,
    execution: Option<&str>,
    out: &mut Vec<Entered>,
) -> Result<(), String> {
    let mut name = machine["StartAt"]
        .as_str()
        .ok_or("a state machine without StartAt")?
        .to_string();
    // A walk never enters more states than a definition has, times its loops: bound it
    // so a cycle in the definition is an error, not a hang.
    for _ in 0..10_000 {
        let state = &machine["States"][&name];
        let kind = state["Type"]
            .as_str()
            .ok_or_else(|| format!("no state {name}"))?;
        out.push(Entered {
            state: name.clone(),
            kind: kind.to_string(),
            item: item.cloned(),
            execution: execution.map(str::to_string),
        });
        match kind {
            "Task" if state["Resource"] == CHILD_TASK => {
                // A child execution of its own: named by the Task and where it starts.
                let child = child_of(state).map_err(|e| format!("{name}: {e}"))?;
                let id = format!("{name}#{}", out.len());
                // The child's input: the parent's, with the Task's constant fields
                // (`"preImage": true`) on top.
                let mut child_input = input.clone();
                for (key, value) in state["Parameters"]["Input"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if !key.ends_with(".$") {
                        child_input[key] = value.clone();
                    }
                }
                walk(&child, &child_input, item, Some(&id), out)?;
            }
            "Parallel" => {
                for branch in state["Branches"].as_array().into_iter().flatten() {
                    walk(branch, input, item, execution, out)?;
                }
            }
            "Map" => {
                let processor = state.get("ItemProcessor").or_else(|| state.get("Iterator"));
                let items_path = state["ItemsPath"].as_str().unwrap_or("$");
                let items = lookup(input, items_path)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for it in &items {
                    walk(
                        processor.ok_or_else(|| format!("Map {name} has no processor"))?,
                        input,
                        Some(it),
                        execution,
                        out,
                    )?;
                }
            }
            "Succeed" | "Fail" => return Ok(()),
            _ => {}
        }
        if state["End"] == Value::Bool(true) {
            return Ok(());
        }
        let next = if kind == "Choice" {
            choose(state, input).map_err(|e| format!("Choice {name}: {e}"))?
        } else {
            state["Next"]
                .as_str()
                .ok_or_else(|| format!("{name} has neither Next nor End"))?
                .to_string()
        };
        name = next;
    }
    Err("the walk did not end: a cycle without a Choice that leaves it".into())
}

/// Step Functions' limit on one execution's history: past it the service fails the
/// execution itself and no Catch runs
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html>).
pub const HISTORY_LIMIT: u64 = 25_000;

/// How many history events an execution on `input` writes, counted as the service counts
/// them (and the local runner with it): 2 for the execution, 2 per state entered (4 for a
/// Map or Parallel), 2 per Map iteration, 3 per Lambda Task attempt (scheduled, started,
/// ended), 4 per child Task attempt (scheduled, started, submitted, ended).
/// `least`: every Task succeeds at its first attempt. `most`: every Task uses every
/// attempt its retriers allow (a retrier without `MaxAttempts` allows 3, the ASL default),
/// every predicted poll every look, then the run fails into the states its Catchers lead
/// to (Rollback and the Fail state): an upper bound no execution on this input can pass.
/// `child_most`: the same bound for the largest child execution (each keeps its own
/// history: the image and launch work of one instance). `inline`: `most` plus every child's
/// bound, what one history would hold with the children's states inline (as before issue
/// 15; `make bench` shows it beside the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEvents {
    pub least: u64,
    pub most: u64,
    #[serde(rename = "childMost")]
    pub child_most: u64,
    #[serde(skip)]
    pub inline: u64,
}

/// [`HistoryEvents`] for a run on `input`. Errors: those of [`path`].
pub fn history_events(asl: &Value, input: &Value) -> Result<HistoryEvents, String> {
    let entered = path(asl, input)?;
    let own: Vec<&Entered> = entered.iter().filter(|e| e.execution.is_none()).collect();
    let (least, mut most) = count(&all_states(asl), &own, input);
    // The worst failure comes last: every state above, then the Catch path.
    let states = all_states(asl);
    let mut caught: Vec<&str> = states
        .values()
        .flat_map(|s| s["Catch"].as_array().into_iter().flatten())
        .filter_map(|c| c["Next"].as_str())
        .collect();
    caught.sort_unstable();
    caught.dedup();
    for name in caught {
        let mut next = Some(name);
        while let Some(n) = next {
            let state = states.get(n).copied().unwrap_or(&Value::Null);
            most += state_events(state, input).1;
            // A Choice on the way (after Rollback): its Default, as long as any branch.
            next = state["Next"].as_str().or_else(|| state["Default"].as_str());
        }
    }
    let (mut child_most, mut inline) = (0, most);
    let mut ids: Vec<&str> = entered
        .iter()
        .filter_map(|e| e.execution.as_deref())
        .collect();
    ids.dedup();
    for id in ids {
        let task = id.split('#').next().unwrap_or_default();
        let child = child_of(states.get(task).copied().unwrap_or(&Value::Null))?;
        let mine: Vec<&Entered> = entered
            .iter()
            .filter(|e| e.execution.as_deref() == Some(id))
            .collect();
        let events = count(&all_states(&child), &mine, input).1;
        child_most = child_most.max(events);
        inline += events;
    }
    Ok(HistoryEvents {
        least,
        most,
        child_most,
        inline,
    })
}

/// (least, most) events of one execution entering `entered`, its states by name.
fn count(
    states: &std::collections::HashMap<&str, &Value>,
    entered: &[&Entered],
    input: &Value,
) -> (u64, u64) {
    let (mut least, mut most) = (2, 2);
    for e in entered {
        let state = states
            .get(e.state.as_str())
            .copied()
            .unwrap_or(&Value::Null);
        let (l, m) = state_events(state, input);
        least += l;
        most += m;
        if let Some((choice, wait)) = predicted_poll_loop(&e.state, state, states) {
            let look = m + state_events(choice, input).1 + state_events(wait, input).1;
            most += look * loop_looks(state, input).saturating_sub(1);
        }
    }
    (least, most)
}

/// Events of one state entered: (least, most). A Map's iterations count here; the states
/// inside them are entered states of their own.
fn state_events(state: &Value, input: &Value) -> (u64, u64) {
    let kind = state["Type"].as_str().unwrap_or("");
    match kind {
        "Task" => {
            let retries: u64 = state["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
                .sum();
            let per_try = if state["Resource"] == CHILD_TASK {
                4
            } else {
                3
            };
            (2 + per_try, 2 + per_try * (1 + retries))
        }
        "Map" => {
            let items = lookup(input, state["ItemsPath"].as_str().unwrap_or("$"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as u64;
            (4 + 2 * items, 4 + 2 * items)
        }
        "Parallel" => (4, 4),
        _ => (2, 2),
    }
}

/// A Task polled by a loop of its own (Task → Choice → Wait with `SecondsPath` → the Task):
/// the Choice and the Wait.
fn predicted_poll_loop<'a>(
    name: &str,
    task: &Value,
    states: &std::collections::HashMap<&str, &'a Value>,
) -> Option<(&'a Value, &'a Value)> {
    let choice = *states.get(task["Next"].as_str()?)?;
    let wait = *states.get(choice["Default"].as_str()?)?;
    (choice["Type"] == "Choice"
        && wait["Type"] == "Wait"
        && wait.get("SecondsPath").is_some()
        && wait["Next"].as_str() == Some(name))
    .then_some((choice, wait))
}

/// The most looks the predicted-poll loop of `task` may take on `input`: the volume gate's,
/// else an image wait's (`looks.rs`, from `facts.options.imageDeadlineMinutes`).
fn loop_looks(task: &Value, input: &Value) -> u64 {
    if task["Resource"].as_str() == Some("${CheckVolumesInitializedFunctionArn}") {
        return volume_gate_looks(input);
    }
    let minutes = input["facts"]["options"]["imageDeadlineMinutes"]
        .as_u64()
        .unwrap_or(240);
    crate::looks::worst_case_looks(minutes * 60)
}

/// The most looks the volume gate may take on `input`.
fn volume_gate_looks(input: &Value) -> u64 {
    use crate::initialization::{GateOptions, longest_deadline, worst_case_looks};
    let options = &input["facts"]["options"];
    let gate: GateOptions = serde_json::from_value(options.clone()).unwrap_or_default();
    let rate = options["carry"]["volumeInitializationRate"]
        .as_i64()
        .map(|r| r as i32);
    let sizes: Vec<i32> = input["facts"]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["settings"]["volumes"].as_array().into_iter().flatten())
        .filter_map(|v| v["sizeGib"].as_i64().map(|s| s as i32))
        .collect();
    let sizes = if sizes.is_empty() { vec![1] } else { sizes };
    worst_case_looks(longest_deadline(&gate, rate, &sizes))
}

/// Every state of the definition by name, branches and Map processors included (carveout's
/// state names are unique: the local runner refuses a definition where they are not).
fn all_states(asl: &Value) -> std::collections::HashMap<&str, &Value> {
    let mut out = std::collections::HashMap::new();
    let mut machines = vec![asl];
    while let Some(machine) = machines.pop() {
        for (name, state) in machine["States"].as_object().into_iter().flatten() {
            out.insert(name.as_str(), state);
            machines.extend(state["Branches"].as_array().into_iter().flatten());
            if let Some(p) = state.get("ItemProcessor").or_else(|| state.get("Iterator")) {
                machines.push(p);
            }
        }
    }
    out
}

fn choose(state: &Value, input: &Value) -> Result<String, String> {
    for rule in state["Choices"].as_array().into_iter().flatten() {
        if matches(rule, input)? {
            return rule["Next"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "a rule without Next".to_string());
        }
    }
    state["Default"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no rule matched and there is no Default".to_string())
}

/// The Choice comparisons carveout's ASL uses
/// (<https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html>).
fn matches(rule: &Value, input: &Value) -> Result<bool, String> {
    if let Some(all) = rule["And"].as_array() {
        return all
            .iter()
            .try_fold(true, |acc, r| Ok(acc && matches(r, input)?));
    }
    if let Some(any) = rule["Or"].as_array() {
        return any
            .iter()
            .try_fold(false, |acc, r| Ok(acc || matches(r, input)?));
    }
    if rule.get("Not").is_some() {
        return Ok(!matches(&rule["Not"], input)?);
    }
    let var = rule["Variable"].as_str().ok_or("a rule without Variable")?;
    let value = lookup(input, var);
    let is = |test: &str| rule.get(test).and_then(Value::as_bool);
    if let Some(expected) = is("IsPresent") {
        return Ok(value.is_some() == expected);
    }
    if let Some(expected) = is("IsNull") {
        return Ok(value.is_some_and(Value::is_null) == expected);
    }
    if let Some(expected) = is("IsString") {
        return Ok(value.is_some_and(Value::is_string) == expected);
    }
    if let Some(expected) = is("IsBoolean") {
        return Ok(value.is_some_and(Value::is_boolean) == expected);
    }
    if let Some(expected) = rule.get("BooleanEquals") {
        return Ok(value == Some(expected));
    }
    if let Some(expected) = rule.get("StringEquals") {
        return Ok(value == Some(expected));
    }
    if let Some(expected) = rule.get("NumericEquals").and_then(Value::as_f64) {
        return Ok(value.and_then(Value::as_f64) == Some(expected));
    }
    Err(format!("unsupported comparison in {rule}"))
}

/// `$.a.b.c` (plain field names only: all carveout's ASL uses).
fn lookup<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    rest.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(input, |v, key| v.get(key))
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod tests;
