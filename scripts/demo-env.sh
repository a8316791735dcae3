# Sourced by the demos (scripts/demo.sh, scripts/demo-program.sh): the emulator on
# EMULATOR_PORT (default 5000), started here unless already running and then stopped on
# exit, reset, with resources taking `$1` (JSON settings: how many polls each waits) as on
# AWS, so the demo shows real polling. Sets root, url and bin (the debug binaries).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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
curl -sf -X POST "$url/_carveout/config" -H 'Content-Type: application/json' -d "$1" >/dev/null
