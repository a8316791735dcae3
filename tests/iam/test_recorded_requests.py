"""Every request carveout's code made during the emulator test run, evaluated the way IAM
would on AWS (scripts/test.sh runs this after `pytest emulator/tests tests`, over the
recording the emulator wrote to CARVEOUT_RECORD_REQUESTS).

Protects: a request IAM would deny (a tag key, a condition key, an action or a resource
type the policies get wrong) fails here, naming the request and the statements that did
not match; a statement no recorded request uses is a dead grant unless
tests/iam/documented_grants.json says why it is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import iam_eval
from iam_policies import assume_member_role_policy, member_role, recover_policy, vending_policy

RECORDING = os.environ.get("CARVEOUT_RECORD_REQUESTS", "")
DOCUMENTED = json.loads((Path(__file__).parent / "documented_grants.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def evaluation() -> iam_eval.Evaluation:
    if not RECORDING:
        pytest.skip("no recording: scripts/test.sh sets CARVEOUT_RECORD_REQUESTS")
    path = Path(RECORDING)
    assert path.exists(), f"{path} was not written: did the emulator run with CARVEOUT_RECORD_REQUESTS?"
    result = iam_eval.evaluate(iam_eval.load_recording(path))
    print(f"\nIAM evaluation of {path}: {result.requests} distinct carveout requests, "
          f"{len(result.simulations)} simulations, {len(result.denied)} denied, "
          f"{len(dead_grants(result))} dead grants, {result.not_evaluated} requests not carveout's "
          f"(test setup, operator), {len(result.skipped_failed)} failed requests on missing resources")
    return result


def all_statements() -> dict[tuple[str, str], str]:
    """(policy, Sid) of every statement carveout grants, with where it is."""
    statements = {}
    for policy in member_role("111111111111")["identity"]:
        for statement in policy["policy"]["Statement"]:
            statements[(policy["name"], statement["Sid"])] = "templates/member-role.yaml"
    for name, document in (("AssumeMemberRolePolicy", assume_member_role_policy()), ("vending", vending_policy()),
                           ("recover", recover_policy())):
        for statement in document["Statement"]:
            statements[(name, statement["Sid"])] = "template.yaml"
    return statements


def dead_grants(result: iam_eval.Evaluation) -> list[str]:
    used = result.used_statements()
    return [f"{where}: {policy}/{sid}" for (policy, sid), where in sorted(all_statements().items())
            if (policy, sid) not in used and f"{policy}/{sid}" not in DOCUMENTED]


def test_recording_holds_carveout_requests(evaluation):
    assert evaluation.requests > 0 and evaluation.simulations


def test_every_request_is_representable(evaluation):
    assert not evaluation.unrepresentable, "\n".join(evaluation.unrepresentable)


def test_iam_allows_every_recorded_request(evaluation):
    denied = evaluation.denied
    assert not denied, f"{len(denied)} authorizations IAM would deny:\n" + "\n".join(
        iam_eval.explain_denial(s) for s in denied)


def test_no_dead_grants(evaluation):
    if os.environ.get("CARVEOUT_IAM_SUBSET"):
        pytest.skip("a subset of the tests ran (scripts/test.sh with arguments): grants may go unused")
    dead = dead_grants(evaluation)
    assert not dead, ("statements no recorded request uses (remove them, or list them with a reason in "
                      "tests/iam/documented_grants.json):\n" + "\n".join(dead))


def test_documented_grants_exist():
    """An allow-list entry for a statement that no longer exists is stale."""
    names = {f"{policy}/{sid}" for policy, sid in all_statements()}
    assert not set(DOCUMENTED) - names, sorted(set(DOCUMENTED) - names)
