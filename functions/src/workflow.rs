//! The path a successful execution takes through the ASL, computed from the definition
//! itself and the facts Preflight resolved: `carveout plan` lists the changes of exactly
//! the states a run enters, so that list cannot drift from the workflow (an end-to-end
//! test compares it with the states the local runner enters, for each consistency mode,
//! shift and option).
//!
//! Choice rules are evaluated on the execution input (the plan and its facts); Map states
//! iterate over their `ItemsPath` read from that same input (every Map of carveout
//! passes `facts` to its iterations unchanged). Retries (polls) are not states entered.

use serde_json::Value;

/// The state machine definition deployed by template.yaml (`DefinitionUri`), built into
/// the binary so `carveout plan` walks the same workflow wherever it runs.
pub const ASL: &str = include_str!("../../statemachine/carveout.asl.json");

/// One state entered on the way: its name, and the Map item it runs for (none outside a
/// Map).
#[derive(Debug, Clone, PartialEq)]
pub struct Entered {
    pub state: String,
    pub kind: String,
    pub item: Option<Value>,
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
    serde_json::json!({"plan": plan, "facts": facts, "prepared": {"images": images}})
}

/// Every state a successful execution on `input` enters, in order (Parallel branches one
/// after the other, in branch order). Errors: a state the walk cannot follow (a missing
/// `Next`, a Choice rule it does not know), with the state's name.
pub fn path(asl: &Value, input: &Value) -> Result<Vec<Entered>, String> {
    let mut out = Vec::new();
    walk(asl, input, None, &mut out)?;
    Ok(out)
}

fn walk(
    machine: &Value,
    input: &Value,
    item: Option<&Value>,
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
        });
        match kind {
            "Parallel" => {
                for branch in state["Branches"].as_array().into_iter().flatten() {
                    walk(branch, input, item, out)?;
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
mod tests {
    use super::*;
    use serde_json::json;

    fn asl() -> Value {
        serde_json::from_str(ASL).unwrap()
    }

    fn input(options: Value, instances: usize) -> Value {
        let ids: Vec<Value> = (0..instances)
            .map(|i| json!({"instanceId": format!("i-{i}")}))
            .collect();
        planned_input(&json!({}), &json!({"options": options, "instances": ids}))
    }

    fn tasks(path: &[Entered]) -> Vec<&str> {
        path.iter()
            .filter(|e| e.kind == "Task")
            .map(|e| e.state.as_str())
            .collect()
    }

    #[test]
    fn a_default_run_enters_each_task_once_per_instance_and_no_optional_one() {
        let p = path(&asl(), &input(json!({"shiftSteps": []}), 2)).unwrap();
        let t = tasks(&p);
        assert_eq!(t.iter().filter(|s| **s == "CreateImage").count(), 2);
        assert_eq!(t.iter().filter(|s| **s == "LaunchInstance").count(), 2);
        for absent in [
            "EnterMaintenance",
            "ShareSecurityGroup",
            "CopyImageReEncrypted",
            "ShiftTraffic",
            "Rollback",
        ] {
            assert!(!t.contains(&absent), "{absent} in {t:?}");
        }
        assert_eq!(t.first(), Some(&"Preflight"));
        assert_eq!(t.last(), Some(&"Report"));
    }

    #[test]
    fn options_choose_the_optional_branches() {
        let opts = json!({"stopSource": true, "shareSecurityGroupWithRam": true,
            "kmsKeyId": "arn:aws:kms:ap-northeast-1:111111111111:key/k", "gradual": true,
            "shiftSteps": [10, 50], "holdChecks": [15, 15]});
        let p = path(&asl(), &input(opts, 1)).unwrap();
        let t = tasks(&p);
        for present in [
            "EnterMaintenance",
            "StopSourceInstances",
            "ShareSecurityGroup",
            "CopyImageReEncrypted",
        ] {
            assert!(t.contains(&present), "{present} not in {t:?}");
        }
        let count = |name: &str| t.iter().filter(|s| **s == name).count();
        assert_eq!(count("Shift"), 2, "{t:?}");
        assert_eq!(count("CheckShift"), 4, "one check per hold part: {t:?}");
    }
}
