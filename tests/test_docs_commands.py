"""Every command of README.md, docs/operating.md and docs/program.md, run as written on the emulator.

What is a documented command:
- each line of a ```sh block, and of a bare ``` block that has a line starting with
  `carveout `, `make `, `aws ` or `cargo ` (`# comments` stripped, `\\` continuations
  joined, blank lines dropped);
- each inline code span of the prose (HTML comments aside) that starts with `carveout ` or
  `cargo run` (the operating guide's table of commands, the README's `cargo run` line).

COMMANDS says, for every such line exactly as it is written, how it runs (or why it does
not). A documented line missing from it fails the table test, and so does an entry no doc
line has any more: a new command in the docs gets run, or explained here.

How a line becomes what runs:
- SHORTHAND: `carveout a | b | c` is the subcommands a, b and c, each run; `[--flag]` and
  `[--flag VALUE]` are optional: run without and with (every combination, none first).
- PLACEHOLDERS: the upper-case words of the synopses, EXECUTION_ARN (the ARN the
  preceding `carveout start` printed) and the docs' default emulator URL; nothing else is
  substituted. `plan.json` is not substituted: the operator's commands run in a working
  directory holding the seeded plan as `plan.json`.
- The operator's commands (`carveout`, `aws`) use "your normal AWS credentials and
  region" (docs/operating.md): here AWS_ENDPOINT_URL points them at the suite's emulator
  (aws-config and the aws CLI both honour it; a command given `--endpoint URL` runs
  without it), with test credentials and region ap-northeast-1, and `carveout` on PATH
  ($CARGO_TARGET_DIR/debug, where the build puts it).
- `make …`, `cargo run …` and `carveout demo` start an emulator of their own: they run
  in the repository with EMULATOR_PORT set to a free port (the docs' default :5000 may be
  someone's running demo; the suite's emulator stays untouched). The make targets and
  `cargo run` build first (a no-op after `make test`'s own build).

Each run is checked beyond its exit code where that is cheap: the state it leaves, read
with independent boto3 calls (carveout_emulator.verify), or what it prints.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from carveout_emulator import verify
from carveout_emulator.seed import REGION, seed
from carveout_emulator.seed_program import seed_program
from carveout_emulator.testing import BIN_DIR, ENDPOINT, ROOT, base_client, every, post, reset, sfn_machine

# The aws CLI that make setup installs (tools/awscli-requirements.txt).
AWS_CLI_DIR = ROOT / ".venv-awscli" / "bin"

DOCS = ("README.md", "docs/operating.md", "docs/program.md")
BLOCK_COMMAND_START = ("carveout ", "make ", "aws ", "cargo ")
PROSE_COMMAND_START = ("carveout ", "cargo run")
MIGRATION_ID = "hp-2026-11"  # the seed's, and the docs' example
# Files of the repository's .emulator/ that documented make targets write: put back after.
EMULATOR_FILES = ("plan.json", "demo-plan.json", "demo-output.json")


# ---------------------------------------------------------------------------------------
# Reading the docs


@dataclass(frozen=True)
class DocCommand:
    file: str
    line: int
    text: str  # as written: comment stripped, continuation joined
    block: int | None  # line of the block's opening fence; None for a prose code span


def _strip_comment(line: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def _block_commands(file: str, start: int, body: list[str]) -> list[DocCommand]:
    commands, pending, first = [], "", 0
    for offset, raw in enumerate(body, start=start + 1):
        line = _strip_comment(raw) if not pending else raw.strip()
        if not pending:
            first = offset
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        text = _strip_comment(pending + line) if pending else line
        pending = ""
        if text:
            commands.append(DocCommand(file, first, text, start))
    assert not pending, f"{file}:{first}: a continuation line ends the block"
    return commands


def doc_commands(file: str) -> list[DocCommand]:
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    commands: list[DocCommand] = []
    prose = list(lines)
    i = 0
    while i < len(lines):
        fence = re.match(r"^```\s*(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        body = lines[i + 1:end]
        lang = fence.group(1)
        if lang == "sh" or (lang == "" and any(b.lstrip().startswith(BLOCK_COMMAND_START) for b in body)):
            commands += _block_commands(file, i + 1, body)
        for j in range(i, end + 1):
            prose[j] = ""  # fenced text is no prose (line numbers kept)
        i = end + 1
    text = "\n".join(prose)
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for span in re.finditer(r"`([^`]+)`", text):
        code = " ".join(span.group(1).split())  # a span's line break is a space (CommonMark)
        if code.startswith(PROSE_COMMAND_START):
            commands.append(DocCommand(file, text.count("\n", 0, span.start()) + 1, code, None))
    return commands


def all_doc_commands() -> list[DocCommand]:
    return [c for file in DOCS for c in doc_commands(file)]


# ---------------------------------------------------------------------------------------
# Shorthand and placeholders


def _subcommands(line: str) -> list[str] | None:
    match = re.fullmatch(r"carveout (\w+(?: \| \w+)+)", line)
    return [f"carveout {sub}" for sub in match.group(1).split(" | ")] if match else None


def _optional_flags(line: str) -> list[str] | None:
    optional = re.findall(r" \[(--[\w-]+(?: [A-Z_]+)?)\]", line)
    if not optional:
        return None
    bare = re.sub(r" \[--[\w-]+(?: [A-Z_]+)?\]", "", line)
    runs = []
    for n in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, n):
            runs.append(" ".join([bare, *chosen]))
    return runs


SHORTHAND: dict[str, Callable[[str], list[str] | None]] = {
    "`carveout a | b | c`: the subcommands a, b and c, each run on its own": _subcommands,
    "`[--flag]`, `[--flag VALUE]`: an optional flag, run without it and with it (every combination)": _optional_flags,
}


def expand(line: str) -> list[str]:
    for rule in SHORTHAND.values():
        runs = rule(line)
        if runs is not None:
            break
    else:
        runs = [line]
    for run in runs:
        assert " | " not in run and " [" not in run, f"{line!r}: shorthand no SHORTHAND rule expands"
    return runs


PLACEHOLDERS = {
    "EXECUTION_ARN": "the execution ARN the preceding `carveout start` printed",
    "FILE": "plan.json: the plan carveout_emulator.seed wrote for the suite's emulator, in the working directory",
    "URL": "the suite's emulator endpoint (ENDPOINT)",
    "ARN": "the stand-in state machine's ARN",
    "ID": f"{MIGRATION_ID}, the seed's migration id",
    "http://127.0.0.1:5000": "the emulator the make targets started: EMULATOR_PORT's default 5000 is their free port",
}


def substitute(command: str, values: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        assert match.group(0) in values, f"{command!r}: no value for {match.group(0)} yet"
        return values[match.group(0)]
    pattern = "|".join(r"\b" + re.escape(p) + (r"\b" if p[-1].isalnum() else "") for p in PLACEHOLDERS)
    return re.sub(r"(?<![\w/.-])(?:" + pattern + r")(?![\w.-])", value, command)


# ---------------------------------------------------------------------------------------
# Running


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/_carveout/config", timeout=2).close()
        return True
    except OSError:
        return False


# `carveout start` and `watch` need a state machine named MigrationStateMachine…; the
# emulator executes Pass/Wait/Parallel states only (a Lambda Task would need Docker), so it
# is a stand-in with carveout's stage names, as in docs/operating.md's capture.
STAND_IN_OUTPUT = {"migrationId": MIGRATION_ID, "summary": "stand-in for the documented commands",
                   "traffic": {"forwardsTo": ["arn:stand-in"]}}
STAND_IN = {"StartAt": "Preflight", "States": {
    "Preflight": {"Type": "Wait", "Seconds": 0, "Next": "Prepare"},
    "Prepare": {"Type": "Parallel", "Next": "Report", "Branches": [
        {"StartAt": "AcceptPeering", "States": {"AcceptPeering": {"Type": "Wait", "Seconds": 1, "End": True}}},
        {"StartAt": "WaitImageAvailable", "States": {"WaitImageAvailable": {"Type": "Wait", "Seconds": 1, "End": True}}},
    ]},
    "Report": {"Type": "Pass", "Result": STAND_IN_OUTPUT, "End": True}}}


class Session:
    """One test's run of documented commands: the operator's working directory with
    plan.json, the suite's emulator seeded once, an own emulator port for the make targets."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.own_port = free_port()
        self.values = {"ID": MIGRATION_ID, "http://127.0.0.1:5000": self.own_endpoint}
        self.plan: dict[str, Any] | None = None
        self.machine = ""
        self.before: dict[str, int] = {}
        self.before_cleanup: dict[str, int] = {}
        self.migrated = False

    @property
    def own_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.own_port}"

    def seeded(self) -> dict[str, Any]:
        if self.plan is None:
            reset()
            self.plan = seed(ENDPOINT)
            (self.workdir / "plan.json").write_text(json.dumps(self.plan, indent=2) + "\n")
            post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
            self.machine = sfn_machine("MigrationStateMachine-docs", STAND_IN)
            self.values.update(FILE="plan.json", URL=ENDPOINT, ARN=self.machine)
        return self.plan

    def counts(self, endpoint: str = ENDPOINT, plan: dict[str, Any] | None = None) -> dict[str, int]:
        return verify.counts(verify.end_state(endpoint, plan or self.seeded()))

    def operator_env(self, command: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CARVEOUT_"))}
        # carveout from the build; the aws CLI pinned by make setup (.venv-awscli), not the machine's.
        env.update(PATH=os.pathsep.join([str(BIN_DIR), str(AWS_CLI_DIR), env.get("PATH", "")]), AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
                   # The operator's requests, not the vending function's (tests/iam tells them apart).
                   AWS_SDK_UA_APP_ID="carveout-cli")
        if "--endpoint" not in command:
            env["AWS_ENDPOINT_URL"] = ENDPOINT
        return env

    def own_env(self) -> dict[str, str]:
        # As typed in a shell: not inside `make test`'s make (MAKEFLAGS...), and not recorded
        # into the suite's recording (tests/iam holds the suite emulator's requests).
        dropped = ("CARVEOUT_RECORD_REQUESTS", "AWS_ENDPOINT_URL", "CARVEOUT_STATE_MACHINE_ARN", "PLAN",
                   "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env.update(EMULATOR_PORT=str(self.own_port), PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}")
        return env

    def run_line(self, text: str) -> None:
        entry = COMMANDS[text]
        assert isinstance(entry, Run), f"{text!r} is not run: {entry}"
        for doc_line in entry.needs:
            self.run_line(doc_line)
        if entry.before:
            entry.before(self)
        commands = expand(text)
        if entry.unchanged is True:  # one look before and after all of them (each look takes a second)
            before = self.counts()
        for command in commands:
            self.run_command(entry, command)
        if entry.unchanged is True:
            assert self.counts() == before, f"{text!r} changed something"
        for doc_line in entry.then:
            self.run_line(doc_line)

    def run_command(self, entry: Run, command: str) -> None:
        if entry.own_emulator:
            env, cwd, timeout = self.own_env(), ROOT, 1800  # may build: cold, 9 minutes on 2 cores
        else:
            if entry.emulator:
                self.seeded()
            env, cwd, timeout = self.operator_env(command), self.workdir, 180
        concrete = substitute(command, self.values)
        unchanged = callable(entry.unchanged) and entry.unchanged(command)
        if unchanged:
            self.before = self.counts()
        proc = subprocess.run(["bash", "-c", concrete], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        shown = f"$ {concrete}\nexit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
        assert proc.returncode == 0, shown
        try:
            entry.check(self, command, proc)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{shown}") from None
        if unchanged:
            assert self.counts() == self.before, f"{command!r} changed something\n{shown}"

    def close(self) -> None:
        if self.plan is not None:
            post("/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})
        if (ROOT / f".emulator/emulator-{self.own_port}.pid").exists():  # a failed run left it
            subprocess.run([str(ROOT / "scripts/emulator.sh"), "stop"], env=self.own_env(), cwd=ROOT,
                           capture_output=True, timeout=30, check=False)


# ---------------------------------------------------------------------------------------
# Checks (each after exit code 0)


def _json_out(proc: subprocess.CompletedProcess) -> Any:
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def _migrated(endpoint: str, plan: dict[str, Any]) -> None:
    failed = [f"{what} ({detail})" for what, ok, detail in verify.check(endpoint, plan) if not ok]
    assert not failed, "end state: " + "; ".join(failed)


def check_plan(s: Session, command: str, proc) -> None:
    if "--json" in command:
        planned = json.loads(proc.stdout)
        assert sorted(planned) == ["changes", "checks", "history", "migrationId", "settings", "states"], sorted(planned)
        assert planned["migrationId"] == MIGRATION_ID and planned["checks"] and planned["changes"]
        assert planned["states"][0] == "Preflight" and planned["states"][-2:] == ["Cutover", "Report"]
        return
    assert f"Preflight passed for migration {MIGRATION_ID} (nothing was changed)" in proc.stdout
    assert "A migration would, in this order:" in proc.stdout and "cutover:" in proc.stdout


def seed_program_file(s: Session) -> None:
    """program.json in the working directory: the seed's five services, each into its own
    account (carveout_emulator.seed_program); the session's plan is hp's, for the counts."""
    reset()
    program = seed_program(ENDPOINT)
    (s.workdir / "program.json").write_text(json.dumps(program, indent=2) + "\n")
    d, hp = program["defaults"], program["services"][0]["plan"]
    s.plan = {**d, "migrationId": f"{program['programId']}-hp", "service": {**d["service"], **hp["service"]},
              "source": {**d["source"], **hp["source"]}, "target": hp["target"]}
    s.values.update(URL=ENDPOINT)


def check_program_plan(s: Session, command: str, proc) -> None:
    assert "Program split-1: 5 service(s) in 3 wave(s) (nothing was changed)" in proc.stdout, proc.stdout
    assert "wave 2: admin, batch" in proc.stdout and proc.stdout.count("Preflight passed") == 5
    assert "(Routes per route table, Service Quotas vpc L-93826ACB)" in proc.stdout


PROGRAM_STAND_IN_REPORT = {"programId": "split-1", "status": "SUCCEEDED", "summary": "stand-in", "services": []}


def seed_program_machine(s: Session) -> None:
    """program.json, and the only ProgramStateMachine*: a stand-in whose one Pass answers a
    report (moto runs it); the real program runs under `carveout program local`."""
    seed_program_file(s)
    post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
    s.values["PROGRAM_MACHINE"] = sfn_machine("ProgramStateMachine-docs", {"StartAt": "Report", "States": {
        "Report": {"Type": "Pass", "Result": PROGRAM_STAND_IN_REPORT, "End": True}}})


def check_program_start(s: Session, command: str, proc) -> None:
    machine = s.values["PROGRAM_MACHINE"]
    assert f"started {machine.replace(':stateMachine:', ':execution:')}:split-1" in proc.stdout, proc.stdout
    assert _json_out(proc) == PROGRAM_STAND_IN_REPORT


def check_program_status(s: Session, command: str, proc) -> None:
    rows = [line.split()[:2] for line in proc.stdout.splitlines()]
    assert ["split-1", "SUCCEEDED"] in rows, proc.stdout


def check_program_local(s: Session, command: str, proc) -> None:
    assert "Program split-1 SUCCEEDED: 5 of 5 services moved" in proc.stderr, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["status"] == "SUCCEEDED"


def check_demo_program(s: Session, command: str, proc) -> None:
    assert "Program split-1 SUCCEEDED: 5 of 5 services moved" in proc.stderr, proc.stderr[-3000:]
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.M), proc.stdout[-3000:]
    assert "(Routes per route table, Service Quotas vpc L-93826ACB)" in proc.stdout


def check_program_schema(s: Session, command: str, proc) -> None:
    path = s.workdir / "program.schema.json" if ">" in command else None
    schema = json.loads(path.read_text() if path else proc.stdout)
    assert schema["title"] == "carveout program"
    assert schema == json.loads((ROOT / "schema/program.schema.json").read_text())


def check_start(s: Session, command: str, proc) -> None:
    found = re.search(r"(?:^started |was already started: )(arn:aws:states:\S+)", proc.stdout, re.M)
    assert found, "no execution ARN printed"
    s.values["EXECUTION_ARN"] = found.group(1)
    assert found.group(1) == f"{s.machine.replace(':stateMachine:', ':execution:')}:{MIGRATION_ID}"
    assert "console.aws.amazon.com/states/home?region=ap-northeast-1" in proc.stdout
    executions = every(base_client("stepfunctions"), "list_executions", "executions", stateMachineArn=s.machine)
    assert [e["name"] for e in executions] == [MIGRATION_ID], "started twice"
    if "--watch" in command:
        check_watch(s, command, proc)


def check_watch(s: Session, command: str, proc) -> None:
    assert _json_out(proc) == STAND_IN_OUTPUT
    assert f"Migration {MIGRATION_ID} succeeded" in proc.stderr
    assert "▶ WaitImageAvailable" in proc.stderr and "\x1b[" not in proc.stderr  # plain lines: not a terminal


def check_status(s: Session, command: str, proc) -> None:
    status = base_client("stepfunctions").describe_execution(executionArn=s.values["EXECUTION_ARN"])["status"]
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert [MIGRATION_ID, status] in [row[:2] for row in rows], f"no row {MIGRATION_ID} {status}"


def real_migration(s: Session) -> None:
    """What cleanup finds: the migration run for real (`carveout local`, documented too);
    the stand-in execution of `carveout start` created nothing."""
    if not s.migrated:
        s.run_command(COMMANDS["carveout local --plan FILE [--endpoint URL]"], "carveout local --plan FILE")


def check_cleanup(s: Session, command: str, proc) -> None:
    assert f"Migration {MIGRATION_ID} is live" in proc.stdout
    if "--apply" not in command:
        kinds = [line.split()[1] for line in proc.stdout.splitlines() if line.strip().startswith("remove ")]
        assert "Would remove" in proc.stdout and kinds == ["image", "snapshot"], kinds
    else:
        removed = [line.split()[1] for line in proc.stdout.splitlines() if line.strip().startswith("removed ")]
        assert removed == ["image", "snapshot"], removed
        assert s.counts() == dict(s.before_cleanup, images=0)
        serving = {what: ok for what, ok, _ in verify.check(ENDPOINT, s.seeded())
                   if what in ("exactly one peering", "peering active", "one IP target group", "targets healthy",
                               "listener forwards to the new target group") or what.endswith(" running")}
        assert len(serving) == 7 and all(serving.values()), f"cleanup touched what serves traffic: {serving}"


def check_revert(s: Session, command: str, proc) -> None:
    assert f"Migration {MIGRATION_ID} serves every request from" in proc.stdout, proc.stdout
    assert "writes the new copy took since the cutover" in proc.stdout
    forwards = {what: ok for what, ok, _ in verify.check(ENDPOINT, s.seeded())}["listener forwards to the new target group"]
    if "--yes" in command:
        assert "Reverted:" in proc.stdout and not forwards, proc.stdout
    else:
        assert "Nothing changed" in proc.stdout and forwards


def note_counts_before_cleanup(s: Session) -> None:
    real_migration(s)
    s.before_cleanup = s.counts()


def check_local(s: Session, command: str, proc) -> None:
    out = _json_out(proc)
    assert out["migrationId"] == MIGRATION_ID
    assert f"Migration {MIGRATION_ID} succeeded" in proc.stderr
    _migrated(ENDPOINT, s.seeded())
    counts = s.counts()
    assert counts == {"peerings": 1, "images": 1, "instances": 1, "securityGroups": 1, "targetGroups": 1,
                      "rules": 5}, f"a second run duplicated something: {counts}"
    s.migrated = True


def check_example(s: Session, command: str, proc) -> None:
    if "--plain" in command:
        import jsonschema

        jsonschema.validate(json.loads(proc.stdout), json.loads((ROOT / "schema/plan.schema.json").read_text()))
    else:
        assert proc.stdout.count("// ") >= 10, "no explanations"
        plain = "\n".join(line for line in proc.stdout.splitlines() if not line.strip().startswith("//"))
        assert json.loads(plain)["migrationId"]


def check_schema(s: Session, command: str, proc) -> None:
    assert json.loads(proc.stdout) == json.loads((ROOT / "schema/plan.schema.json").read_text())


def check_graph(s: Session, command: str, proc) -> None:
    assert proc.stdout.startswith("flowchart TD") and "Preflight --> StopSource" in proc.stdout
    assert f"```mermaid\n{proc.stdout}```" in (ROOT / "README.md").read_text(), "README's graph differs"


def check_put_parameter(s: Session, command: str, proc) -> None:
    assert json.loads(proc.stdout)["Version"] == 1
    stored = base_client("ssm").get_parameter(Name=f"/carveout/plans/222222222222/{MIGRATION_ID}")["Parameter"]
    assert stored["Type"] == "String" and stored["Value"] == (s.workdir / "plan.json").read_text()


def check_subcommand(s: Session, command: str, proc) -> None:
    {"carveout example": check_example, "carveout schema": check_schema, "carveout graph": check_graph}[command](
        s, command, proc)


def _own_plan() -> dict[str, Any]:
    return json.loads((ROOT / ".emulator/plan.json").read_text())


def check_emulator_seed(s: Session, command: str, proc) -> None:
    assert answers(s.own_endpoint), f"no emulator on {s.own_endpoint}"
    plan = _own_plan()
    assert plan["migrationId"] == MIGRATION_ID
    assert s.counts(s.own_endpoint, plan) == {"peerings": 0, "images": 0, "instances": 0, "securityGroups": 0,
                                              "targetGroups": 0, "rules": 5}


def check_own_local(s: Session, command: str, proc) -> None:
    assert f"Migration {MIGRATION_ID} succeeded" in proc.stderr
    _migrated(s.own_endpoint, _own_plan())


def check_emulator_stop(s: Session, command: str, proc) -> None:
    assert not answers(s.own_endpoint), f"the emulator on {s.own_endpoint} still answers"


def check_demo(s: Session, command: str, proc) -> None:
    out = proc.stdout + proc.stderr
    assert f"Migration {MIGRATION_ID} succeeded" in out
    assert re.search(r"^\d+ passed, 0 failed$", out, re.M), "the independent checker did not pass"
    assert "poll 1:" in out, "no poll loop polled"
    assert not answers(s.own_endpoint), "the demo left the emulator it started running"


# ---------------------------------------------------------------------------------------
# The table: every documented command line as written, and how it runs


@dataclass(frozen=True)
class Run:
    how: str
    check: Callable[[Session, str, subprocess.CompletedProcess], None]
    own_emulator: bool = False
    emulator: bool = True  # False: the command reads no AWS state (no seeding first)
    unchanged: bool | Callable[[str], bool] = False  # verify.counts equal before and after (all runs, or those)
    before: Callable[[Session], None] | None = None  # state no earlier doc line makes
    needs: tuple[str, ...] = ()  # doc lines run (and checked) first
    then: tuple[str, ...] = ()  # doc lines run (and checked) after


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class NotACommand:
    """An inline code span of the prose that starts like a command but is none (a heading
    naming a subcommand, a message format)."""

    why: str
    run_as: str | None = None  # the table entry that runs what it names


OPERATOR = "AWS_ENDPOINT_URL=the suite's emulator, in the directory holding plan.json"
OWN = "in the repository, EMULATOR_PORT=a free port"

COMMANDS: dict[str, Run | Skip | NotACommand] = {
    # README: The two commands
    "make demo": Run(OWN + "; the demo starts, resets and stops that emulator itself", check_demo, own_emulator=True),
    "make test": Skip("it is the command running this test (make test -> scripts/test.sh -> pytest tests/): "
                      "it cannot run inside itself"),
    # README: Running a plan locally
    "make emulator seed": Run(OWN, check_emulator_seed, own_emulator=True),
    "make local": Run(OWN + " (the Makefile passes --endpoint http://127.0.0.1:$EMULATOR_PORT)", check_own_local,
                      own_emulator=True),
    "make emulator-stop": Run(OWN, check_emulator_stop, own_emulator=True),
    "cargo run --bin carveout -- local --plan .emulator/plan.json --endpoint http://127.0.0.1:5000":
        Run(OWN + "; http://127.0.0.1:5000 -> that port; after `make emulator seed` (the block it follows), "
            "then `make emulator-stop`", check_own_local, own_emulator=True,
            needs=("make emulator seed",), then=("make emulator-stop",)),
    # README: Operating it (one block, in order)
    "carveout plan   --plan plan.json": Run(OPERATOR, check_plan, unchanged=True),
    "carveout start  --plan plan.json --watch": Run(OPERATOR + "; the only MigrationStateMachine* is the stand-in",
                                                    check_start),
    "carveout watch  EXECUTION_ARN": Run(OPERATOR + "; EXECUTION_ARN from the start above", check_watch),
    "carveout status --migration-id hp-2026-11": Run(OPERATOR + "; hp-2026-11 is the seed's id", check_status),
    "carveout cleanup --plan plan.json [--apply]":
        Run(OPERATOR + "; after the migration ran for real (carveout local); dry run, then --apply",
            check_cleanup, unchanged=lambda c: "--apply" not in c, before=note_counts_before_cleanup),
    "carveout example | schema | graph": Run(OPERATOR + "; each subcommand", check_subcommand, emulator=False),
    # README prose
    "carveout local": NotACommand("names the subcommand", run_as="carveout local --plan FILE [--endpoint URL]"),
    "carveout schema": Run(OPERATOR, check_schema, emulator=False),
    "carveout graph": Run(OPERATOR, check_graph, emulator=False),
    # docs/operating.md: the table of commands (synopses)
    "carveout plan --plan FILE [--endpoint URL] [--json]":
        Run(OPERATOR + "; all four combinations (with --endpoint: no AWS_ENDPOINT_URL)", check_plan, unchanged=True),
    "carveout start --plan FILE [--state-machine ARN] [--watch]":
        Run(OPERATOR + "; ARN = the stand-in's; all four combinations, the first starts, the others find it",
            check_start),
    "carveout watch EXECUTION_ARN": Run(OPERATOR + "; after the start row", check_watch,
                                        needs=("carveout start --plan FILE [--state-machine ARN] [--watch]",)),
    "carveout status [--migration-id ID]": Run(OPERATOR + "; after the start row", check_status,
                                               needs=("carveout start --plan FILE [--state-machine ARN] [--watch]",)),
    "carveout local --plan FILE [--endpoint URL]":
        Run(OPERATOR + "; the second run (with --endpoint) runs the same migration again: nothing duplicated",
            check_local),
    "carveout revert --plan FILE [--yes]":
        Run(OPERATOR + "; after the migration ran for real (carveout local): the dry run, then --yes",
            check_revert, unchanged=lambda c: "--yes" not in c, before=real_migration),
    "carveout demo": Run(OWN + "; scripts/demo.sh starts and stops that emulator", check_demo, own_emulator=True),
    "carveout example [--plain]": Run(OPERATOR, check_example, emulator=False),
    # docs/operating.md prose
    "cargo run --bin carveout --": NotACommand(
        "the prefix that replaces `carveout` when it is not on PATH, in a sentence",
        run_as="cargo run --bin carveout -- local --plan .emulator/plan.json --endpoint http://127.0.0.1:5000"),
    "carveout <command>: <why>": NotACommand("the form of an error message on stderr (exit code 2)"),
    "carveout watch": NotACommand("a heading naming the subcommand", run_as="carveout watch EXECUTION_ARN"),
    "carveout cleanup": NotACommand("names the subcommand in a sentence",
                                    run_as="carveout cleanup --plan plan.json [--apply]"),
    "carveout start --watch": NotACommand("names the flag in a sentence",
                                          run_as="carveout start --plan FILE [--state-machine ARN] [--watch]"),
    "carveout example": Run(OPERATOR, check_example, emulator=False),
    # docs/program.md
    "carveout program plan --program program.json":
        Run(OPERATOR + "; program.json from carveout_emulator.seed_program (five services, five accounts)",
            check_program_plan, unchanged=True, before=seed_program_file),
    "carveout program schema > program.schema.json": Run(OPERATOR, check_program_schema, emulator=False),
    "carveout program plan": NotACommand("names the subcommand in a sentence",
                                         run_as="carveout program plan --program program.json"),
    "carveout program schema": Run(OPERATOR, check_program_schema, emulator=False),
    "make demo-program": Run(OWN + "; scripts/demo-program.sh starts and stops that emulator", check_demo_program,
                             own_emulator=True),
    "carveout program start --program program.json --watch":
        Run(OPERATOR + "; the only ProgramStateMachine* is a stand-in answering a report", check_program_start,
            before=seed_program_machine),
    "carveout program status --program-id split-1":
        Run(OPERATOR + "; after the start above", check_program_status),
    "carveout program local --program program.json --endpoint URL":
        Run(OPERATOR + "; the seeded program (carveout_emulator.seed_program), run for real", check_program_local,
            before=seed_program_file),
    # docs/operating.md: account vending
    "aws ssm put-parameter --type String --name /carveout/plans/222222222222/hp-2026-11 --value file://plan.json":
        Run(OPERATOR + "; the aws CLI make setup pins (.venv-awscli)", check_put_parameter),
}



# ---------------------------------------------------------------------------------------
# Tests


def test_every_documented_command_is_in_the_table_and_every_entry_is_documented():
    documented = {c.text: c for c in all_doc_commands()}
    missing = [f"{c.file}:{c.line}: {text}" for text, c in documented.items() if text not in COMMANDS]
    stale = [text for text in COMMANDS if text not in documented]
    assert not missing, "documented commands COMMANDS does not say how to run:\n" + "\n".join(missing)
    assert not stale, "COMMANDS entries no doc has any more:\n" + "\n".join(stale)
    for text, entry in COMMANDS.items():
        for command in expand(text) if isinstance(entry, Run) else []:
            left = substitute(command, dict.fromkeys(PLACEHOLDERS, "x"))
            assert not re.search(r"(?<![\w-])[A-Z][A-Z_]+(?![\w-])", left), f"{text!r}: a placeholder PLACEHOLDERS lacks"
        if isinstance(entry, NotACommand):
            assert entry.run_as is None or isinstance(COMMANDS.get(entry.run_as), Run), f"{text!r}: {entry.run_as!r}"
            assert not any(c.block for c in all_doc_commands() if c.text == text), f"{text!r} is in a command block"
        if isinstance(entry, Run):
            assert all(isinstance(COMMANDS.get(n), Run) for n in entry.needs + entry.then), text


def test_the_docs_have_the_command_blocks_this_test_expects():
    """The parser finds what a reader sees: a parser that found nothing would pass the rest."""
    blocks = {(c.file, c.block) for c in all_doc_commands() if c.block}
    assert len(blocks) == 6, blocks
    texts = [c.text for c in all_doc_commands()]
    assert "carveout cleanup --plan plan.json [--apply]" in texts and "make emulator-stop" in texts


def _units() -> list[Any]:
    """Each command block (its lines in order), each skipped line, each prose command."""
    units, seen = [], set()
    commands = all_doc_commands()
    for file, block in dict.fromkeys((c.file, c.block) for c in commands if c.block):
        lines = [c for c in commands if (c.file, c.block) == (file, block)]
        run = [c.text for c in lines if isinstance(COMMANDS.get(c.text), Run)]
        if run:
            units.append(pytest.param(run, id=f"{file}:{block} " + " / ".join(run)))
        for c in lines:
            if isinstance(COMMANDS.get(c.text), Skip):
                units.append(pytest.param([c.text], id=f"{file}:{c.line} {c.text}",
                                          marks=pytest.mark.skip(reason=COMMANDS[c.text].reason)))
    for c in commands:
        if c.block is None and c.text not in seen and isinstance(COMMANDS.get(c.text), Run):
            seen.add(c.text)
            units.append(pytest.param([c.text], id=f"{c.file}:{c.line} {c.text}"))
    return units


@pytest.fixture
def session(tmp_path):
    saved = {name: (ROOT / ".emulator" / name).read_bytes() if (ROOT / ".emulator" / name).exists() else None
             for name in EMULATOR_FILES}
    s = Session(tmp_path)
    try:
        yield s
    finally:
        s.close()
        for name, content in saved.items():  # the developer's own .emulator/plan.json etc.
            path = ROOT / ".emulator" / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


@pytest.mark.parametrize("lines", _units())
def test_documented_commands_run_as_written(session, lines):
    for text in lines:
        session.run_line(text)
