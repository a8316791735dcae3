use serde_json::json;

use super::*;

const LISTENER: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener/app/main/0123456789abcdef/0123456789abcdef";

fn tg(name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/{name}/0123456789abcdef"
    )
}

fn service(name: &str, account: &str, depends_on: &[&str]) -> Value {
    json!({
        "name": name,
        "dependsOn": depends_on,
        "plan": {
            "service": { "targetGroupArn": tg(name) },
            "source": { "instanceIds": ["i-0123456789abcdef0"] },
            "target": { "accountId": account, "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"] }
        }
    })
}

/// Five services of one shared account, each into its own account.
pub(crate) fn example() -> Value {
    json!({
        "programId": "split-1",
        "defaults": {
            "region": "ap-northeast-1",
            "service": { "accountId": "111111111111", "listenerArn": LISTENER },
            "source": { "accountId": "111111111111" },
            "consistency": "live"
        },
        "services": [
            service("hp", "222222222222", &[]),
            service("api", "333333333333", &[]),
            service("admin", "444444444444", &["api"]),
            service("batch", "555555555555", &[]),
            service("mail", "666666666666", &[]),
        ]
    })
}

fn problems(program: Value) -> String {
    match Program::parse(&program) {
        Err(StepError::InvalidPlan(m)) => m,
        other => panic!("expected InvalidPlan, got {other:?}"),
    }
}

#[test]
fn each_service_is_the_defaults_with_its_own_fields_over_them() {
    let (program, services) = Program::parse(&example()).unwrap();
    assert_eq!(program.max_concurrency, 2, "two at a time by default");
    let api = services[1].plan().unwrap();
    assert_eq!(api.migration_id, "split-1-api");
    assert_eq!(api.service.listener_arn, LISTENER);
    assert_eq!(api.service.target_group_arn, tg("api"));
    assert_eq!(api.target.account_id, "333333333333");
    assert_eq!(
        api.role_name, "CarveOutExecutionRole",
        "a plan default still applies"
    );
}

#[test]
fn a_service_may_override_a_default_inside_an_object() {
    let mut p = example();
    p["services"][0]["plan"]["options"] = json!({ "trafficShift": [10, 100], "stateless": true });
    p["defaults"]["options"] = json!({ "shiftIntervalSeconds": 30 });
    let (_, services) = Program::parse(&p).unwrap();
    let hp = services[0].plan().unwrap();
    assert_eq!(hp.options.traffic_shift, vec![10, 100]);
    assert_eq!(
        hp.options.shift_interval_seconds, 30,
        "defaults.options merge key by key"
    );
}

#[test]
fn every_service_problem_is_named_by_service_at_once() {
    let mut p = example();
    p["services"][1]["plan"]["source"]["instanceIds"] = json!(["not-an-instance"]);
    p["services"][3]["plan"]["target"]["accountId"] = json!("12");
    let msg = problems(p);
    assert!(msg.starts_with("program split-1: "), "{msg}");
    assert!(
        msg.contains("service api: ") && msg.contains("service batch: "),
        "{msg}"
    );
}

#[test]
fn names_and_migration_ids_are_unique() {
    let mut p = example();
    p["services"][4]["name"] = json!("hp");
    assert!(problems(p).contains("service hp is listed twice"));
    let mut p = example();
    p["services"][4]["plan"]["migrationId"] = json!("split-1-hp");
    assert!(problems(p).contains("the same migrationId \"split-1-hp\""));
}

#[test]
fn depends_on_must_name_a_service_and_make_no_cycle() {
    let mut p = example();
    p["services"][0]["dependsOn"] = json!(["web"]);
    assert!(problems(p).contains("service hp depends on \"web\", which is not in the program"));
    let mut p = example();
    p["services"][1]["dependsOn"] = json!(["admin"]);
    let msg = problems(p);
    assert!(msg.contains("cycle among api, admin"), "{msg}");
}

#[test]
fn a_target_is_given_by_id_or_by_tag_not_both() {
    let mut p = example();
    p["services"][0]["targetByTag"] =
        json!({ "accountId": "222222222222", "vpcTags": { "Name": "hp" } });
    assert!(problems(p).contains("service hp: give either targetByTag or plan.target"));
    let mut p = example();
    p["services"][0]["plan"]
        .as_object_mut()
        .unwrap()
        .remove("target");
    p["services"][0]["targetByTag"] =
        json!({ "accountId": "222222222222", "vpcTags": { "Name": "hp" } });
    let (_, services) = Program::parse(&p).unwrap();
    assert_eq!(services[0].target_by_tag.as_ref().unwrap().wait_minutes, 60);
    assert_eq!(services[0].plan().unwrap().target.vpc_id, PENDING_VPC);
}

#[test]
fn waves_keep_dependencies_and_the_overall_cap() {
    let (program, services) = Program::parse(&example()).unwrap();
    let w = waves(&program, &services).unwrap();
    let names: Vec<Vec<&str>> = w
        .iter()
        .map(|w| w.services.iter().map(String::as_str).collect())
        .collect();
    // admin waits for api, then takes the first free place.
    assert_eq!(
        names,
        vec![vec!["hp", "api"], vec!["admin", "batch"], vec!["mail"]]
    );
}

#[test]
fn an_account_cap_below_the_overall_cap_splits_a_wave() {
    let mut p = example();
    p["maxConcurrency"] = json!(4);
    // Every service works in the network (and source) account: its cap decides.
    p["accountConcurrency"] = json!({ "111111111111": 1 });
    let (program, services) = Program::parse(&p).unwrap();
    let w = waves(&program, &services).unwrap();
    assert!(w.iter().all(|w| w.services.len() == 1), "{w:?}");
    assert_eq!(w.len(), 5);
    let mut p = example();
    p["maxConcurrency"] = json!(4);
    let (program, services) = Program::parse(&p).unwrap();
    let w = waves(&program, &services).unwrap();
    assert_eq!(w[0].services, vec!["hp", "api", "batch", "mail"]);
    assert_eq!(
        waves::peak_per_account(&w, &services)["111111111111"],
        4,
        "the network account sees four services at once"
    );
}

#[test]
fn the_shipped_schema_is_generated_from_the_model() {
    let shipped: Value =
        serde_json::from_str(include_str!("../../../schema/program.schema.json")).unwrap();
    assert_eq!(
        shipped,
        schema(),
        "schema/program.schema.json is stale: run `carveout program schema > schema/program.schema.json`"
    );
}
