"""Helpers for the tests that run against a started emulator (scripts/test.sh starts it)."""

from __future__ import annotations

import json
from collections import Counter
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from .seed import REGION, every, session  # noqa: F401 (every: the tests take it from here)

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = f"http://127.0.0.1:{os.environ.get('EMULATOR_PORT', '5077')}"
BIN_DIR = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/carveout/target")) / "debug"

# Phases the end-to-end runs use: every poll loop really polls.
POLLING = {
    "imagePendingPolls": 3, "peeringAcceptNotFound": 1, "peeringProvisioningPolls": 2,
    "shareAssociatingPolls": 1, "instancePendingPolls": 1, "targetInitialPolls": 2,
}


def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(ENDPOINT + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def reset(**phases: Any) -> None:
    post("/moto-api/reset")
    if phases:
        post("/_carveout/config", phases)


def configure(**settings: Any) -> dict[str, Any]:
    return post("/_carveout/config", settings)


def client(service: str, account: str, region: str = REGION, config: Any = None) -> Any:
    return session(ENDPOINT, account, region).client(service, endpoint_url=ENDPOINT, config=config)


def carveout_client(service: str, account: str, region: str = REGION, name: str = "carveout-test") -> Any:
    """A client of one of carveout's own sessions (named `carveout-…`): the caller the
    emulator holds to eventual consistency, PendingVerification and vCPU quotas (test setup,
    `client`, is not)."""
    return session(ENDPOINT, account, region, name=name).client(service, endpoint_url=ENDPOINT)


def base_client(service: str, region: str = REGION) -> Any:
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def step(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invokes one real step (handler `name` of carveout-lambda) the way the local runner
    does: JSON in, JSON out."""
    env = dict(os.environ, AWS_ENDPOINT_URL=ENDPOINT, AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_REGION=payload.get("plan", payload).get("region", REGION),
               AWS_EC2_METADATA_DISABLED="true", RUST_LOG="warn",
               # As the local runner: a look's watch inside its invocation at 1 % speed.
               CARVEOUT_WATCH_TIME_SCALE="0.01",
               # The recorder (CARVEOUT_RECORD_REQUESTS) names the step from the user agent.
               AWS_SDK_UA_APP_ID=f"carveout-step-{name}")
    proc = subprocess.run([str(BIN_DIR / "carveout-lambda"), name], input=json.dumps(payload), capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_local(plan: dict[str, Any], tmp: Path) -> tuple[int, dict[str, Any], list[dict[str, Any]], str]:
    """`carveout local` on a plan: (exit code, stdout JSON, event log, stderr)."""
    plan_file, events_file = tmp / "plan.json", tmp / "events.jsonl"
    plan_file.write_text(json.dumps(plan))
    proc = subprocess.run(
        [str(BIN_DIR / "carveout"), "local", "--plan", str(plan_file), "--endpoint", ENDPOINT,
         "--events", str(events_file)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
        env=dict(os.environ, AWS_SDK_UA_APP_ID="carveout-local"),
    )
    events = [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    return proc.returncode, json.loads(proc.stdout or "null"), events, proc.stderr


def planned(plan: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """`carveout plan --json` on a plan: {migrationId, checks, changes, states}."""
    plan_file = tmp / "planned.json"
    plan_file.write_text(json.dumps(plan))
    proc = subprocess.run(
        [str(BIN_DIR / "carveout"), "plan", "--plan", str(plan_file), "--endpoint", ENDPOINT, "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


# Tasks polled by a Wait loop of the ASL (Task → Choice → Wait SecondsPath → Task).
PREDICTED_POLLS = {"CheckVolumesInitialized", "WaitImageAvailable", "WaitCopyAvailable"}


def run_as_planned(plan: dict[str, Any], tmp: Path) -> tuple[int, dict[str, Any], list[dict[str, Any]], str]:
    """`carveout plan --json`, then `carveout local` (as [`run_local`]): a successful run must
    enter exactly the Task states the plan listed, each as often (parallel branches
    interleave, so they are compared as a multiset), and write a history within the
    plan's bound (`history.least` ≤ events ≤ `history.most`). That keeps `carveout plan`'s
    list of changes, and Preflight's history check, true to the workflow."""
    said = planned(plan, tmp)
    expected = said["states"]
    code, out, events, err = run_local(plan, tmp)
    if code == 0:
        entered = Counter(e["state"] for e in events if e.get("event") == "StateEntered" and e.get("type") == "Task")
        # A predicted poll enters its Task once per look: its looks are polls, as retries are.
        for looked in PREDICTED_POLLS & set(entered):
            assert entered[looked] >= Counter(expected)[looked], (looked, entered, expected)
            entered[looked] = Counter(expected)[looked]
        assert entered == Counter(expected), f"entered {entered}, planned {expected}"
        # The runner counts history events as the service does; Preflight's bound holds.
        counted, bound = events[-1]["historyEvents"], said["history"]
        assert bound["least"] <= counted <= bound["most"], f"{counted} history events outside {bound}"
        # Each child execution (an instance's image or launch) keeps its own, within its bound.
        children = [e["historyEvents"] for e in events if e.get("event") == "ChildSucceeded"]
        assert children and max(children) <= bound["childMost"], (children, bound)
    return code, out, events, err


def looks(events: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    """The answers of a predicted poll's looks (`$.image.look`, `$.volumeGate`), in order."""
    out = []
    for e in events:
        if e.get("event") == "StateExited" and e.get("state") == state:
            output = e.get("output") or {}
            out.append(output.get("volumeGate") or (output.get("image") or {}).get("look") or {})
    return out


def polls(events: list[dict[str, Any]], state: str) -> int:
    """Polls of a state: its retries after CarveOut.NotReady (one transition each)."""
    return sum(1 for e in events if e["event"] == "StateRetried" and e.get("state") == state)


def migrations_running_at_once(events: list[dict[str, Any]]) -> int:
    """The most services' migrations running side by side in a program (its RunMigration
    children; a grandchild's events carry `›` in their label)."""
    running, most = set(), 0
    for e in events:
        if e.get("state") != "RunMigration" or "›" in e.get("execution", ""):
            continue
        if e["event"] == "ChildStarted":
            running.add(e["migrationId"])
            most = max(most, len(running))
        elif e["event"] in ("ChildSucceeded", "ChildFailed"):
            running.discard(e["migrationId"])
    return most


@pytest.fixture(autouse=True, scope="session")
def emulator_running() -> None:
    """Every emulator test needs the server that scripts/test.sh starts."""
    try:
        post("/_carveout/config")
    except OSError as err:  # a setup problem, not a test result
        pytest.exit(f"the emulator does not answer on {ENDPOINT} ({err}); run tests with `make test`", 2)


def cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """The carveout command, against the emulator's region and endpoint where it applies."""
    env = dict(os.environ, AWS_REGION=REGION, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_SDK_UA_APP_ID="carveout-cli")
    env.pop("CARVEOUT_STATE_MACHINE_ARN", None)
    return subprocess.run([str(BIN_DIR / "carveout"), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT, check=False)


def sfn_machine(name: str, definition: dict[str, Any]) -> str:
    sfn = base_client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                    roleArn="arn:aws:iam::123456789012:role/carveout-sfn")["stateMachineArn"]


def real_definition() -> dict[str, Any]:
    """The ASL file with its placeholders substituted, as CloudFormation would."""
    text = (ROOT / "statemachine/carveout.asl.json").read_text()
    return json.loads(text.replace("${", "arn:aws:lambda:ap-northeast-1:123456789012:function:").replace("FunctionArn}", ""))
