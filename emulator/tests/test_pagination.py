"""Pagination (pagination.py): every paginated operation carveout calls answers in pages of
at most `pageSize` items with a continuation token, as AWS may ("An API operation can return
fewer results than the maximum even when there are more results available"), and the pages
together are exactly moto's full list."""

import json

import botocore.exceptions
import pytest

from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, client, configure, post, reset

N, T = "111111111111", "222222222222"
# service -> (request token, answer token) as boto3 names them
TOKENS = {"ec2": ("NextToken", "NextToken"), "elbv2": ("Marker", "NextMarker"), "ram": ("nextToken", "nextToken"),
          "stepfunctions": ("nextToken", "nextToken"), "ssm": ("NextToken", "NextToken")}
TYPES = ["t3.nano", "t3.micro", "t3.small", "t3.medium", "m5.large"]


def _world():
    """The seed's topology, plus enough of every listed resource for several pages of 2."""
    plan = seed(ENDPOINT)
    ec2, elb = client("ec2", N), client("elbv2", N)
    for name in ("second", "third"):  # one image and its snapshot each
        ec2.register_image(Name=name, RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                           BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])
    main = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["main"]}])["Vpcs"][0]["VpcId"]
    extra = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    for _ in range(3):
        ec2.create_vpc_peering_connection(VpcId=main, PeerVpcId=extra)
    lb = elb.describe_load_balancers(Names=["main"])["LoadBalancers"][0]
    for port in (8080, 8081):
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": plan["service"]["targetGroupArn"]}])
    subnets = [z["SubnetId"] for z in lb["AvailabilityZones"]]
    for name in ("second", "third"):
        elb.create_load_balancer(Name=name, Subnets=subnets, Scheme="internal", Type="application")
    ram = client("ram", N)
    for group in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [main]}])["SecurityGroups"]:
        ram.create_resource_share(name=group["GroupName"], principals=[T], allowExternalPrincipals=False,
                                  resourceArns=[f"arn:aws:ec2:{plan['region']}:{N}:security-group/{group['GroupId']}"])
    sfn = client("stepfunctions", N)
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machines = [sfn.create_state_machine(name=f"m{i}", definition=definition, roleArn=f"arn:aws:iam::{N}:role/r")[
        "stateMachineArn"] for i in range(3)]
    executions = [sfn.start_execution(stateMachineArn=machines[0], name=f"e{i}")["executionArn"] for i in range(3)]
    ssm = client("ssm", N)
    for i in range(13):  # more than moto's own page of 10
        ssm.put_parameter(Name=f"/carveout/plans/{i:02d}", Value="{}", Type="String")
    return {"plan": plan, "lb": lb["LoadBalancerArn"], "machine": machines[0], "execution": executions[0]}


@pytest.fixture(scope="module")
def world():
    reset()
    yield _world()
    reset()


@pytest.fixture(autouse=True)
def default_settings(world):
    configure(pageSize=2, faults=[])
    yield


# (service, method, arguments from the world, result key)
OPERATIONS = [
    ("ec2", "describe_instances", lambda w: {}, "Reservations"),
    ("ec2", "describe_instance_status", lambda w: {}, "InstanceStatuses"),
    ("ec2", "describe_images", lambda w: {"Owners": ["self"]}, "Images"),
    ("ec2", "describe_snapshots", lambda w: {"OwnerIds": ["self"]}, "Snapshots"),
    ("ec2", "describe_volumes", lambda w: {}, "Volumes"),
    ("ec2", "describe_route_tables", lambda w: {}, "RouteTables"),
    ("ec2", "describe_security_groups", lambda w: {"MaxResults": 5}, "SecurityGroups"),
    ("ec2", "describe_subnets", lambda w: {}, "Subnets"),
    ("ec2", "describe_vpcs", lambda w: {}, "Vpcs"),
    ("ec2", "describe_vpc_peering_connections", lambda w: {}, "VpcPeeringConnections"),
    ("ec2", "describe_instance_types", lambda w: {"InstanceTypes": TYPES}, "InstanceTypes"),
    ("ec2", "describe_instance_type_offerings",
     lambda w: {"Filters": [{"Name": "instance-type", "Values": TYPES[:3]}]}, "InstanceTypeOfferings"),
    ("elbv2", "describe_rules", lambda w: {"ListenerArn": w["plan"]["service"]["listenerArn"]}, "Rules"),
    ("elbv2", "describe_target_groups", lambda w: {}, "TargetGroups"),
    ("elbv2", "describe_listeners", lambda w: {"LoadBalancerArn": w["lb"]}, "Listeners"),
    ("elbv2", "describe_load_balancers", lambda w: {}, "LoadBalancers"),
    ("elbv2", "describe_account_limits", lambda w: {}, "Limits"),
    ("ram", "get_resource_shares", lambda w: {"resourceOwner": "SELF"}, "resourceShares"),
    ("ram", "get_resource_share_associations", lambda w: {"associationType": "PRINCIPAL"},
     "resourceShareAssociations"),
    ("ram", "list_resources", lambda w: {"resourceOwner": "SELF"}, "resources"),
    ("stepfunctions", "list_executions", lambda w: {"stateMachineArn": w["machine"]}, "executions"),
    ("stepfunctions", "list_state_machines", lambda w: {}, "stateMachines"),
    ("stepfunctions", "get_execution_history", lambda w: {"executionArn": w["execution"]}, "events"),
    ("ssm", "get_parameters_by_path", lambda w: {"Path": "/carveout/plans", "Recursive": True}, "Parameters"),
]


def _pages(service, method, kwargs, key):
    """Every page of a listing, following the answers' tokens by hand."""
    call, (token_in, token_out) = getattr(client(service, N), method), TOKENS[service]
    pages, token = [], None
    while True:
        answer = call(**kwargs, **({token_in: token} if token else {}))
        pages.append(answer[key])
        token = answer.get(token_out)
        if not token:
            return pages
        assert len(pages) < 1000, "the tokens never end"


def _flat(pages):
    return [item for page in pages for item in page]


@pytest.mark.parametrize("service,method,arguments,key", OPERATIONS, ids=[o[1] for o in OPERATIONS])
def test_every_listing_comes_in_pages_that_add_up_to_motos_full_list(world, service, method, arguments, key):
    kwargs = arguments(world)
    configure(pageSize=0)
    whole = _flat(_pages(service, method, kwargs, key))  # moto's list (its own pages followed)
    assert len(whole) > 2
    configure(pageSize=2)
    first = getattr(client(service, N), method)(**kwargs)
    assert len(first[key]) == 2 and first[TOKENS[service][1]]
    pages = _pages(service, method, kwargs, key)
    assert all(len(page) <= 2 for page in pages) and len(pages) == (len(whole) + 1) // 2
    assert _flat(pages) == whole


def test_boto3_paginators_read_every_page(world):
    elb, ec2 = client("elbv2", N), client("ec2", N)
    rules = [r for page in elb.get_paginator("describe_rules").paginate(
        ListenerArn=world["plan"]["service"]["listenerArn"]) for r in page["Rules"]]
    assert len(rules) == 5 and sum(r["IsDefault"] for r in rules) == 1
    instances = [i for page in ec2.get_paginator("describe_instances").paginate()
                 for r in page["Reservations"] for i in r["Instances"]]
    assert len({i["InstanceId"] for i in instances}) == 5


def test_a_smaller_max_results_makes_smaller_pages(world):
    configure(pageSize=10)
    ec2 = client("ec2", N)
    first = ec2.describe_subnets(MaxResults=5)
    assert len(first["Subnets"]) == 5 and first["NextToken"]
    assert len(ec2.describe_subnets(MaxResults=5, NextToken=first["NextToken"])["Subnets"]) == 2
    assert len(ec2.describe_subnets()["Subnets"]) == 7  # pageSize 10: one page
    configure(pageSize=2)
    elb = client("elbv2", N)
    pages = _pages("elbv2", "describe_account_limits", {"PageSize": 1}, "Limits")
    # moto's nine limits and target-groups-per-application-load-balancer (patches/network_limits.py).
    assert [len(p) for p in pages] == [1] * 10
    pages = _pages("ram", "get_resource_shares", {"resourceOwner": "SELF", "maxResults": 1}, "resourceShares")
    assert [len(p) for p in pages] == [1, 1, 1]
    # The limit may change from page to page; the other parameters may not.
    first = elb.describe_account_limits(PageSize=1)
    assert len(elb.describe_account_limits(PageSize=2, Marker=first["NextMarker"])["Limits"]) == 2


def test_the_local_runners_histories_come_in_pages_too(world):
    """GetExecutionHistory of an execution the local runner recorded (patches/executions.py,
    which pages by 100 itself): pages of 2, newest first with reverseOrder."""
    arn = f"arn:aws:states:ap-northeast-1:{N}:execution:carveout:local-pages"
    events = [{"id": i, "previousEventId": i - 1, "timestamp": 1_800_000_000 + i, "type": "PassStateEntered",
               "stateEnteredEventDetails": {"name": f"S{i}"}} for i in range(1, 206)]
    post("/_carveout/executions", {"executionArn": arn, "events": events})
    sfn = client("stepfunctions", N)
    pages = list(sfn.get_paginator("get_execution_history").paginate(executionArn=arn, reverseOrder=True))
    assert len(pages) == 103 and [e["id"] for p in pages for e in p["events"]] == list(range(205, 0, -1))


def test_page_size_zero_answers_as_moto_does(world):
    configure(pageSize=0)
    ec2, elb = client("ec2", N), client("elbv2", N)
    answer = ec2.describe_subnets()
    assert len(answer["Subnets"]) == 7 and "NextToken" not in answer
    # moto's own paging, with moto's own marker (a rule ARN)
    rules = elb.describe_rules(ListenerArn=world["plan"]["service"]["listenerArn"], PageSize=2)
    assert rules["NextMarker"].startswith("arn:aws:elasticloadbalancing:")


def test_operations_aws_answers_whole(world):
    """DescribeInstances / DescribeInstanceStatus with instance ids take no MaxResults ("You
    cannot specify this parameter and the instance IDs parameter in the same request"), and
    DescribeSecurityGroups without MaxResults answers "all items"."""
    ec2 = client("ec2", N)
    ids = [i["InstanceId"] for r in _flat(_pages("ec2", "describe_instances", {}, "Reservations"))
           for i in r["Instances"]]
    answer = ec2.describe_instances(InstanceIds=ids)
    assert sum(len(r["Instances"]) for r in answer["Reservations"]) == 5 and "NextToken" not in answer
    statuses = ec2.describe_instance_status(InstanceIds=ids)
    assert len(statuses["InstanceStatuses"]) == 5 and "NextToken" not in statuses
    for call in (lambda: ec2.describe_instances(InstanceIds=ids, MaxResults=5),
                 lambda: ec2.describe_instance_status(InstanceIds=ids, MaxResults=5)):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
    groups = ec2.describe_security_groups()
    assert len(groups["SecurityGroups"]) == 5 and "NextToken" not in groups


def _error(call):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_token_not_issued_for_the_request_is_the_services_invalid_token_error(world):
    ec2, elb, ram = client("ec2", N), client("elbv2", N), client("ram", N)
    sfn, ssm = client("stepfunctions", N), client("ssm", N)
    token = ec2.describe_subnets()["NextToken"]
    assert _error(lambda: ec2.describe_subnets(
        NextToken=token, Filters=[{"Name": "vpc-id", "Values": ["vpc-1"]}])) == ("InvalidPaginationToken", 400)
    assert _error(lambda: ec2.describe_vpcs(NextToken=token)) == ("InvalidPaginationToken", 400)
    assert _error(lambda: ec2.describe_subnets(NextToken="garbage")) == ("InvalidPaginationToken", 400)
    marker = elb.describe_target_groups()["NextMarker"]
    assert _error(lambda: elb.describe_target_groups(Names=["hp"], Marker=marker)) == ("ValidationError", 400)
    shares = ram.get_resource_shares(resourceOwner="SELF")["nextToken"]
    assert _error(lambda: ram.get_resource_shares(resourceOwner="OTHER-ACCOUNTS", nextToken=shares)) == (
        "InvalidNextTokenException", 400)
    assert _error(lambda: sfn.list_state_machines(nextToken="not-a-token")) == ("InvalidToken", 400)
    params = ssm.get_parameters_by_path(Path="/carveout/plans")["NextToken"]
    assert _error(lambda: ssm.get_parameters_by_path(Path="/carveout", NextToken=params)) == (
        "InvalidNextToken", 400)


def test_pages_change_only_the_list_and_the_token(world):
    """Around the list, the answer is moto's byte for byte (EC2's XML, RAM's JSON)."""
    raw = {}

    def grab(http_response, **_):
        raw["body"] = http_response.content

    ec2, ram = client("ec2", N), client("ram", N)
    calls = (lambda: ec2.describe_subnets(), lambda: ram.get_resource_shares(resourceOwner="SELF"))
    for c in (ec2, ram):
        c.meta.events.register("after-call", grab)

    def bodies(size):
        configure(pageSize=size)
        return [call() and raw["body"] for call in calls]

    whole = bodies(0)
    assert bodies(100) == whole  # one page: moto's answer as it was
    page, shares = (body.decode() for body in bodies(2))
    subnets = whole[0].decode()
    (w_in, w_out), (p_in, p_out) = ((t.index("<subnetSet>") + 11, t.index("</subnetSet>")) for t in (subnets, page))
    assert page[:p_in] == subnets[:w_in] and page.count("<subnetId>") == 2
    assert subnets[w_in:w_out].startswith(page[p_in:p_out])  # the first two items, as written
    token = page.split("<nextToken>")[1].split("</nextToken>")[0]
    assert page[p_out:] == f"</subnetSet><nextToken>{token}</nextToken>" + subnets[w_out + 12:]
    assert json.loads(shares)["resourceShares"] == json.loads(whole[1])["resourceShares"][:2]
