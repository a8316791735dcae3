"""Histories of the local runner's executions, answered by Step Functions' GetExecutionHistory.

The local runner (statemachine/local/run.mjs) runs the ASL itself, so moto's Step Functions
never sees the execution. The watcher (functions/src/recover) reads a stopped execution's
history with GetExecutionHistory, as it does on AWS; the runner posts the history it wrote
(in the service's event shapes) to `POST /_carveout/executions` before invoking it, and this
patch answers GetExecutionHistory for those executions as AWS does: `reverseOrder`,
`maxResults` (default 100, at most 1000) and an opaque `nextToken`; an unknown token is
InvalidToken (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html).
`includeExecutionData=false` leaves out inputs and outputs. DescribeExecution answers the
recorded status (redriveCount 0: the runner does not redrive), and ListExecutions of the
recorded state machine lists them (its statusFilter honoured): the watcher checks both before
it acts. Any other execution or machine goes to moto.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.responses import StepFunctionResponse

from ._util import once

_LOCK = threading.Lock()
_HISTORIES: dict[str, list[dict[str, Any]]] = {}
# executionArn -> {stateMachineArn, name, status, startDate, stopDate}
_EXECUTIONS: dict[str, dict[str, Any]] = {}
_DATA_KEYS = ("input", "output")


class InvalidToken(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidToken", message)


def record(body: dict[str, Any]) -> dict[str, Any]:
    """Keeps one execution's history: {"executionArn": ..., "events": [...], "stateMachineArn",
    "name", "status"} (events oldest first, each with its id, previousEventId, timestamp (epoch
    seconds), type and details; the other three default from the ARN, and FAILED)."""
    arn, events = body["executionArn"], body["events"]
    if not isinstance(events, list):
        raise ValueError("events must be a list")
    with _LOCK:
        _HISTORIES[arn] = events
        _EXECUTIONS[arn] = {
            "executionArn": arn, "name": body.get("name", arn.rsplit(":", 1)[-1]),
            # The machine: named in the body, else the one the execution ARN names.
            "stateMachineArn": body.get("stateMachineArn",
                                        arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]),
            "status": body.get("status", "FAILED"), "startDate": events[0]["timestamp"] if events else 0,
            # DescribeExecution answers the input (the ExecutionStarted event's).
            "input": body.get("input") or next(
                (e.get("executionStartedEventDetails", {}).get("input") for e in events
                 if e.get("type") == "ExecutionStarted"), None),
            "stopDate": events[-1]["timestamp"] if events else 0,
        }
    return {"executionArn": arn, "events": len(events)}


def reset() -> None:
    with _LOCK:
        _HISTORIES.clear()
        _EXECUTIONS.clear()


def _without_data(event: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _DATA_KEYS}
        out[key] = value
    return out


def page(arn: str, reverse: bool, max_results: int | None, token: str | None, include_data: bool) -> dict[str, Any]:
    with _LOCK:
        events = list(_HISTORIES[arn])
    if reverse:
        events.reverse()
    start = 0
    if token:
        try:
            mark = json.loads(base64.b64decode(token))
            start = int(mark["offset"])
            if mark["arn"] != arn or mark["reverse"] != reverse:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("Invalid Token: the token does not belong to this request") from None
    size = min(max(int(max_results or 100), 1), 1000)
    chunk = events[start:start + size]
    answer: dict[str, Any] = {"events": [e if include_data else _without_data(e) for e in chunk]}
    if start + size < len(events):
        mark = {"arn": arn, "reverse": reverse, "offset": start + size}
        answer["nextToken"] = base64.b64encode(json.dumps(mark).encode()).decode()
    return answer


def apply() -> None:
    if not once(sys.modules[__name__]):
        return
    original = StepFunctionResponse.get_execution_history

    def get_execution_history(self):  # type: ignore[no-untyped-def]
        arn = self._get_param("executionArn")
        with _LOCK:
            known = arn in _HISTORIES
        if not known:
            return original(self)
        include = self._get_param("includeExecutionData")
        return json.dumps(page(arn, bool(self._get_param("reverseOrder")), self._get_param("maxResults"),
                               self._get_param("nextToken"), include is None or bool(include)))

    original_describe = StepFunctionResponse.describe_execution
    original_list = StepFunctionResponse.list_executions

    def describe_execution(self):  # type: ignore[no-untyped-def]
        with _LOCK:
            found = _EXECUTIONS.get(self._get_param("executionArn"))
        if found is None:
            return original_describe(self)
        return json.dumps({**found, "redriveCount": 0, "redriveStatus": "NOT_REDRIVABLE"})

    def list_executions(self):  # type: ignore[no-untyped-def]
        machine, wanted = self._get_param("stateMachineArn"), self._get_param("statusFilter")
        with _LOCK:
            found = [e for e in _EXECUTIONS.values() if e["stateMachineArn"] == machine]
        if not found:
            return original_list(self)
        return json.dumps({"executions": [e for e in found if not wanted or e["status"] == wanted]})

    StepFunctionResponse.get_execution_history = get_execution_history
    StepFunctionResponse.describe_execution = describe_execution
    StepFunctionResponse.list_executions = list_executions
