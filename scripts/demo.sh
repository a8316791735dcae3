#!/usr/bin/env bash
# The demo: emulator + the seed's topology + the whole migration of the "hp" instance,
# through the real state machine and the real step binaries, with live progress.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${EMULATOR_PORT:-5000}
url="http://127.0.0.1:$port"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/carveout/target}/debug"
mkdir -p .emulator

started=no
if ! scripts/emulator.sh status >/dev/null 2>&1; then
  scripts/emulator.sh start
  started=yes
fi
cleanup() { if [ "$started" = yes ]; then scripts/emulator.sh stop >/dev/null; fi; }
trap cleanup EXIT

curl -sf -X POST "$url/moto-api/reset" >/dev/null
# Resources take their time as on AWS (counted in polls), so the demo shows real polling.
curl -sf -X POST "$url/_carveout/config" -H 'Content-Type: application/json' -d '{
  "imagePendingPolls": 4, "peeringAcceptNotFound": 1, "peeringProvisioningPolls": 2,
  "shareAssociatingPolls": 1, "instancePendingPolls": 2, "targetInitialPolls": 3}' >/dev/null

echo "== seeding the emulator: network account 111111111111 (ALB, 5 instances), service account 222222222222"
PYTHONPATH=emulator .venv/bin/python -m carveout_emulator.seed --endpoint "$url" --out .emulator/demo-plan.json
echo "== plan (.emulator/demo-plan.json):"
cat .emulator/demo-plan.json
echo "== running the state machine (statemachine/carveout.asl.json) locally"
"$bin/carveout" local --plan .emulator/demo-plan.json --endpoint "$url" > .emulator/demo-output.json
echo "== execution output: .emulator/demo-output.json"
echo "== checking the end state with independent describe calls"
PYTHONPATH=emulator .venv/bin/python -m carveout_emulator.verify --endpoint "$url" \
  --plan .emulator/demo-plan.json --output .emulator/demo-output.json
