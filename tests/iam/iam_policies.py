"""The policies the IAM evaluation uses, read from the templates and the docs themselves.

CloudFormation intrinsics are resolved by a small resolver with fixed parameter values, so
what is evaluated is exactly what `templates/member-role.yaml`, `template.yaml` and
`docs/deploy.md` say.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ORG_ID = "o-carveout1234"
WORKFLOW_ACCOUNT = "123456789012"
# The seed's network/source and target accounts, and the program's other target accounts
# (carveout_emulator.seed_program: one per service).
ORG_ACCOUNTS = frozenset({"111111111111", "222222222222", "333333333333", "444444444444", "555555555555",
                          "666666666666", WORKFLOW_ACCOUNT})
REGION = "ap-northeast-1"
ROLE_NAME = "CarveOutExecutionRole"
ROLE_PATH = "/carveout/"
STATE_MACHINE = "carveout-migrations"
# Stand-in for the role of the function that made a recorded sts:AssumeRole: every step
# function has the same AssumeMemberRolePolicy, under FunctionRolePath.
FUNCTION_ROLE = f"arn:aws:iam::{WORKFLOW_ACCOUNT}:role/carveout/PreflightFunction-abc"


class Tagged:
    """A CloudFormation intrinsic read from YAML (`!Sub`, `!Ref`, ...)."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


def _loader() -> type:
    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
        if isinstance(node, yaml.ScalarNode):
            return Tagged(suffix, loader.construct_scalar(node))
        if isinstance(node, yaml.SequenceNode):
            return Tagged(suffix, loader.construct_sequence(node, deep=True))
        return Tagged(suffix, loader.construct_mapping(node, deep=True))

    Loader.add_multi_constructor("!", construct)
    return Loader


def load_template(path: Path) -> dict[str, Any]:
    """A template with its intrinsics (a fresh copy: callers may mutate it)."""
    return copy.deepcopy(_parsed(path))


@functools.lru_cache(maxsize=None)
def _parsed(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())  # noqa: S506 - SafeLoader subclass


_NO_VALUE = object()


@dataclass
class Resolver:
    """Resolves !Sub, !Ref, !GetAtt, !If, !Not, !Equals with fixed parameters and pseudo parameters."""

    template: dict[str, Any]
    account: str
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": self.account, "AWS::Region": REGION,
                  "AWS::StackName": "carveout", "AWS::NoValue": _NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        declared = self.template.get("Parameters", {}).get(name)
        if declared is not None and "Default" in declared:
            return str(declared["Default"])
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"cannot resolve !Ref {name}: give it a fixed value")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def sub(self, text: str, extra: dict[str, Any]) -> str:
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(extra[name]) if name in extra else str(self.value(name))

        return re.sub(r"\$\{([^}!]+)\}", repl, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, Tagged):
            return self._intrinsic(node)
        if isinstance(node, dict):
            if len(node) == 1 and next(iter(node)).startswith("Fn::") or "Ref" in node and len(node) == 1:
                key = next(iter(node))
                return self._intrinsic(Tagged(key.replace("Fn::", ""), node[key]))
            out = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.resolve(i) for i in node) if v is not _NO_VALUE]
        return node

    def _intrinsic(self, node: Tagged) -> Any:
        tag, value = node.tag, node.value
        if tag == "Ref":
            return self.value(value)
        if tag == "Sub":
            if isinstance(value, list):
                return self.sub(value[0], {k: self.resolve(v) for k, v in value[1].items()})
            return self.sub(value, {})
        if tag == "GetAtt":
            name = value if isinstance(value, str) else ".".join(value)
            return self.value(name)
        if tag == "If":
            cond, yes, no = value
            return self.resolve(yes if self.condition(cond) else no)
        if tag == "Not":
            return not self.resolve(value[0])
        if tag == "Equals":
            left, right = (self.resolve(v) for v in value)
            return left == right
        if tag == "Condition":
            return self.condition(value)
        raise KeyError(f"cannot resolve intrinsic !{tag}")


def member_resolver(account: str, operator: str = "") -> Resolver:
    template = load_template(ROOT / "templates/member-role.yaml")
    return Resolver(template, account, {"WorkflowAccountId": WORKFLOW_ACCOUNT, "OrganizationId": ORG_ID,
                                        "RoleName": ROLE_NAME, "WorkflowRolePath": ROLE_PATH,
                                        "OperatorRoleName": operator})


def member_role(account: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The member role in `account`: {"identity": [{name, policy}], "trust": policy}."""
    if template is None:
        return _member_role(account)
    return _resolve_member_role(account, template)


@functools.lru_cache(maxsize=None)
def _member_role(account: str) -> dict[str, Any]:
    return _resolve_member_role(account, None)


def _resolve_member_role(account: str, template: dict[str, Any] | None) -> dict[str, Any]:
    resolver = member_resolver(account)
    if template is not None:
        resolver.template = template
    role = resolver.template["Resources"]["ExecutionRole"]["Properties"]
    identity = [{"name": p["PolicyName"], "policy": resolver.resolve(p["PolicyDocument"])}
                for p in role["Policies"]]
    return {"identity": identity, "trust": resolver.resolve(role["AssumeRolePolicyDocument"])}


def workflow_resolver() -> Resolver:
    template = load_template(ROOT / "template.yaml")
    # The state machine's name is chosen at deploy time: the one tests/test_vending.py creates and
    # the local runner names its executions after (statemachine/local/run.mjs).
    refs = {"MigrationStateMachine": f"arn:aws:states:{REGION}:{WORKFLOW_ACCOUNT}:stateMachine:{STATE_MACHINE}",
            "MigrationStateMachine.Name": STATE_MACHINE,
            "NotificationTopic": f"arn:aws:sns:{REGION}:{WORKFLOW_ACCOUNT}:carveout-notifications"}
    return Resolver(template, WORKFLOW_ACCOUNT, {"OrganizationId": ORG_ID, "MemberRoleName": ROLE_NAME,
                                                 "FunctionRolePath": ROLE_PATH}, refs)


@functools.lru_cache(maxsize=None)
def assume_member_role_policy() -> dict[str, Any]:
    """template.yaml's AssumeMemberRolePolicy: the identity policy of every function role."""
    resolver = workflow_resolver()
    return resolver.resolve(resolver.template["Resources"]["AssumeMemberRolePolicy"]["Properties"]["PolicyDocument"])


@functools.lru_cache(maxsize=None)
def vending_policy() -> dict[str, Any]:
    """The vending function's inline policy (SSM plans, start/describe executions, SNS)."""
    resolver = workflow_resolver()
    props = resolver.template["Resources"]["StartVendedMigrationsFunction"]["Properties"]
    statements = [s for p in props["Policies"] if isinstance(p, dict) for s in p["Statement"]]
    return {"Version": "2012-10-17", "Statement": resolver.resolve(statements)}


@functools.lru_cache(maxsize=None)
def recover_policy() -> dict[str, Any]:
    """The watcher's inline policy (GetExecutionHistory of the machine's executions, SNS)."""
    resolver = workflow_resolver()
    props = resolver.template["Resources"]["RecoverExecutionFunction"]["Properties"]
    statements = [s for p in props["Policies"] if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    return {"Version": "2012-10-17", "Statement": resolver.resolve(statements)}


@functools.lru_cache(maxsize=None)
def key_policy_statements_from_docs() -> list[dict[str, Any]]:
    """The cross-account key-policy statements docs/deploy.md tells operators to add (one
    statement or a list of them)."""
    text = (ROOT / "docs/deploy.md").read_text(encoding="utf-8")
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        if '"kms:' in block and '"Principal"' in block:
            parsed = json.loads(block)
            return parsed if isinstance(parsed, list) else [parsed]
    raise AssertionError("docs/deploy.md has no key-policy statement block")


def key_policy(owner: str) -> dict[str, Any]:
    """Key policy of a customer managed key in `owner`: the default statement (the account's
    IAM policies decide for its own principals) plus docs/deploy.md's cross-account statement.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""
    default = {"Sid": "EnableIamPolicies", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"},
               "Action": "kms:*", "Resource": "*"}
    return {"Version": "2012-10-17", "Statement": [default, *key_policy_statements_from_docs()]}


def org_of(account: str) -> str | None:
    return ORG_ID if account in ORG_ACCOUNTS else None
