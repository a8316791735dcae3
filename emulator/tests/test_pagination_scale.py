"""Pagination at scale: a listener with as many rules as the ALB's rules quota allows and a
thousand more instances, read whole through boto3's paginators in pages of 2 (pagination.py)."""

import pytest

from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, client, configure, reset

N = "111111111111"


@pytest.fixture(autouse=True)
def clean():
    reset()
    yield
    reset()


def test_every_rule_and_instance_is_read_through_the_paginators():
    # 95 more rules: the seed's 4 and carveout's probe rule make the quota's 100
    # (rules-per-application-load-balancer); 150 would be past it (the seed refuses).
    with pytest.raises(ValueError, match="rules-per-application-load-balancer"):
        seed(ENDPOINT, extra_rules=96)
    reset()
    plan = seed(ENDPOINT, extra_rules=95, extra_instances=1000)
    assert configure()["phases"]["pageSize"] == 2
    elb, ec2 = client("elbv2", N), client("ec2", N)
    pages = list(elb.get_paginator("describe_rules").paginate(ListenerArn=plan["service"]["listenerArn"]))
    rules = [r["RuleArn"] for page in pages for r in page["Rules"]]
    assert len(pages) == 50 and len(set(rules)) == 100  # 4 + 95 + the default
    pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 1000}))
    ids = [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]
    assert len(set(ids)) == len(ids) == 1005 and len(pages) == 53  # 5 + 100 launches of 10, 2 a page
    extra = [i for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:Name", "Values": ["extra"]}]) for r in page["Reservations"] for i in r["Instances"]]
    assert len(extra) == 1000 and all(i["InstanceType"] == "t3.nano" for i in extra)
    groups = [g for page in elb.get_paginator("describe_target_groups").paginate() for g in page["TargetGroups"]]
    registered = {d["Target"]["Id"] for g in groups
                  for d in elb.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]}
    assert not registered & {i["InstanceId"] for i in extra}
