#!/usr/bin/env bash
# Installs, idempotently, everything carveout needs on a fresh machine: the Python
# virtualenv with the pinned emulator and checkers, the npm packages (Node 22 included),
# and the Rust components. Re-running it only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
want=$(stamp emulator/requirements.txt)
if [ "$(cat .venv/.carveout-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages (emulator/requirements.txt)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r emulator/requirements.txt
  echo "$want" > .venv/.carveout-stamp
fi

# checkov has its own venv: its pins would fight cfn-lint's and SAM's.
want=$(stamp tools/checkov-requirements.txt)
if [ "$(cat .venv-checkov/.carveout-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing checkov (tools/checkov-requirements.txt)"
  [ -x .venv-checkov/bin/python ] || python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r tools/checkov-requirements.txt
  echo "$want" > .venv-checkov/.carveout-stamp
fi

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
