#!/usr/bin/env bash
# Installs, idempotently, everything carveout needs on a fresh machine: the Python
# virtualenv with the pinned emulator and checkers, the npm packages (Node 22 included),
# and the Rust components. Re-running it only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/venv.sh
ensure_venv .venv emulator/requirements.txt setup
# checkov has its own venv: its pins would fight cfn-lint's and SAM's.
ensure_venv .venv-checkov tools/checkov-requirements.txt setup
# The aws CLI, for the docs' commands (docs/operating.md) that tests/test_docs_commands.py
# runs as written; its own venv because awscli pins botocore exactly.
ensure_venv .venv-awscli tools/awscli-requirements.txt setup

want=$(stamp package.json package-lock.json)
if [ "$(cat node_modules/.carveout-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.carveout-stamp
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "setup: adding rustfmt and clippy"
  rustup component add rustfmt clippy
fi
command -v curl >/dev/null || { echo "setup: curl is needed" >&2; exit 1; }
echo "setup: ok"
