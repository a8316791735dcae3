"""Every page, end to end: the emulator answers every paginated call in pages (setting
`pageSize`, 2 by default; emulator/carveout_emulator/pagination.py), as AWS may ("can return
fewer results than the maximum even when there are more results available",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html#api-pagination).
Every e2e run is read through pages; this one also fills the listener to the ALB's rules
quota."""

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, client, every, reset, run_as_planned


def test_a_listener_full_to_its_rules_quota_is_read_page_by_page(tmp_path):
    """95 more rules (99 besides the default: the quota of 100 less the probe rule's place).
    Preflight counts every rule of every listener (DescribeRules, 50 pages of 2) and the
    migration goes through. One rule more and Preflight refuses: catalogue row
    `alb-at-its-rules-quota`, whose count a first-page-only read would get wrong."""
    reset(**POLLING)
    plan = seed(ENDPOINT, extra_rules=95)
    rules = every(client("elbv2", plan["service"]["accountId"]), "describe_rules", "Rules",
                  ListenerArn=plan["service"]["listenerArn"])
    assert len([r for r in rules if not r["IsDefault"]]) == 99
    code, out, _, err = run_as_planned(plan, tmp_path)
    assert code == 0, (out, err[-2000:])
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]
