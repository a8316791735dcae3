"""A program run end to end on the emulator (issue 17): the program state machine in the
local runner, each service its own child execution of the real migration state machine,
every Task the real Lambda binary. Each moved service is then checked by independent
describe calls (carveout_emulator.verify), and a failed or refused service must leave
every other service's routing alone."""

import json
import os
import subprocess

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import NETWORK_ACCOUNT, every, session
from carveout_emulator.seed_program import TARGET_ACCOUNTS, seed_program
from carveout_emulator.testing import BIN_DIR, ENDPOINT, ROOT, cli, migrations_running_at_once, reset


def resolved_plans(path):
    """Each service's plan as the program's Preflight resolves it (targets by tag found)."""
    proc = cli("program", "plan", "--program", str(path), "--endpoint", ENDPOINT, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {s["name"]: s["plan"] for s in json.loads(proc.stdout)["services"]}


def program_local(program, tmp_path):
    """`carveout program local`: (exit code, report or error JSON, event log, stderr)."""
    path, events_file = tmp_path / "program.json", tmp_path / "events.jsonl"
    path.write_text(json.dumps(program))
    proc = subprocess.run(
        [str(BIN_DIR / "carveout"), "program", "local", "--program", str(path), "--endpoint", ENDPOINT,
         "--events", str(events_file)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False,
        env=dict(os.environ, AWS_SDK_UA_APP_ID="carveout-local"),
    )
    events = [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    return proc.returncode, json.loads(proc.stdout or "null"), events, proc.stderr


def forwards():
    """Every target group the listener's forward actions send requests to, by rule."""
    elb = session(ENDPOINT, NETWORK_ACCOUNT).client("elbv2", endpoint_url=ENDPOINT)
    listener = every(elb, "describe_listeners", "Listeners",
                     LoadBalancerArn=every(elb, "describe_load_balancers", "LoadBalancers")[0]["LoadBalancerArn"])[0]
    found = {}
    for rule in every(elb, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"]):
        for action in rule["Actions"]:
            groups = [g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
                      if g.get("Weight", 1) > 0] or [action.get("TargetGroupArn")]
            if action["Type"] == "forward":
                found[rule["RuleArn"]] = groups
    return found


@pytest.fixture
def program(tmp_path):
    reset()
    program = seed_program(ENDPOINT)
    path = tmp_path / "seeded.json"
    path.write_text(json.dumps(program))
    return program, path


def test_five_services_move_into_five_accounts_two_at_a_time_each_checked_independently(program, tmp_path):
    prog, path = program
    plans = resolved_plans(path)
    before = forwards()
    code, report, events, err = program_local(prog, tmp_path)
    assert code == 0, err[-4000:]
    assert report["status"] == "SUCCEEDED" and report["summary"] == "5 of 5 services moved", report
    for name, plan in plans.items():
        failed = [(what, detail) for what, ok, detail in verify.check(ENDPOINT, plan) if not ok]
        assert not failed, (name, failed)
    # The ALB's forward actions each point at their service's new group, and nothing else moved.
    new = {s["servingTargetGroupArn"] for s in report["services"]}
    after = forwards()
    assert set(after) == set(before)
    assert {g for groups in after.values() for g in groups} == new
    assert all("/carveout-split-1-" in g for g in new)
    # Two at a time (maxConcurrency), admin after api (dependsOn).
    assert migrations_running_at_once(events) == 2
    order = [e["migrationId"] for e in events if e.get("state") == "RunMigration" and e["event"] == "ChildStarted"
             and "›" not in e.get("execution", "")]
    ended = [e["migrationId"] for e in events if e.get("state") == "RunMigration" and e["event"] == "ChildSucceeded"
             and "›" not in e.get("execution", "")]
    assert ended.index("split-1-api") < order.index("split-1-admin")
    # Each migration is named <migrationId>-<programId>: a failed one runs again under a
    # new programId (a closed execution's name cannot be used again).
    arns = [s["executionArn"] for s in report["services"]]
    assert [a.rsplit(":", 1)[1] for a in arns] == [f"split-1-{n}-split-1" for n in TARGET_ACCOUNTS], arns
    # Every history stays small: the services' polls are in their own executions.
    result = events[-1]
    assert result["event"] == "Result" and result["historyEvents"] < 1000, result.get("historyEvents")
    assert max(e["historyEvents"] for e in events if e["event"] == "ChildSucceeded") < 10_000


def test_a_service_refused_by_preflight_is_left_alone_and_the_others_finish(program, tmp_path):
    prog, path = program
    prog["toleratedFailurePercentage"] = 20
    # batch names an instance its target group does not hold (api's): its Preflight refuses it.
    api = next(s for s in prog["services"] if s["name"] == "api")
    batch = next(s for s in prog["services"] if s["name"] == "batch")
    batch["plan"]["source"]["instanceIds"] = api["plan"]["source"]["instanceIds"]
    before = forwards()
    code, report, _, err = program_local(prog, tmp_path)
    assert code == 1, err[-4000:]
    assert report["status"] == "SUCCEEDED_WITH_FAILURES", report
    statuses = {s["name"]: s["status"] for s in report["services"]}
    assert statuses == {"hp": "SUCCEEDED", "api": "SUCCEEDED", "admin": "SUCCEEDED", "batch": "REFUSED",
                        "mail": "SUCCEEDED"}, report
    batch_rule = batch["plan"]["service"]["ruleArn"]
    assert forwards()[batch_rule] == before[batch_rule], "the refused service still forwards to its own group"
    assert "✗ batch" in err and "REFUSED" in err


def test_without_tolerance_a_refused_service_stops_the_program_before_anything_changes(program, tmp_path):
    prog, _ = program
    batch = next(s for s in prog["services"] if s["name"] == "batch")
    batch["plan"]["source"]["instanceIds"] = ["i-0123456789abcdef0"]
    before = forwards()
    code, out, _, err = program_local(prog, tmp_path)
    assert code == 1, err[-4000:]
    assert out["status"] == "FAILED" and out["error"] == "CarveOut.ResourceFailed"
    assert out["cause"] == "0 of 5 services moved, 1 refused by Preflight, 4 not started"
    ec2 = session(ENDPOINT, NETWORK_ACCOUNT).client("ec2", endpoint_url=ENDPOINT)
    assert every(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections") == []
    assert forwards() == before


def test_a_vended_account_that_does_not_come_fails_only_its_own_service(tmp_path):
    reset()
    prog = seed_program(ENDPOINT, vended_later=True)
    prog["toleratedFailurePercentage"] = 20
    mail = next(s for s in prog["services"] if s["name"] == "mail")
    mail["targetByTag"]["waitMinutes"] = 0
    code, report, _, err = program_local(prog, tmp_path)
    assert code == 1, err[-4000:]
    mail = next(s for s in report["services"] if s["name"] == "mail")
    assert mail["status"] == "FAILED" and mail["error"] == "CarveOut.ResourceFailed", mail
    assert "gave up after 0 min waiting for its target" in mail["summary"]
    assert "no VPC tagged Name=mail yet" in mail["summary"]
    assert [s["status"] for s in report["services"] if s["name"] != "mail"] == ["SUCCEEDED"] * 4


def test_cleanup_keeps_a_peering_another_service_reused_while_its_targets_are_across_it(program, tmp_path):
    """api moves into hp's VPC and reuses hp's peering (one per pair of VPCs). hp is then
    moved back by hand: `carveout cleanup` of hp removes what hp made, but keeps the
    peering and its routes while api's targets are across it, and api keeps serving."""
    prog, _ = program
    hp, api = (next(s for s in prog["services"] if s["name"] == n) for n in ("hp", "api"))
    api["plan"]["target"] = hp["plan"]["target"]
    prog["services"] = [hp, api]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(prog))
    plans = resolved_plans(path)
    code, report, _, err = program_local(prog, tmp_path)
    assert code == 0 and report["status"] == "SUCCEEDED", (report, err[-3000:])
    elb = session(ENDPOINT, NETWORK_ACCOUNT).client("elbv2", endpoint_url=ENDPOINT)
    back = [{"Type": "forward", "TargetGroupArn": plans["hp"]["service"]["targetGroupArn"]}]
    elb.modify_listener(ListenerArn=plans["hp"]["service"]["listenerArn"], DefaultActions=back)  # hp: the default
    hp_plan = tmp_path / "hp.json"
    hp_plan.write_text(json.dumps(plans["hp"]))
    dry = cli("cleanup", "--plan", str(hp_plan), "--endpoint", ENDPOINT)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    kept = [line.split()[1] for line in dry.stdout.splitlines() if line.strip().startswith("keep")]
    assert kept == ["route", "route", "vpc-peering-connection"], dry.stdout
    api_group = next(s["servingTargetGroupArn"] for s in report["services"] if s["name"] == "api")
    assert "shared: instance i-" in dry.stdout and "of migration split-1-api is in" in dry.stdout, dry.stdout
    done = cli("cleanup", "--plan", str(hp_plan), "--endpoint", ENDPOINT, "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vpc-peering-connection" not in "".join(
        line for line in done.stdout.splitlines() if line.strip().startswith("removed")), done.stdout
    # api still serves across the peering (verify.check expects a peering of api's own).
    ec2 = session(ENDPOINT, NETWORK_ACCOUNT).client("ec2", endpoint_url=ENDPOINT)
    target_vpc = plans["api"]["target"]["vpcId"]
    live = [p for p in every(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections")
            if p["Status"]["Code"] == "active" and p["AccepterVpcInfo"]["VpcId"] == target_vpc]
    assert len(live) == 1, live
    assert forwards()[plans["api"]["service"]["ruleArn"]] == [api_group]
    health = elb.describe_target_health(TargetGroupArn=api_group)["TargetHealthDescriptions"]
    assert [h["TargetHealth"]["State"] for h in health] == ["healthy"], health
