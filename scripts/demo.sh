#!/usr/bin/env bash
# The demo: emulator + the seed's topology + the whole migration of the "hp" instance,
# through the real state machine and the real step binaries, with live progress.
# Resources take their time as on AWS (counted in polls), so the demo shows real polling.
source "$(dirname "$0")/demo-env.sh" '{
  "imagePendingPolls": 4, "peeringAcceptNotFound": 1, "peeringProvisioningPolls": 2,
  "shareAssociatingPolls": 1, "instancePendingPolls": 2, "targetInitialPolls": 3}'

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
