"""Fails when an ASL placeholder has no DefinitionSubstitutions entry, or an entry is
unused. cfn-lint and `sam validate` do not read the DefinitionUri file, so nothing else
would notice (both checked on this project: neither reports an unresolved placeholder)."""

import re
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


# CloudFormation short forms (!Ref, !GetAtt, !Sub…) as plain values.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main(template_path: str, asl_path: str) -> int:
    template = yaml.load(open(template_path, encoding="utf-8"), Loader=Loader)
    asl = open(asl_path, encoding="utf-8").read()
    placeholders = set(re.findall(r"\$\{([^}]+)\}", asl))
    problems = []
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    for machine in machines:
        subs = set((machine["Properties"].get("DefinitionSubstitutions") or {}).keys())
        problems += [f"placeholder ${{{p}}} has no DefinitionSubstitutions entry" for p in sorted(placeholders - subs)]
        problems += [f"DefinitionSubstitutions entry {s} is not used in {asl_path}" for s in sorted(subs - placeholders)]
    if not machines:
        problems.append("no AWS::Serverless::StateMachine in the template")
    for p in problems:
        print(f"{template_path}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
