#!/usr/bin/env bash
# `make bench`: cold start (Rust vs Python/boto3), polling cost and latency from the ASL,
# cost of a migration, package sizes, scale runs with EC2 throttling, stop-source downtime. Writes
# bench/results/{results.md,results.json} and the parts beside them. See bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/carveout/target}
export PYTHONPATH="$root/emulator"
runs=${BENCH_RUNS:-15}
out=bench/results
mkdir -p "$out" .emulator

echo "== bench: release build of carveout-lambda (host) and the CLI"
cargo build --release -j2 -p carveout --bin carveout-lambda
cargo build -j2 -p carveout-cli
release="$CARGO_TARGET_DIR/release"
cli="$CARGO_TARGET_DIR/debug/carveout"

echo "== bench: arm64 packages (make package)"
scripts/package.sh

export EMULATOR_PORT=${BENCH_EMULATOR_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
url="http://127.0.0.1:$EMULATOR_PORT"
scripts/emulator.sh start
trap 'scripts/emulator.sh stop >/dev/null' EXIT

echo "== bench: capturing every Task's real input from a local run"
events=$(mktemp -d)
curl -sf -X POST "$url/moto-api/reset" >/dev/null
.venv/bin/python -m carveout_emulator.seed --endpoint "$url" --out "$events/plan.json" --migration-id bench-capture
CARVEOUT_CAPTURE_DIR="$events" "$cli" local --plan "$events/plan.json" --endpoint "$url" --bin-dir "$release" \
  > "$events/output.json"

echo "== bench: cold start ($runs runs per function)"
.venv/bin/python bench/coldstart.py --bin-dir "$release" --events "$events" --endpoint "$url" --runs "$runs" \
  --out "$out/coldstart.json"

echo "== bench: polling cost and latency"
poll_seconds=$(.venv/bin/python -c "import json; r=json.load(open('$out/coldstart.json'))['results']; \
print(round(sum(v['first_ms']['median'] for v in r.values() if v['language']=='rust')/1000/sum(1 for v in r.values() if v['language']=='rust'), 3))")
.venv/bin/python bench/polling.py --poll-seconds "$poll_seconds" --out "$out/polling.json" > /dev/null

echo "== bench: the image wait, Retry polling before and predicted looks now"
.venv/bin/python bench/looks.py --poll-seconds "$poll_seconds" --out "$out/looks.json" > /dev/null

echo "== bench: scale (1, 5, 20 instances; published and busy EC2 buckets)"
.venv/bin/python bench/scale.py --endpoint "$url" --cli "$cli" --bin-dir "$release" --out "$out/scale.json"

echo "== bench: programs (5 and 20 services, each into its own account; published EC2 buckets)"
.venv/bin/python bench/program_scale.py --endpoint "$url" --cli "$cli" --bin-dir "$release" --out "$out/programs.json"

echo "== bench: stop-source downtime (500 GiB, 2 % changed; without and with a pre-image)"
.venv/bin/python bench/downtime.py --endpoint "$url" --cli "$cli" --bin-dir "$release" --out "$out/downtime.json" > /dev/null

echo "== bench: report"
.venv/bin/python bench/report.py > /dev/null
echo "bench: wrote $out/results.md and $out/results.json"
