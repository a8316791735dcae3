"""The account-vending follow-up function with real-shaped Control Tower and Organizations
events: SUCCEEDED starts the stored plans, FAILED is ignored, a duplicate event starts
nothing new, an invalid stored plan is reported (SNS) and never started."""

import json

import pytest

from carveout_emulator.seed import seed
from carveout_emulator.testing import BIN_DIR, ENDPOINT, ROOT, base_client, every, real_definition, reset, sfn_machine

import os
import subprocess


def vend(event_file: str, machine: str, topic: str | None = None) -> dict:
    env = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT, AWS_REGION="ap-northeast-1", AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", STATE_MACHINE_ARN=machine, RUST_LOG="warn",
               NOTIFICATION_TOPIC_ARN=topic or "")
    proc = subprocess.run([str(BIN_DIR / "carveout-lambda"), "start-vended-migrations"], input=(ROOT / "events" / event_file).read_text(),
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "ok" in answer, answer
    return answer["ok"]


@pytest.fixture
def stored():
    reset()
    plan = seed(ENDPOINT)
    ssm = base_client("ssm")
    ssm.put_parameter(Name="/carveout/plans/222222222222/hp-2026-11", Type="String", Value=json.dumps(plan))
    other = dict(plan, migrationId="api-2026-12")
    ssm.put_parameter(Name="/carveout/plans/222222222222/api-2026-12", Type="String", Value=json.dumps(other))
    ssm.put_parameter(Name="/carveout/plans/333333333333/elsewhere", Type="String", Value=json.dumps(plan))
    return sfn_machine("carveout-migrations", real_definition())


def executions(machine):
    return sorted(e["name"] for e in every(base_client("stepfunctions"), "list_executions", "executions",
                                           stateMachineArn=machine))


def test_a_control_tower_success_starts_each_stored_plan_once(stored):
    out = vend("controltower-create-managed-account-succeeded.json", stored)
    assert out["accountId"] == "222222222222"
    assert sorted(s["migrationId"] for s in out["started"]) == ["api-2026-12", "hp-2026-11"]
    assert executions(stored) == ["api-2026-12", "hp-2026-11"]
    again = vend("controltower-create-managed-account-succeeded.json", stored)
    assert again["started"] == [] and len(again["alreadyStarted"]) == 2
    assert executions(stored) == ["api-2026-12", "hp-2026-11"]


def test_an_organizations_success_starts_the_plans_too(stored):
    out = vend("organizations-create-account-result-succeeded.json", stored)
    assert len(out["started"]) == 2


def test_a_failed_account_creation_starts_nothing(stored):
    out = vend("controltower-create-managed-account-failed.json", stored)
    assert "FAILED" in out["ignored"] and out["started"] == []
    assert executions(stored) == []


def test_an_invalid_stored_plan_is_reported_and_never_started(stored):
    ssm, sns, sqs = base_client("ssm"), base_client("sns"), base_client("sqs")
    ssm.put_parameter(Name="/carveout/plans/222222222222/broken", Type="String",
                      Value=json.dumps({"migrationId": "broken", "consistency": "live"}))
    topic = sns.create_topic(Name="carveout-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="carveout-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    out = vend("controltower-create-managed-account-succeeded.json", stored, topic)
    assert [i["parameter"] for i in out["invalid"]] == ["/carveout/plans/222222222222/broken"]
    assert "broken" not in executions(stored)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert "/carveout/plans/222222222222/broken" in body["Message"]
