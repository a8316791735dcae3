//! `make bench`'s history bound (bench/README.md, "History"): the worst-case events of
//! each execution (`carveout::workflow::history_events`, the bound Preflight enforces) for
//! the largest migration the plan allows, at 1, 5 and 20 instances: 8-hour images (16-hour
//! deadlines), re-encrypted copies, stop-source, the RAM share, the volume gate and the
//! longest gradual shift (9 steps, each held an hour). Prints one JSON object per line:
//! `{instances, most, childMost, inline}`; `inline` is the same states in one history, as
//! before the per-instance work ran in child executions.

use carveout::workflow::{ASL, history_events, planned_input};
use serde_json::json;

fn main() {
    let asl: serde_json::Value = serde_json::from_str(ASL).expect("the ASL is JSON");
    let options = json!({"gradual": true, "shiftSteps": [10, 20, 30, 40, 50, 60, 70, 80, 90],
        "holdChecks": carveout::traffic::hold_checks(3600), "stopSource": true, "preImage": true,
        "kmsKeyId": "arn:aws:kms:ap-northeast-1:111111111111:key/k", "shareSecurityGroupWithRam": true,
        "imageDeadlineMinutes": 960, "waitForVolumeInitialization": true});
    for instances in [1, 5, 20] {
        let ids: Vec<_> = (0..instances)
            .map(|i| json!({"instanceId": format!("i-{i}")}))
            .collect();
        let input = planned_input(&json!({}), &json!({"options": options, "instances": ids}));
        let h = history_events(&asl, &input).expect("the largest plan has a path");
        println!(
            "{}",
            json!({"instances": instances, "most": h.most, "childMost": h.child_most, "inline": h.inline})
        );
    }
}
