#!/usr/bin/env bash
# Starts or stops the local AWS emulator (moto + carveout's patches) in the background.
#   scripts/emulator.sh start|stop|status      port: EMULATOR_PORT (default 5000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${EMULATOR_PORT:-5000}
state="$root/.emulator"
pidfile="$state/emulator-$port.pid"
url="http://127.0.0.1:$port"
mkdir -p "$state"

answers() { curl -sf -o /dev/null "$url/_carveout/config"; }

case "${1:-start}" in
  start)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
      echo "emulator already running on $url (pid $(cat "$pidfile"))"; exit 0
    fi
    if answers; then echo "port $port is taken by something that is not this emulator's pidfile" >&2; exit 1; fi
    unset MOTO_ACCOUNT_ID
    PYTHONPATH="$root/emulator" nohup "$root/.venv/bin/python" -m carveout_emulator --port "$port" \
      > "$state/emulator-$port.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 100); do
      if answers; then echo "emulator running on $url (pid $(cat "$pidfile"), log $state/emulator-$port.log)"; exit 0; fi
      if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
      sleep 0.1
    done
    echo "emulator did not start; see $state/emulator-$port.log" >&2
    tail -20 "$state/emulator-$port.log" >&2 || true
    exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
      echo "emulator on $url stopped"
    else
      echo "no emulator running on port $port"
    fi ;;
  status)
    if answers; then echo "running on $url"; else echo "not running on $url"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
