"""Cold start of every step (release build of carveout-lambda, one handler per function),
and of the Python/boto3 reference.

A tiny Lambda Runtime API is served here on loopback. Each run starts a fresh process
with the Lambda environment pointing at it, and records:
  init   process start -> its first GET /runtime/invocation/next (runtime ready)
  first  process start -> its answer (POST .../response or .../error) to one real event:
         the input that Task received in a real local run of the state machine (captured
         by statemachine/local/run.mjs), answered against the emulator
  rss    peak resident memory of the process (os.wait4)
then kills the process. Median and spread over --runs runs.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid

API = "/2018-06-01/runtime"
LOG = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "carveout-coldstart.log"


class Invocation:
    def __init__(self, event: bytes):
        self.event = event
        self.next_at: float | None = None
        self.answered_at: float | None = None
        self.answer: bytes = b""
        self.kind = ""
        self.done = threading.Event()


class RuntimeApi(http.server.ThreadingHTTPServer):
    daemon_threads = True
    current: Invocation | None = None

    def handle_error(self, request, client_address):
        pass  # a killed process's open connection: expected


class Handler(http.server.BaseHTTPRequestHandler):
    server: RuntimeApi
    # Keep-alive, as the real Runtime API: the runtime client reuses its connection.
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):  # quiet
        pass

    def do_GET(self):
        inv = self.server.current
        if self.path != f"{API}/invocation/next" or inv is None:
            self.send_error(404)
            return
        if inv.next_at is not None:
            # A second /next: the process waits here until it is killed.
            time.sleep(30)
            return
        inv.next_at = time.perf_counter()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:ap-northeast-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(inv.event)))
        self.end_headers()
        self.wfile.write(inv.event)

    def do_POST(self):
        inv = self.server.current
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if inv is not None and self.path.startswith(f"{API}/invocation/"):
            inv.answered_at = time.perf_counter()
            inv.answer, inv.kind = body, self.path.rsplit("/", 1)[-1]
        elif inv is not None and self.path == f"{API}/init/error":
            inv.answered_at, inv.answer, inv.kind = time.perf_counter(), body, "init-error"
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if inv is not None:
            inv.done.set()


def lambda_env(endpoint: str, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUST_LOG"))}
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUST_LOG": "info",
    })
    return env


def run_once(cmd: list[str], env: dict[str, str], event: bytes) -> dict:
    # A fresh Runtime API per run: a killed process's late requests cannot reach the next.
    server = RuntimeApi(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}"}
    inv = server.current = Invocation(event)
    start = time.perf_counter()
    log = open(LOG, "ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    finished = inv.done.wait(60)
    # Popen.send_signal would reap the child first; wait4 must do it, for the rusage.
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = -9
    log.close()
    server.shutdown()
    server.server_close()
    if not finished or inv.next_at is None:
        raise RuntimeError(f"{cmd[0]} gave no answer within 60 s (its log: {LOG})")
    return {
        "init_ms": (inv.next_at - start) * 1000,
        "first_ms": (inv.answered_at - start) * 1000,
        "rss_mib": usage.ru_maxrss / 1024,
        "answer": inv.kind,
        "error": json.loads(inv.answer).get("errorType") if inv.kind == "error" else None,
    }


def summary(runs: list[dict]) -> dict:
    out = {}
    for key in ("init_ms", "first_ms", "rss_mib"):
        values = sorted(r[key] for r in runs)
        out[key] = {
            "median": statistics.median(values),
            "p10": values[max(0, int(len(values) * 0.1) - 1)] if len(values) > 1 else values[0],
            "p90": values[min(len(values) - 1, int(len(values) * 0.9))],
            "min": values[0],
            "max": values[-1],
        }
    out["answers"] = sorted({r["error"] or r["answer"] for r in runs})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True, help="release step binaries")
    ap.add_argument("--events", required=True, help="captured Task inputs, <State>.json")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--python", default=sys.executable, help="interpreter with boto3")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    events = pathlib.Path(args.events)
    bin_dir = pathlib.Path(args.bin_dir)

    # State name -> binary, from the ASL (the same rule as the local runner): every Task
    # whose Resource is `${<Name>FunctionArn}`, in the migration's definition and its child
    # executions' (statemachine/*.asl.json), Parallel branches and Map processors included.
    import re
    states = {}

    def walk(machine: dict) -> None:
        for name, state in machine.get("States", {}).items():
            fn = re.fullmatch(r"\$\{([A-Za-z]+)FunctionArn\}", str(state.get("Resource", "")))
            if state.get("Type") == "Task" and fn:
                states[name] = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", fn.group(1)).lower()
            for inner in state.get("Branches", []) + [state.get("ItemProcessor") or state.get("Iterator") or {}]:
                walk(inner)

    for path in sorted((pathlib.Path(__file__).resolve().parent.parent / "statemachine").glob("*.asl.json")):
        walk(json.loads(path.read_text()))
    # Rollback never ran in a successful migration: give it Report's input plus an error.
    if not (events / "Rollback.json").exists() and (events / "Report.json").exists():
        state = json.loads((events / "Report.json").read_text())
        state["error"] = {"Error": "CarveOut.ResourceFailed", "Cause": "benchmark"}
        (events / "Rollback.json").write_text(json.dumps(state))

    results: dict[str, dict] = {}
    order = sorted(states, key=lambda s: s == "Rollback")  # Rollback changes routing: last
    binary = bin_dir / "carveout-lambda"
    if not binary.exists():
        sys.exit(f"coldstart: no {binary} (cargo build --release)")
    for state in order:
        event = events / f"{state}.json"
        if not event.exists():
            print(f"coldstart: skip {state} (no captured input)", file=sys.stderr)
            continue
        # As in Lambda: the function's Handler arrives as _HANDLER.
        env = {**lambda_env(args.endpoint, states[state]), "_HANDLER": states[state]}
        runs = [run_once([str(binary)], env, event.read_bytes()) for _ in range(args.runs)]
        results[states[state]] = {"language": "rust", "state": state, **summary(runs), "runs": runs}
        s = results[states[state]]
        print(f"coldstart: {states[state]:<24} init {s['init_ms']['median']:6.1f} ms  first answer "
              f"{s['first_ms']['median']:6.1f} ms  rss {s['rss_mib']['median']:5.1f} MiB  {s['answers']}", file=sys.stderr)

    ref = pathlib.Path(__file__).resolve().parent / "python" / "wait_image_available.py"
    env = lambda_env(args.endpoint, "wait-image-available-python")
    event = (events / "WaitImageAvailable.json").read_bytes()
    runs = [run_once([args.python, str(ref)], env, event) for _ in range(args.runs)]
    results["python:wait-image-available"] = {"language": "python", "state": "WaitImageAvailable", **summary(runs), "runs": runs}
    s = results["python:wait-image-available"]
    print(f"coldstart: {'python wait-image-available':<24} init {s['init_ms']['median']:6.1f} ms  first answer "
          f"{s['first_ms']['median']:6.1f} ms  rss {s['rss_mib']['median']:5.1f} MiB  {s['answers']}", file=sys.stderr)

    pathlib.Path(args.out).write_text(json.dumps({"runs_per_binary": args.runs, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
