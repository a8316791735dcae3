#!/usr/bin/env python3
"""Checks that the IAM policies allow exactly the AWS calls the code makes.

The calls are read from the Rust sources, not listed by hand: every `.ec2`, `.elb`,
`.ram`, `.kms`, `.quotas`, `.sts`, `.ssm`, `.sfn` or `.sns` client followed by an operation of that SDK
crate (the crate's own operation list, from the vendored sources in Cargo's registry)
is a call. An operation name that appears on any other receiver fails the check, so a
call cannot slip past it.

Where the calls land:
  * EC2, ELBv2, RAM, KMS: through the member-account role (templates/member-role.yaml);
  * STS AssumeRole: from every step function's own role (template.yaml), but the
    program's pure functions (no AWS call: PURE_FUNCTIONS);
  * SSM, Step Functions, SNS in vending.rs: the StartVendedMigrations function's role;
  * Step Functions, SNS in recover/: the RecoverExecution function's (the watcher's) role.

Every called action must be allowed, and the member role may allow nothing that is not
called, apart from the few actions AWS checks implicitly (listed below with reasons).
Exit code 1 with one line per problem.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Receiver field name in the code -> (crate, IAM service prefix).
CLIENTS = {
    "ec2": ("aws-sdk-ec2", "ec2"),
    "elb": ("aws-sdk-elasticloadbalancingv2", "elasticloadbalancing"),
    "ram": ("aws-sdk-ram", "ram"),
    "sts": ("aws-sdk-sts", "sts"),
    "ssm": ("aws-sdk-ssm", "ssm"),
    "sfn": ("aws-sdk-sfn", "states"),
    "sns": ("aws-sdk-sns", "sns"),
    "kms": ("aws-sdk-kms", "kms"),
    "quotas": ("aws-sdk-servicequotas", "servicequotas"),
    "iam": ("aws-sdk-iam", "iam"),
    "route53": ("aws-sdk-route53", "route53"),
}

# Actions AWS authorizes on top of the API call itself; allowed in the member role
# although no code names them.
IMPLIED = {
    "ec2:CreateTags": "tag-on-create: RunInstances, CreateImage, CreateSecurityGroup and "
    "CreateVpcPeeringConnection with TagSpecifications are also authorized as ec2:CreateTags",
    "elasticloadbalancing:AddTags": "tag-on-create: CreateTargetGroup and CreateRule with Tags "
    "are also authorized as elasticloadbalancing:AddTags",
    **{
        f"kms:{a}": "EBS uses the key with the caller's permissions: CopyImage re-encrypting "
        "(source) and RunInstances from encrypted snapshots (target)"
        for a in ("CreateGrant", "Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo")
    },
    "iam:PassRole": "RunInstances with an instance profile (options.instanceProfiles) passes "
    "the profile's role to EC2",
}

STEP_FUNCTION_SOURCES = {"accounts.rs"}
VENDING_FUNCTION = "StartVendedMigrationsFunction"
# The program's pure functions (program/next.rs, program/outcome.rs): no AWS call, no grant.
PURE_FUNCTIONS = {"ProgramWaveFunction", "ProgramOutcomeFunction"}
RECOVER_FUNCTION = "RecoverExecutionFunction"


def locked_versions(lock: pathlib.Path) -> dict[str, str]:
    text = lock.read_text()
    return dict(re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', text))


def crate_operations(crate: str, version: str) -> dict[str, str]:
    """The crate's operations: snake-case method -> the API's own name (the operation
    struct, `GetAWSDefaultServiceQuota` for `get_aws_default_service_quota`)."""
    home = pathlib.Path.home() / ".cargo" / "registry" / "src"
    for index in sorted(home.glob("*")):
        ops = index / f"{crate}-{version}" / "src" / "operation"
        if ops.is_dir():
            return {p.name: api_name(ops, p.name) for p in ops.iterdir() if p.is_dir()}
    sys.exit(f"iam-actions: sources of {crate} {version} not found under {home} (run cargo fetch)")


def api_name(ops: pathlib.Path, op: str) -> str:
    module = ops / f"{op}.rs"
    found = re.search(r"^pub struct (\w+);", module.read_text(), re.M) if module.is_file() else None
    return found.group(1) if found else "".join(part.capitalize() for part in op.split("_"))


def without_tests(text: str) -> str:
    # Unit tests (mocked clients) sit at the end of a file behind #[cfg(test)].
    cut = re.search(r"^#\[cfg\(test\)\]", text, re.M)
    return text[: cut.start()] if cut else text


def calls_in(root: pathlib.Path, sources: list[pathlib.Path], operations: dict[str, dict[str, str]]) -> tuple[dict[str, set[str]], list[str]]:
    """Action -> files calling it, and problems (operation names on unknown receivers)."""
    every_op = set().union(*operations.values())
    found: dict[str, set[str]] = {}
    problems = []
    call = re.compile(r"\.\s*(" + "|".join(CLIENTS) + r")\s*\.\s*([a-z][a-z0-9_]*)\s*\(")
    any_op = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(")
    for path in sources:
        text = without_tests(path.read_text())
        seen_at = set()
        for m in call.finditer(text):
            client, op = m.group(1), m.group(2)
            crate, prefix = CLIENTS[client]
            if op not in operations[client]:
                continue
            found.setdefault(f"{prefix}:{operations[client][op]}", set()).add(path.relative_to(root).as_posix())
            seen_at.add(m.start(2))
        for m in any_op.finditer(text):
            op = m.group(1)
            if op in every_op and m.start(1) not in seen_at and op not in NOT_CALLS:
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{path.relative_to(root)}:{line}: `{op}` looks like an AWS call on a receiver this check does not know")
    return found, problems


# Names that are both an SDK operation and an ordinary method used in the code.
NOT_CALLS = {
    "set_ip_address_type",  # CreateTargetGroup's builder setter, not elbv2:SetIpAddressType
}


def statements(doc) -> list[dict]:
    """Every IAM statement in a template (inline policies, SAM policy templates)."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            if "Effect" in node and ("Action" in node or "NotAction" in node):
                out.append(node)
            for k, v in node.items():
                if k != "AssumeRolePolicyDocument":  # trust, not permissions
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return out


def actions_of(stmts: list[dict]) -> set[str]:
    acts = set()
    for s in stmts:
        if s.get("Effect") != "Allow":
            continue
        a = s.get("Action", [])
        acts.update([a] if isinstance(a, str) else a)
    return acts


def allowed(action: str, granted: set[str]) -> bool:
    for g in granted:
        if g == action or (g.endswith("*") and action.startswith(g[:-1])):
            return True
    return False


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _tag)


def load(path: pathlib.Path):
    return yaml.load(path.read_text(), Loader=CfnLoader)


def grant_problems(who: str, needed: set[str], granted: set[str], found: dict[str, set[str]],
                   implied: dict[str, str]) -> list[str]:
    """Both ways: an action the code calls that `who` is not granted, and a grant that no
    code calls (a wildcard, or an action neither called nor in `implied`, the actions AWS
    services use on the caller's behalf, each with its reason)."""
    problems = [f"{who}: the code calls {a} ({', '.join(sorted(found[a]))}) but its role does not allow it"
                for a in sorted(needed) if not allowed(a, granted)]
    for g in sorted(granted):
        if "*" in g:
            problems.append(f"{who}: wildcard action {g}; list the actions the code calls")
        elif g not in needed and g not in implied:
            problems.append(f"{who}: allows {g}, which no code calls (remove it, or explain it in IMPLIED)")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--template", default=str(ROOT / "template.yaml"))
    ap.add_argument("--member-role", default=str(ROOT / "templates" / "member-role.yaml"))
    ap.add_argument("--sources", default=str(ROOT / "functions" / "src"))
    ap.add_argument("--json", action="store_true", help="print the derived calls as JSON")
    args = ap.parse_args()

    versions = locked_versions(ROOT / "Cargo.lock")
    operations = {c: crate_operations(crate, versions[crate]) for c, (crate, _) in CLIENTS.items()}
    sources = sorted(p for p in pathlib.Path(args.sources).rglob("*.rs") if p.name != "test_support.rs")
    found, problems = calls_in(pathlib.Path(args.sources), sources, operations)

    member_calls = {a for a in found if a.split(":")[0] in ("ec2", "elasticloadbalancing", "ram", "kms", "servicequotas", "iam", "route53")}
    step_calls = {a for a, files in found.items() if files & STEP_FUNCTION_SOURCES}
    vending_calls = {a for a, files in found.items() if "vending.rs" in files}
    # The watcher reads the stopped execution with its own role and restores through the
    # member role (the Rollback step's calls), after assuming it as every step does.
    recover_calls = {a for a, files in found.items() if any(f.startswith("recover/") for f in files)} | step_calls
    if args.json:
        print(json.dumps({"member_role": sorted(member_calls), "step_functions": sorted(step_calls),
                          "vending_function": sorted(vending_calls), "recover_function": sorted(recover_calls)},
                         indent=2))

    member = actions_of(statements(load(pathlib.Path(args.member_role))))
    problems += grant_problems("member role", member_calls, member, found, IMPLIED)

    template = load(pathlib.Path(args.template))
    functions = {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::Function"}
    if not functions:
        problems.append("template: no functions found")
    for name, fn in functions.items():
        policies = fn["Properties"].get("Policies", [])
        # `!Ref SomeManagedPolicy` entries: the managed policy's statements.
        refs = [p["Ref"] for p in policies if isinstance(p, dict) and "Ref" in p]
        policies = [p for p in policies if not (isinstance(p, dict) and "Ref" in p)]
        policies += [template["Resources"][r]["Properties"]["PolicyDocument"] for r in refs]
        granted = actions_of(statements(policies))
        needed = {VENDING_FUNCTION: vending_calls, RECOVER_FUNCTION: recover_calls}.get(name, step_calls)
        if name in PURE_FUNCTIONS:
            needed = set()
        problems += grant_problems(name, needed, granted, found, {})

    for p in problems:
        print(f"iam-actions: {p}", file=sys.stderr)
    if not problems:
        print(f"iam-actions: ok ({len(member_calls)} member-role actions, {len(step_calls)} step, "
              f"{len(vending_calls)} vending, from {len(sources)} source files)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
