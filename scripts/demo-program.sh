#!/usr/bin/env bash
# The program demo (docs/program.md): emulator + the seed's topology + five new accounts,
# and the program that moves its five services (hp, api, admin, batch, mail), each into its
# own account, two at a time, through the real program and migration state machines and
# the real step binaries, with live progress per service and the program report.
# Resources take their time as on AWS (counted in polls), so the demo shows real polling.
source "$(dirname "$0")/demo-env.sh" '{
  "imagePendingPolls": 2, "peeringAcceptNotFound": 1, "peeringProvisioningPolls": 1,
  "instancePendingPolls": 1, "targetInitialPolls": 2}'

echo "== seeding the emulator: network account 111111111111 (ALB, 5 services), one new account per service"
PYTHONPATH=emulator .venv/bin/python -m carveout_emulator.seed_program --endpoint "$url" --out .emulator/demo-program.json
echo "== the program's Preflight (read-only): every service, and the limits they share"
"$bin/carveout" program plan --program .emulator/demo-program.json --endpoint "$url"
"$bin/carveout" program plan --program .emulator/demo-program.json --endpoint "$url" --json \
  > .emulator/demo-program-plan.json
echo "== running the program state machine (statemachine/program.asl.json) locally: two services at a time"
"$bin/carveout" program local --program .emulator/demo-program.json --endpoint "$url" \
  > .emulator/demo-program-output.json
echo "== program report: .emulator/demo-program-output.json"
echo "== checking every service with independent describe calls"
PYTHONPATH=emulator .venv/bin/python -m carveout_emulator.verify --endpoint "$url" \
  --program-plan .emulator/demo-program-plan.json
