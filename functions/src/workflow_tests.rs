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
fn each_instance_adds_little_to_the_migration_and_its_polls_stay_in_its_children() {
    let one = history_events(&asl(), &input(json!({"shiftSteps": []}), 1)).unwrap();
    let two = history_events(&asl(), &input(json!({"shiftSteps": []}), 2)).unwrap();
    assert!(one.least < one.most, "{one:?}");
    // One more instance: two Map iterations running a child Task each, every retry.
    let per_instance = two.most - one.most;
    assert!(per_instance < 120, "{one:?} {two:?}");
    // The image child: every look of the image wait (240 minutes when facts name none).
    assert!(
        one.child_most > 24 * (crate::looks::worst_case_looks(240 * 60) - 1),
        "{one:?}"
    );
    assert_eq!(one.child_most, two.child_most);
}

/// Issue 15's acceptance: a 20-instance migration with 8-hour images (their deadline 16
/// hours), re-encrypted copies, and the longest gradual shift the plan allows (10 steps held
/// an hour each) stays under 10,000 events in every execution, the migration's and each
/// child's.
#[test]
fn the_largest_migration_stays_under_ten_thousand_events_in_every_execution() {
    let options = json!({"gradual": true, "shiftSteps": [10, 20, 30, 40, 50, 60, 70, 80, 90],
        "holdChecks": crate::traffic::hold_checks(3600), "stopSource": true, "preImage": true,
        "kmsKeyId": "arn:aws:kms:ap-northeast-1:111111111111:key/k", "shareSecurityGroupWithRam": true,
        "imageDeadlineMinutes": 960, "waitForVolumeInitialization": true});
    let h = history_events(&asl(), &input(options, 20)).unwrap();
    assert!(h.most <= 10_000, "the migration's own history: {h:?}");
    assert!(h.child_most <= 10_000, "a child execution's history: {h:?}");
    // What the children hold: one history with all of it would pass the service's limit.
    assert!(h.inline > 25_000, "{h:?}");
}

#[test]
fn a_task_costs_three_events_per_attempt_its_retriers_allow() {
    let machine = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "End": true,
        "Retry": [{"ErrorEquals": ["A"], "MaxAttempts": 4}, {"ErrorEquals": ["B"]}]}}});
    let h = history_events(&machine, &json!({})).unwrap();
    // Execution 2, state 2, attempts 1 + 4 + 3 (the default) at 3 events each.
    assert_eq!(
        h,
        HistoryEvents {
            least: 2 + 2 + 3,
            most: 2 + 2 + 3 * 8,
            child_most: 0,
            inline: 2 + 2 + 3 * 8,
        }
    );
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

#[test]
fn stop_source_takes_a_pre_image_while_serving_unless_the_plan_says_not() {
    let with = path(
        &asl(),
        &input(json!({"stopSource": true, "preImage": true}), 2),
    )
    .unwrap();
    let t = tasks(&with);
    let count = |name: &str| t.iter().filter(|s| **s == name).count();
    // A pre-image and the image after the stop per instance; only the latter is shared.
    assert_eq!(count("CreateImage"), 4, "{t:?}");
    assert_eq!(count("ShareImage"), 2, "{t:?}");
    let first = |name: &str| t.iter().position(|s| *s == name).unwrap();
    assert!(first("CreateImage") < first("EnterMaintenance"), "{t:?}");
    assert!(first("StopSourceInstances") < first("ShareImage"), "{t:?}");

    let without = path(
        &asl(),
        &input(json!({"stopSource": true, "preImage": false}), 2),
    )
    .unwrap();
    let t = tasks(&without);
    assert_eq!(
        t.iter().filter(|s| **s == "CreateImage").count(),
        2,
        "{t:?}"
    );
}
