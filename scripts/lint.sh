#!/usr/bin/env bash
# Static checks: Rust style and lints, the ASL file, the SAM template, and the link
# between them (every ${…} placeholder of the ASL has a DefinitionSubstitutions entry).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

echo "lint: cargo fmt --check"
cargo fmt --all -- --check
echo "lint: cargo clippy -D warnings"
cargo clippy --workspace --all-targets -j2 --quiet -- -D warnings
echo "lint: placeholders of the ASL vs DefinitionSubstitutions"
.venv/bin/python scripts/check_substitutions.py template.yaml statemachine/carveout.asl.json
echo "lint: asl-validator"
sed -E 's/\$\{([A-Za-z0-9]+)FunctionArn\}/arn:aws:lambda:us-east-1:123456789012:function:\1/g' \
  statemachine/carveout.asl.json > .emulator/asl-substituted.json
node_modules/.bin/asl-validator --json-path .emulator/asl-substituted.json
echo "lint: cfn-lint"
.venv/bin/cfn-lint template.yaml
echo "lint: sam validate"
.venv/bin/sam validate --template template.yaml >/dev/null
.venv/bin/sam validate --lint --template template.yaml >/dev/null
echo "lint: ok"
