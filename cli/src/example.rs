//! `carveout example`: the example plan of `events/plan.json`, with every field explained.

const PLAN: &str = include_str!("../../events/plan.json");

pub fn plain() -> String {
    PLAN.to_string()
}

/// Field explanations, by the JSON key they precede.
const NOTES: &[(&str, &str)] = &[
    (
        "\"migrationId\"",
        "names the migration: tags everything created, keys idempotency, names the execution",
    ),
    ("\"region\"", "the one region the migration works in"),
    (
        "\"roleName\"",
        "assumed in every account (deploy it with templates/); default CarveOutExecutionRole",
    ),
    (
        "\"service\"",
        "the forward action to move: the listener's default action, or ruleArn",
    ),
    (
        "\"ruleArn\"",
        "null: the listener's default action; else a rule of that listener",
    ),
    (
        "\"targetGroupArn\"",
        "the group the action forwards to today (never deleted by carveout)",
    ),
    (
        "\"source\"",
        "the instances to move: every target of that group",
    ),
    (
        "\"target\"",
        "the new account, its VPC (CIDR must not overlap the ALB's VPC) and subnets",
    ),
    (
        "\"consistency\"",
        "required: live (image without reboot), reboot (one reboot, consistent file system) or stop-source (503 maintenance answer, source stopped: no data lost)",
    ),
    (
        "\"options\"",
        "all optional: trafficShift [100] (all at once) or steps like [10, 50, 100] (needs stateless true: old and new serve at once), each held shiftIntervalSeconds (60) while healthy",
    ),
];

pub fn commented() -> String {
    let mut out = String::from(
        "// carveout plan: the execution input. Save it as a file for `carveout plan/start/local`\n// (comments are allowed there); the Step Functions console takes bare JSON: use --plain.\n",
    );
    let mut notes: Vec<&(&str, &str)> = NOTES.iter().collect();
    for line in PLAN.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        // Each note once, above the first line with its key.
        if let Some(at) = notes.iter().position(|(key, _)| trimmed.starts_with(key)) {
            out.push_str(&format!("{indent}// {}\n", notes.remove(at).1));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
