"""`carveout program plan` against the emulator (issue 17): the program's Preflight is
read-only, runs every service's own Preflight, and refuses a program whose services
together pass a limit they share, naming the limit and the count. The emulator holds
those limits as AWS does (patches/network_limits.py), so a refused program is one AWS
would stop halfway."""

import json

import pytest

from carveout_emulator.seed import NETWORK_ACCOUNT, every, session
from carveout_emulator.seed_program import TARGET_ACCOUNTS, seed_program, target_vpc
from carveout_emulator.testing import ENDPOINT, ROOT, base_client, cli, configure, reset, sfn_machine


@pytest.fixture
def program(tmp_path):
    reset()
    program = seed_program(ENDPOINT)
    path = tmp_path / "program.json"
    path.write_text(json.dumps(program))
    return program, path


def plan(path, *extra):
    proc = cli("program", "plan", "--program", str(path), "--endpoint", ENDPOINT, *extra)
    return proc, (json.loads(proc.stdout) if "--json" in extra and proc.returncode == 0 else None)


def peerings():
    ec2 = session(ENDPOINT, NETWORK_ACCOUNT).client("ec2", endpoint_url=ENDPOINT)
    return [p for p in every(ec2, "describe_vpc_peering_connections", "VpcPeeringConnections")
            if p["Status"]["Code"] not in ("deleted", "rejected", "failed", "expired")]


def alb_route_table():
    """The route table of the ALB's subnets (the one every service adds a route to)."""
    ec2 = session(ENDPOINT, NETWORK_ACCOUNT).client("ec2", endpoint_url=ENDPOINT)
    elb = session(ENDPOINT, NETWORK_ACCOUNT).client("elbv2", endpoint_url=ENDPOINT)
    subnet = every(elb, "describe_load_balancers", "LoadBalancers")[0]["AvailabilityZones"][0]["SubnetId"]
    table = every(ec2, "describe_route_tables", "RouteTables",
                  Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[0]
    return ec2, table


def test_five_services_pass_with_waves_and_the_shared_numbers_and_nothing_changes(program):
    _, path = program
    proc, out = plan(path, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["status"] for s in out["services"]] == ["ready"] * 5
    assert [s["migrationId"] for s in out["services"]] == [f"split-1-{n}" for n in TARGET_ACCOUNTS]
    # Two at a time; admin after api, in the first free place.
    assert [w["services"] for w in out["waves"]] == [["hp", "api"], ["admin", "batch"], ["mail"]]
    mail = next(s for s in out["services"] if s["name"] == "mail")
    assert mail["plan"]["target"]["vpcId"].startswith("vpc-"), "mail's target was picked by tag"
    lines = "\n".join(out["sharedChecks"])
    assert "0 now + 5 (one per target VPC not peered with it yet" in lines, lines
    assert "= 7 of 50 (Routes per route table, Service Quotas vpc L-93826ACB)" in lines, lines
    assert "5 now + 5 (one new target group per service" in lines, lines
    assert "4 now + 2 (one probe rule per service in flight" in lines, lines
    assert "of 100 (Pending snapshots per account, Service Quotas ebs L-94D7AB7D)" in lines, lines
    assert "the program's own history: at most " in lines and "events of 10000" in lines, lines
    assert peerings() == [], "the program's Preflight changes nothing"
    text, _ = plan(path)
    assert "wave 2: admin, batch" in text.stdout and text.stdout.count("✓") == 5 + len(out["sharedChecks"])


def test_a_route_table_near_its_quota_refuses_the_program_naming_the_limit_and_the_count(program):
    _, path = program
    ec2, table = alb_route_table()
    igw = next(r["GatewayId"] for r in table["Routes"] if r.get("GatewayId", "").startswith("igw-"))
    for n in range(44):  # local, 0.0.0.0/0 and 44 more: 46 of 50, and the program adds 5
        ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock=f"172.16.{n}.0/24", GatewayId=igw)
    proc, _ = plan(path)
    assert proc.returncode == 1, proc.stdout
    assert "✗ CarveOut.InvalidPlan" in proc.stdout
    assert f"route table {table['RouteTableId']} in {NETWORK_ACCOUNT}: 46 now + 5" in proc.stdout, proc.stdout
    assert "= 51 > 50 (Routes per route table, Service Quotas vpc L-93826ACB)" in proc.stdout
    assert peerings() == [], "refused before anything changes"
    # The applied quota is read, not assumed: raised to 60, the program fits.
    configure(vpcQuotas={NETWORK_ACCOUNT: {"L-93826ACB": 60}})
    proc, out = plan(path, "--json")
    assert proc.returncode == 0, proc.stdout
    assert any("46 now + 5" in line and "= 51 of 60" in line for line in out["sharedChecks"])


def test_an_alb_near_100_target_groups_refuses_the_program(program):
    prog, path = program
    ec2 = session(ENDPOINT, NETWORK_ACCOUNT).client("ec2", endpoint_url=ENDPOINT)
    elb = session(ENDPOINT, NETWORK_ACCOUNT).client("elbv2", endpoint_url=ENDPOINT)
    vpc = every(ec2, "describe_vpcs", "Vpcs", Filters=[{"Name": "tag:Name", "Values": ["main"]}])[0]["VpcId"]
    listener = prog["defaults"]["service"]["listenerArn"]
    groups = [elb.create_target_group(Name=f"old-{i}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"][0]["TargetGroupArn"] for i in range(92)]
    for r in range(0, 92, 5):  # 5 + 92 = 97 in use; the program adds 5
        elb.create_rule(ListenerArn=listener, Priority=200 + r, Conditions=[
            {"Field": "path-pattern", "Values": [f"/old-{r}"]}], Actions=[{"Type": "forward", "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": g} for g in groups[r:r + 5]]}}])
    proc, _ = plan(path)
    assert proc.returncode == 1, proc.stdout
    assert "97 now + 5 (one new target group per service" in proc.stdout, proc.stdout
    assert "= 102 > 100 (Target groups per Application Load Balancer" in proc.stdout
    assert "not adjustable" in proc.stdout


def test_a_source_account_near_its_pending_snapshots_refuses_the_program(program):
    """Every volume of a wave's instances is snapshotted at once; the quota (100, not
    adjustable) is here 1, below a wave of two one-volume services."""
    prog, path = program
    source = prog["defaults"]["source"]["accountId"]
    configure(ebsQuotas={source: {"L-94D7AB7D": 1}})
    proc, _ = plan(path)
    assert proc.returncode == 1, proc.stdout
    assert f"account {source}: 0 now + 2" in proc.stdout, proc.stdout
    assert "= 2 > 1 (Pending snapshots per account, Service Quotas ebs L-94D7AB7D)" in proc.stdout
    assert "not adjustable" in proc.stdout
    assert peerings() == [], "refused before anything changes"


def test_a_service_that_fails_its_own_preflight_is_named_and_the_others_pass(program, tmp_path):
    prog, _ = program
    prog["services"][3]["plan"]["source"]["instanceIds"] = ["i-0123456789abcdef0"]
    path = tmp_path / "one-bad.json"
    path.write_text(json.dumps(prog))
    proc, _ = plan(path)
    assert proc.returncode == 1, proc.stdout
    assert "✗ batch (split-1-batch): CarveOut.InvalidPlan" in proc.stdout, proc.stdout
    for name in ("hp", "api", "admin", "mail"):
        assert f"✓ {name} (split-1-{name}): Preflight passed" in proc.stdout


def test_a_target_picked_by_tag_waits_until_its_account_has_the_vpc(tmp_path):
    reset()
    prog = seed_program(ENDPOINT, vended_later=True)
    path = tmp_path / "vended.json"
    path.write_text(json.dumps(prog))
    proc, out = plan(path, "--json")
    assert proc.returncode == 0, proc.stdout
    mail = next(s for s in out["services"] if s["name"] == "mail")
    assert mail["status"] == "waiting" and mail["waitMinutes"] == 30
    assert "no VPC tagged Name=mail yet" in mail["why"]
    # Still counted on the ALB's side: its peering, its route, its target group.
    lines = "\n".join(out["sharedChecks"])
    assert "0 now + 5 (one per target VPC not peered with it yet" in lines, lines
    assert "5 now + 5 (one new target group per service" in lines, lines
    target_vpc(ENDPOINT, "mail")
    proc, out = plan(path, "--json")
    assert next(s for s in out["services"] if s["name"] == "mail")["status"] == "ready"


def test_program_start_names_the_execution_after_the_program_and_never_runs_it_twice(program, tmp_path):
    """`carveout program start` on the deployed program state machine (here moto's, with the
    real definition, its placeholders substituted as CloudFormation does)."""
    _, path = program
    text = (ROOT / "statemachine/program.asl.json").read_text()
    definition = json.loads(text.replace("${MigrationStateMachineArn}",
                                         "arn:aws:states:ap-northeast-1:123456789012:stateMachine:MigrationStateMachine-x")
                            .replace("${", "arn:aws:lambda:ap-northeast-1:123456789012:function:")
                            .replace("FunctionArn}", ""))
    machine = sfn_machine("ProgramStateMachine-test", definition)
    first = cli("program", "start", "--program", str(path), "--endpoint", ENDPOINT)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"started {machine.replace(':stateMachine:', ':execution:')}:split-1" in first.stdout
    second = cli("program", "start", "--program", str(path), "--endpoint", ENDPOINT)
    assert second.returncode == 0 and "program split-1 was already started" in second.stdout
    executions = every(base_client("stepfunctions"), "list_executions", "executions", stateMachineArn=machine)
    assert [e["name"] for e in executions] == ["split-1"]
    status = cli("program", "status", "--program-id", "split-1", "--endpoint", ENDPOINT)
    assert status.returncode == 0 and "split-1" in status.stdout


def test_program_start_refuses_an_invalid_program_without_starting(program, tmp_path):
    prog, _ = program
    prog["services"][0]["dependsOn"] = ["nothing"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(prog))
    machine = sfn_machine("ProgramStateMachine-test", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    proc = cli("program", "start", "--program", str(path), "--endpoint", ENDPOINT)
    assert proc.returncode == 1
    assert "✗ CarveOut.InvalidPlan" in proc.stdout and "depends on \"nothing\"" in proc.stdout
    assert every(base_client("stepfunctions"), "list_executions", "executions", stateMachineArn=machine) == []


def test_targets_whose_cidrs_overlap_refuse_the_program_naming_both(program, tmp_path):
    prog, _ = program
    # api moves into a VPC of its account with admin's CIDR (10.3.0.0/16): the ALB's VPC
    # could route that CIDR to one peering only.
    api = next(s for s in prog["services"] if s["name"] == "api")
    ec2 = session(ENDPOINT, api["plan"]["target"]["accountId"]).client("ec2", endpoint_url=ENDPOINT)
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.10.0/24", AvailabilityZone="ap-northeast-1a")["Subnet"]
    api["plan"]["target"] = {"accountId": api["plan"]["target"]["accountId"], "vpcId": vpc,
                             "subnetIds": [subnet["SubnetId"]]}
    path = tmp_path / "overlap.json"
    path.write_text(json.dumps(prog))
    proc, _ = plan(path)
    assert proc.returncode == 1, proc.stdout
    assert "services api and admin move into VPCs whose CIDRs overlap" in proc.stdout, proc.stdout
    assert "10.3.0.0/16" in proc.stdout and peerings() == []
