"""Fails when an ASL placeholder has no DefinitionSubstitutions entry, or an entry is
unused. cfn-lint and `sam validate` do not read the DefinitionUri file, so nothing else
would notice (both checked on this project: neither reports an unresolved placeholder)."""

import re
import sys

import yaml

from statemachines import definition_path


class Loader(yaml.SafeLoader):
    pass


# CloudFormation short forms (!Ref, !GetAtt, !Sub…) as plain values.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main(template_path: str, asl_path: str) -> int:
    """`asl_path` stands for the migration's definition; the child executions' definitions
    are read from their own DefinitionUri (next to the template)."""
    template = yaml.load(open(template_path, encoding="utf-8"), Loader=Loader)
    problems = []
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    for machine in machines:
        uri = machine["Properties"].get("DefinitionUri")
        path = definition_path(template_path, uri, asl_path)
        asl = open(path, encoding="utf-8").read()
        placeholders = set(re.findall(r"\$\{([^}]+)\}", asl))
        subs = set((machine["Properties"].get("DefinitionSubstitutions") or {}).keys())
        problems += [f"{uri}: placeholder ${{{p}}} has no DefinitionSubstitutions entry" for p in sorted(placeholders - subs)]
        problems += [f"DefinitionSubstitutions entry {s} is not used in {path}" for s in sorted(subs - placeholders)]
    if not machines:
        problems.append("no AWS::Serverless::StateMachine in the template")
    for p in problems:
        print(f"{template_path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
