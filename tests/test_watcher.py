"""The watcher: an execution that ends with no Catch (an operator's StopExecution, the
execution's timeout, a service limit) runs no Rollback, so in stop-source the listener would
keep answering 503 and the sources stay stopped. template.yaml's EventBridge rule on the
machine's ABORTED, TIMED_OUT and FAILED executions invokes RecoverExecutionFunction
(https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html); it reads the
execution's history (GetExecutionHistory) for the last state, waits out a step invocation
that may still run, and restores as Rollback does. The local runner plays EventBridge: the
emulator answers GetExecutionHistory with the history the runner wrote."""

import json

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import seed
from carveout_emulator.testing import ENDPOINT, POLLING, base_client, client, configure, post, reset, run_local, step

# Steps run at most this long here, so the watcher's wait for an invocation still in
# flight (up to its Task's timeout) stays short.
STEP_SECONDS = "30"


def listener_actions(plan):
    return client("elbv2", plan["service"]["accountId"]).describe_listeners(
        ListenerArns=[plan["service"]["listenerArn"]])["Listeners"][0]["DefaultActions"]


def forwarded(plan):
    return {t["TargetGroupArn"] for a in listener_actions(plan) for t in a.get("ForwardConfig", {}).get("TargetGroups", [])
            if t.get("Weight", 1) > 0} | {a["TargetGroupArn"] for a in listener_actions(plan) if a.get("TargetGroupArn")}


def source_states(plan):
    reservations = client("ec2", plan["source"]["accountId"]).describe_instances(
        InstanceIds=plan["source"]["instanceIds"])["Reservations"]
    return {i["State"]["Name"] for r in reservations for i in r["Instances"]}


@pytest.fixture
def topic_queue():
    """A fresh emulator, and a topic with a queue subscribed: where the watcher's
    notification can be read."""
    reset(**POLLING)
    sns, sqs = base_client("sns"), base_client("sqs")
    topic = sns.create_topic(Name="carveout-notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="carveout-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return topic, queue


def notifications(queue):
    messages = base_client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [m["Body"] for m in messages]


def test_a_run_stopped_in_maintenance_gets_its_routing_and_sources_back(tmp_path, monkeypatch, topic_queue):
    """StopExecution while the service answers 503 and its sources stop: no Rollback runs;
    the watcher puts the original forward action back and starts the sources, and says so
    on the topic. On today's carveout (no watcher) the listener stays in maintenance."""
    topic, queue = topic_queue
    plan = seed(ENDPOINT, consistency="stop-source")
    original = listener_actions(plan)
    monkeypatch.setenv("CARVEOUT_STOP_EXECUTION_AT", "WaitSourceStopped")
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", STEP_SECONDS)
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", topic)
    rc, out, events, err = run_local(plan, tmp_path)
    assert rc == 1 and out["status"] == "ABORTED", (out, err[-2000:])
    entered = [e["state"] for e in events if e.get("event") == "StateEntered"]
    assert "EnterMaintenance" in entered and "Rollback" not in entered, "stopped in maintenance, no Rollback"
    recovery = out["recovery"]
    assert recovery.get("outcome") == "restored", recovery
    assert recovery["rollback"]["routing"].startswith("restored"), recovery
    # Independent reads: the listener forwards exactly as before, the sources run again.
    assert json.dumps(listener_actions(plan), sort_keys=True) == json.dumps(original, sort_keys=True)
    assert source_states(plan) <= {"pending", "running"}, source_states(plan)
    said = notifications(queue)
    assert any("ABORTED" in m and "restored" in m for m in said), said


def test_a_run_stopped_past_the_point_of_no_return_keeps_the_new_copy_serving(tmp_path, monkeypatch):
    """Stopped after Cutover (entering Report): the new copy may hold writes, so the watcher
    leaves traffic on it and the stopped source stopped, as Rollback would."""
    reset(**POLLING)
    plan = seed(ENDPOINT, consistency="stop-source")
    monkeypatch.setenv("CARVEOUT_STOP_EXECUTION_AT", "Report")
    monkeypatch.setenv("CARVEOUT_FUNCTION_TIMEOUT_SECONDS", STEP_SECONDS)
    rc, out, _, err = run_local(plan, tmp_path)
    assert rc == 1 and out["status"] == "ABORTED", (out, err[-2000:])
    recovery = out["recovery"]
    assert recovery["outcome"] == "restored" and "point of no return" in recovery["rollback"]["routing"], recovery
    assert forwarded(plan) != {plan["service"]["targetGroupArn"]}, "traffic stays on the new targets"
    assert source_states(plan) == {"stopped"}
    assert not [r for r in verify.check(ENDPOINT, plan) if not r[1]]


def test_a_run_whose_rollback_ran_is_left_alone_and_one_that_changed_nothing_too(tmp_path):
    """A failure Rollback handled ends FAILED too: the watcher finds Rollback's exit in the
    history and changes nothing. A run refused by Preflight changed nothing."""
    reset(**POLLING)
    plan = seed(ENDPOINT)
    bad = dict(plan, target=dict(plan["target"], subnetIds=["subnet-0000000000000dead"]))
    rc, out, _, _ = run_local(bad, tmp_path)
    assert rc == 1 and out["recovery"]["outcome"] == "nothing-changed", out
    configure(faults=[{"action": "CreateImage", "code": "InvalidParameterValue", "status": 400, "when": "before",
                       "message": "refused on purpose"}])
    rc, out, events, _ = run_local(plan, tmp_path)
    configure(faults=[])
    assert rc == 1 and any(e.get("event") == "StateExited" and e.get("state") == "Rollback" for e in events), out
    assert out["recovery"]["outcome"] == "rollback-ran", out


def test_an_event_that_no_longer_describes_the_execution_changes_nothing(tmp_path):
    """EventBridge delivers at least once and in no set order, and a redrive moves an
    execution on: the watcher acts only while DescribeExecution still shows the event's
    status and redrive count. Here the event says ABORTED, the execution runs again."""
    reset(**POLLING)
    plan = seed(ENDPOINT, consistency="stop-source")
    arn = "arn:aws:states:ap-northeast-1:123456789012:execution:carveout-migrations:" + plan["migrationId"]
    machine = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:carveout-migrations"
    post("/_carveout/executions", {"executionArn": arn, "stateMachineArn": machine, "name": plan["migrationId"],
                                   "status": "RUNNING", "events": [{"id": 1, "previousEventId": 0, "timestamp": 1,
                                                                    "type": "ExecutionStarted"}]})
    event = {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
             "detail": {"executionArn": arn, "stateMachineArn": machine, "name": plan["migrationId"],
                        "status": "ABORTED", "redriveCount": 0}}
    answer = step("recover-execution", event)
    assert answer["ok"]["outcome"] == "superseded", answer
    assert "RUNNING" in answer["ok"]["summary"]
