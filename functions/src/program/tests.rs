use serde_json::json;

use super::*;

const LISTENER: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:listener/app/main/0123456789abcdef/0123456789abcdef";

fn tg(name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/{name}/0123456789abcdef"
    )
}

fn service(name: &str, account: &str, depends_on: &[&str]) -> Value {
    // A VPC id of its own per service (its account's digits).
    let vpc = format!("vpc-{}", &account[..8]);
    json!({
        "name": name,
        "dependsOn": depends_on,
        "plan": {
            "service": { "targetGroupArn": tg(name) },
            "source": { "instanceIds": ["i-0123456789abcdef0"] },
            "target": { "accountId": account, "vpcId": vpc, "subnetIds": ["subnet-0123456789abcdef0"] }
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
}

#[test]
fn services_into_one_target_vpc_never_share_a_wave() {
    let mut p = example();
    p["maxConcurrency"] = json!(4);
    // api and batch into the same VPC (of one account): the second waits a wave.
    p["services"][3]["plan"]["target"] = p["services"][1]["plan"]["target"].clone();
    let (program, services) = Program::parse(&p).unwrap();
    let w = waves(&program, &services).unwrap();
    assert_eq!(w[0].services, vec!["hp", "api", "mail"]);
    assert_eq!(w[1].services, vec!["admin", "batch"]);
}

#[test]
fn a_per_account_cap_of_zero_is_refused_rather_than_planning_no_wave() {
    let mut p = example();
    p["maxConcurrencyPerAccount"] = json!(0);
    assert!(problems(p).contains("maxConcurrencyPerAccount 0 must be 1 to 20"));
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

mod wave_loop {
    use super::super::next::{Action, next};
    use super::super::outcome::{ProgramStatus, ServiceResult, ServiceStatus};
    use super::super::preflight::{ProgramCheck, ServiceCheck, Standing};
    use super::super::waves::Wave;
    use serde_json::json;

    fn service(name: &str, standing: Standing, depends_on: &[&str]) -> ServiceCheck {
        ServiceCheck {
            name: name.into(),
            migration_id: format!("p-{name}"),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            target_by_tag: None,
            plan: json!({ "migrationId": format!("p-{name}") }),
            standing,
        }
    }

    fn ready() -> Standing {
        Standing::Ready { checks: vec![] }
    }

    /// a and b (refused by Preflight), then c after a.
    fn check(tolerated: u8) -> ProgramCheck {
        let refused = Standing::Refused {
            error: "CarveOut.InvalidPlan".into(),
            cause: "no such instance".into(),
        };
        ProgramCheck {
            program_id: "p".into(),
            tolerated_failure_percentage: tolerated,
            waves: vec![
                Wave {
                    services: vec!["a".into(), "b".into()],
                },
                Wave {
                    services: vec!["c".into()],
                },
            ],
            services: vec![
                service("a", ready(), &[]),
                service("b", refused, &[]),
                service("c", ready(), &["a"]),
            ],
            shared: vec![],
            shared_checks: vec![],
        }
    }

    fn ended(name: &str, status: ServiceStatus) -> ServiceResult {
        ServiceResult {
            name: name.into(),
            migration_id: format!("p-{name}"),
            status,
            execution_arn: None,
            summary: String::new(),
            error: None,
            instances: vec![],
            serving_target_group_arn: None,
            downtime_seconds: None,
        }
    }

    #[test]
    fn a_refused_service_counts_as_failed_from_the_start_so_by_default_nothing_runs() {
        let first = next(&check(0), None, vec![], 0);
        assert!(
            first.done && first.failed && first.run.is_empty(),
            "{first:?}"
        );
        let report = first.report.unwrap();
        assert_eq!(report.status, ProgramStatus::Failed);
        let statuses: Vec<ServiceStatus> = report.services.iter().map(|s| s.status).collect();
        assert_eq!(
            statuses,
            [
                ServiceStatus::NotStarted,
                ServiceStatus::Refused,
                ServiceStatus::NotStarted
            ]
        );
    }

    #[test]
    fn within_the_tolerated_share_the_others_run_and_the_refused_one_is_skipped() {
        let first = next(&check(40), None, vec![], 0);
        assert!(!first.done);
        let actions: Vec<(&str, Action)> = first
            .run
            .iter()
            .map(|i| (i.name.as_str(), i.action))
            .collect();
        assert_eq!(actions, [("a", Action::Run), ("b", Action::Skip)]);
        assert_eq!(
            first.run[0].execution_name,
            format!("{}-{}", first.run[0].migration_id, check(40).program_id)
        );
        assert_eq!(first.run[1].skip_status, Some(ServiceStatus::Refused));
        let second = next(
            &check(40),
            Some(&first),
            vec![
                ended("a", ServiceStatus::Succeeded),
                ended("b", ServiceStatus::Refused),
            ],
            0,
        );
        assert_eq!(second.run.len(), 1);
        assert_eq!(second.run[0].action, Action::Run, "c's dependency a moved");
        let last = next(
            &check(40),
            Some(&second),
            vec![ended("c", ServiceStatus::Succeeded)],
            0,
        );
        let report = last.report.unwrap();
        assert!(last.done && !last.failed);
        assert_eq!(report.status, ProgramStatus::SucceededWithFailures);
        assert_eq!(
            report.summary,
            "2 of 3 services moved, 1 refused by Preflight"
        );
    }

    #[test]
    fn a_service_whose_dependency_failed_is_not_started() {
        let first = next(&check(100), None, vec![], 0);
        let second = next(
            &check(100),
            Some(&first),
            vec![
                ended("a", ServiceStatus::Failed),
                ended("b", ServiceStatus::Refused),
            ],
            0,
        );
        assert_eq!(second.run[0].action, Action::Skip);
        let why = second.run[0].why.as_deref().unwrap();
        assert!(
            why.contains("depends on a, which did not succeed (Failed)"),
            "{why}"
        );
    }

    #[test]
    fn more_failures_than_tolerated_stop_the_program_after_the_wave() {
        let first = next(&check(40), None, vec![], 0);
        let second = next(
            &check(40),
            Some(&first),
            vec![
                ended("a", ServiceStatus::Failed),
                ended("b", ServiceStatus::Refused),
            ],
            0,
        );
        assert!(second.done && second.failed);
        let report = second.report.unwrap();
        assert_eq!(report.services[2].status, ServiceStatus::NotStarted);
        assert!(
            report.services[2]
                .summary
                .contains("stopped after 2 of 3 services failed (tolerated: 40 %)")
        );
    }
}

mod outcomes {
    use super::super::outcome::{Ended, ServiceStatus, service_result};
    use serde_json::json;

    fn ended(extra: serde_json::Value) -> Ended {
        let mut v = json!({ "name": "hp", "migrationId": "p-hp" });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_moved_service_reports_its_new_instances_and_what_serves_it() {
        let r = service_result(ended(
            json!({ "run": { "status": "SUCCEEDED", "executionArn": "arn:x", "output": {
                "summary": "moved", "targetGroupArn": "arn:tg", "downtimeSeconds": 1.5,
                "instances": [{ "sourceInstanceId": "i-1", "instanceId": "i-2", "privateIp": "10.1.0.4", "subnetId": "s" }]
            }}}),
        ));
        assert_eq!(r.status, ServiceStatus::Succeeded);
        assert_eq!(r.instances[0].instance_id, "i-2");
        assert_eq!(r.serving_target_group_arn.as_deref(), Some("arn:tg"));
        assert_eq!(r.downtime_seconds, Some(1.5));
    }

    #[test]
    fn a_failed_migration_reports_its_own_error_from_inside_the_child_failure() {
        let cause = json!({ "Error": "CarveOut.Conflict", "Cause": "route taken" }).to_string();
        let r = service_result(ended(
            json!({ "failure": { "Error": "States.TaskFailed", "Cause": cause } }),
        ));
        assert_eq!(r.status, ServiceStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("CarveOut.Conflict"));
        assert!(r.summary.contains("route taken"));
    }

    #[test]
    fn migrated_with_issues_is_moved_and_says_what_is_left() {
        let r = service_result(ended(json!({ "run": { "status": "SUCCEEDED", "output": {
            "status": "MIGRATED_WITH_ISSUES", "cause": "report failed", "error": { "Error": "CarveOut.ResourceFailed" }
        }}})));
        assert_eq!(r.status, ServiceStatus::MigratedWithIssues);
        assert!(r.status.moved());
        assert_eq!(r.summary, "report failed");
    }
}
