#!/usr/bin/env bash
# Every test: Rust unit tests (aws-smithy-mocks), static checks, the emulator's patch
# tests, per-step integration tests and end-to-end runs of the real state machine on
# the emulator. The emulator runs on its own port, started and stopped here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/carveout/target}
# The tests' own emulator: a free port, so a running `make demo` or `make emulator` is left alone.
export EMULATOR_PORT=${TEST_EMULATOR_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
export PYTHONPATH="$root/emulator"
mkdir -p .emulator

echo "== unit tests (cargo test)"
cargo test --workspace --lib --bin carveout -j2

echo "== static checks (make lint)"
scripts/lint.sh

echo "== emulator, step and end-to-end tests (pytest)"
# The emulator records every request for the IAM evaluation below (tests/iam).
export CARVEOUT_RECORD_REQUESTS="$root/.emulator/requests-$EMULATOR_PORT.jsonl"
rm -f "$CARVEOUT_RECORD_REQUESTS"
scripts/emulator.sh start
trap 'scripts/emulator.sh stop >/dev/null' EXIT
.venv/bin/python -m pytest -q emulator/tests tests --ignore=tests/iam "$@"

echo "== IAM evaluation of every request carveout made above (tests/iam)"
# A subset of the tests above (arguments) leaves grants unused: no dead-grant verdict then.
[ $# -eq 0 ] || export CARVEOUT_IAM_SUBSET=1
.venv/bin/python -m pytest -q -s --noconftest tests/iam
