"""What no ASL linter knows, checked on the ASL, the template and the code's contract
(`carveout-lambda --contract`: the SDK's time bound and the error names steps raise).

1. Three clocks nest for every Task: the worst case of one SDK call (every retry and
   backoff) < the function's `Timeout` (template.yaml) < the Task's `TimeoutSeconds`.
   Otherwise a burst of throttling ends as a Lambda or Task timeout instead of an answer.
   (A step of several calls is bounded by its function's deadline instead: it answers
   CarveOut.NotReady 5 s before it, functions/src/runtime.rs `within_deadline`.)
2. Every Task retries what the platform raises for a transient failure, a Lambda timeout
   included (`Sandbox.Timedout`; `Lambda.Unknown` on older runtimes): every step is
   idempotent, so trying again is safe, and not retrying turns a slow call into a rollback.
3. Every error name in a Retry or Catch is one the code raises (the contract) or one the
   platform raises (PLATFORM below, with its source): a misspelt name never matches.
4. A function that watches (reads again while it sleeps: a Retry-polled wait, an image
   look) holds its watch, then its last look's calls at their worst case, then the 5 s
   runtime::within_deadline keeps to answer (the contract's `watch`, from
   `Step::watch`). A Task polling through Retry (a first retrier on CarveOut.NotReady
   without jitter) must run a function the contract lists as watching.

Usage: check_timeouts.py TEMPLATE ASL CONTRACT_JSON
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterator

import yaml

from statemachines import MAIN_DEFINITION, definition_path

# Names Step Functions and Lambda raise.
# https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
# https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
PLATFORM = {
    "States.ALL", "States.Timeout", "States.TaskFailed", "States.Permissions", "States.HeartbeatTimeout",
    "States.Runtime", "States.DataLimitExceeded", "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed", "States.ResultWriterFailed", "States.QueryEvaluationError",
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown",
    "Sandbox.Timedout",
    # StartExecution of a child refused for the account's quota of open executions
    # (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
    "StepFunctions.ExecutionLimitExceeded",
}
# A Task that runs a child execution of the template and waits for it.
CHILD = "arn:aws:states:::states:startExecution.sync:2"
# What every Task must retry (or cover with States.ALL).
TRANSIENT = {
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown",
    "Sandbox.Timedout", "States.Timeout",
}


class Loader(yaml.SafeLoader):
    pass


Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def states(machine: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine.get("States", {}).items():
        yield path + name, state
        for branch in state.get("Branches", []):
            yield from states(branch, f"{path}{name}/")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from states(state[key], f"{path}{name}/")


def function_timeouts(template: dict[str, Any]) -> dict[str, int]:
    fallback = (template.get("Globals", {}).get("Function", {}) or {}).get("Timeout", 3)
    return {
        rid: (r.get("Properties") or {}).get("Timeout", fallback)
        for rid, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def function_handlers(template: dict[str, Any]) -> dict[str, str]:
    return {rid: (r.get("Properties") or {}).get("Handler", "") for rid, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def check(template: dict[str, Any], asl: dict[str, Any], contract: dict[str, Any]) -> list[str]:
    problems = []
    sdk = contract["sdk"]["worstCaseCallSeconds"]
    raised = set(contract["errorNames"])
    timeouts = function_timeouts(template)
    handlers = function_handlers(template)
    watches = contract["watch"]
    for name, state in states(asl):
        for key in ("Retry", "Catch"):
            for i, rule in enumerate(state.get(key, [])):
                for error in rule["ErrorEquals"]:
                    if error not in raised and error not in PLATFORM:
                        problems.append(f"{name}.{key}[{i}]: {error!r} is raised by neither the code nor the platform")
        if state["Type"] != "Task":
            continue
        if state.get("Resource") == CHILD:
            machine = re.fullmatch(r"\$\{([A-Za-z0-9]+)Arn\}", state.get("Parameters", {}).get("StateMachineArn", ""))
            if not machine or template["Resources"].get(machine.group(1), {}).get("Type") != "AWS::Serverless::StateMachine":
                problems.append(f"{name}: runs no state machine of the template")
            if "StepFunctions.ExecutionLimitExceeded" not in {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}:
                problems.append(f"{name}: does not retry StepFunctions.ExecutionLimitExceeded")
            continue
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)FunctionArn\}", state.get("Resource", ""))
        if not match:
            problems.append(f"{name}: Resource {state.get('Resource')!r} is not a function of the template")
            continue
        function = match.group(1) + "Function"
        if function not in timeouts:
            problems.append(f"{name}: no {function} in the template")
            continue
        timeout, task = timeouts[function], state.get("TimeoutSeconds", 60)
        if not sdk < timeout:
            problems.append(f"{name}: {function} Timeout {timeout} s is not above one SDK call's worst case ({sdk} s)")
        # A watching step: its watch, its last look's calls, 5 s to answer (rule 4).
        watch = watches.get(handlers[function])
        if watch and not watch["seconds"] + watch["calls"] * sdk + 5 <= timeout:
            problems.append(f"{name}: {function} Timeout {timeout} s is below its watch ({watch['seconds']} s), "
                            f"{watch['calls']} call(s) at their worst case ({sdk} s each) and 5 s to answer")
        poll = (state.get("Retry") or [{}])[0]
        # A poll a minute apart or more is a slow wait on purpose (a vended account): nothing to watch.
        fast = poll.get("IntervalSeconds", 1) < 60
        if poll.get("ErrorEquals") == ["CarveOut.NotReady"] and poll.get("JitterStrategy") == "NONE" and fast \
                and not watch:
            problems.append(f"{name}: polls through Retry but {handlers[function]!r} publishes no watch "
                            "(Step::watch): a young wait would cost a transition every few seconds")
        if not timeout < task:
            problems.append(f"{name}: TimeoutSeconds {task} s is not above {function}'s Timeout ({timeout} s)")
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        if "States.ALL" not in retried and not TRANSIENT <= retried:
            missing = ", ".join(sorted(TRANSIENT - retried))
            problems.append(f"{name}: does not retry {missing} (every step is idempotent: retry transient failures)")
    return problems


def main(template_path: str, asl_path: str, contract_path: str) -> int:
    """`asl_path` is the migration's definition; the child executions' definitions (every
    other state machine of the template) are checked too."""
    template = yaml.load(open(template_path, encoding="utf-8"), Loader=Loader)
    contract = json.load(open(contract_path, encoding="utf-8"))
    paths = [asl_path] + [definition_path(template_path, r["Properties"]["DefinitionUri"], asl_path)
                          for r in template["Resources"].values()
                          if r["Type"] == "AWS::Serverless::StateMachine"
                          and r["Properties"].get("DefinitionUri") != MAIN_DEFINITION]
    problems = []
    for path in paths:
        problems += [f"{path}: {p}" for p in check(template, json.load(open(path, encoding="utf-8")), contract)]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
