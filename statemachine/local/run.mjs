// Runs carveout's real ASL file locally with aws-local-stepfunctions. Every Task runs the
// real Rust Lambda binary (carveout-lambda, the same handler code as in Lambda) with the
// Task's handler: JSON on stdin, JSON on stdout, errors named by `errorType`. A Task whose
// handler the binary does not know is refused before the run starts: nothing may fall
// through to a call to real AWS Lambda.
//
// Each step runs at most its function's `Timeout` from template.yaml (Globals or its own),
// as Lambda enforces it: a step still running then is killed and fails with the error
// Lambda reports for a timeout. CARVEOUT_FUNCTION_TIMEOUT_SECONDS overrides every
// function's timeout (tests show the failure without waiting minutes).
//
// Input (stdin): {"asl": path, "template": path, "binDir": dir, "input": {...}, "region": "...",
//                 "verbose": bool}
// Output (stdout): one JSON event per line, ending with {"event":"Result", ...}.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import YAML from 'yaml';

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// `${CreatePeeringFunctionArn}` -> handler `create-peering`
export function handlerOf(resource) {
  const m = /^\$\{([A-Za-z0-9]+)FunctionArn\}$/.exec(resource ?? '');
  if (!m) return null;
  return m[1].replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

// Every Task in the definition, Parallel branches and Map processors included.
export function tasksOf(states, found = []) {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Task') found.push({ name, resource: state.Resource });
    for (const branch of state.Branches ?? []) tasksOf(branch.States, found);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) tasksOf(processor.States, found);
  }
  return found;
}

// `{PreflightFunction: 180, …}`: each function's Timeout in seconds (template.yaml).
export function functionTimeouts(templatePath) {
  // CloudFormation's short tags (!Ref, !Sub…) are irrelevant here: parsed as plain values.
  const template = YAML.parse(readFileSync(templatePath, 'utf8'), { logLevel: 'silent' });
  const fallback = template.Globals?.Function?.Timeout ?? 3; // Lambda's default is 3 s
  const timeouts = {};
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type === 'AWS::Serverless::Function') timeouts[id] = resource.Properties?.Timeout ?? fallback;
  }
  return timeouts;
}

// A timed-out invocation: Step Functions reports it as `Sandbox.Timedout` with Lambda's
// message (older runtimes: `Lambda.Unknown`); the ASL retries both.
// https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
function timedOut(seconds) {
  const error = new Error(`Task timed out after ${seconds.toFixed(2)} seconds`);
  error.name = 'Sandbox.Timedout';
  return error;
}

function runStep(binary, handler, input, verbose, timeoutSeconds) {
  return new Promise((resolve, reject) => {
    // The deadline Lambda's Runtime API gives each invocation (Lambda-Runtime-Deadline-Ms).
    const env = { ...process.env, CARVEOUT_DEADLINE_MS: String(Date.now() + timeoutSeconds * 1000) };
    const child = spawn(binary, [handler], { env, stdio: ['pipe', 'pipe', verbose ? 'inherit' : 'pipe'] });
    let out = '';
    let err = '';
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.stdout.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (expired) return reject(timedOut(timeoutSeconds));
      const line = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${binary} ${handler} exited ${code} without an answer: ${err.slice(-2000)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

async function main() {
  const cfg = await readStdin();
  const raw = readFileSync(cfg.asl, 'utf8');
  const definition = JSON.parse(raw);
  const tasks = tasksOf(definition.States);

  const problems = [];
  const handlers = {};
  const seen = new Set();
  const binary = join(cfg.binDir, 'carveout-lambda');
  const timeouts = functionTimeouts(cfg.template);
  const override = Number(process.env.CARVEOUT_FUNCTION_TIMEOUT_SECONDS) || null;
  const known = existsSync(binary) ? execFileSync(binary, ['--list'], { encoding: 'utf8' }).split('\n') : [];
  if (!known.length) problems.push(`no Lambda binary at ${binary} (build it: cargo build --workspace)`);
  for (const { name, resource } of tasks) {
    if (seen.has(name)) problems.push(`state name ${name} is used twice`);
    seen.add(name);
    const handler = handlerOf(resource);
    if (!handler || !known.includes(handler)) {
      if (known.length) problems.push(`Task ${name} (${resource}) has no handler in ${binary}`);
      continue;
    }
    const functionId = `${/^\$\{([A-Za-z0-9]+)FunctionArn\}$/.exec(resource)[1]}Function`;
    if (!(functionId in timeouts)) problems.push(`Task ${name}: no function ${functionId} in template.yaml`);
    const timeoutSeconds = override ?? timeouts[functionId];
    handlers[name] = async (input) => {
      // TaskScheduled, TaskStarted and TaskSucceeded|TaskFailed in the service's history.
      limits.count(3);
      limits.payload(name, 'input', input);
      // The benchmark replays real step inputs: keep the first one of every Task.
      const capture = process.env.CARVEOUT_CAPTURE_DIR && join(process.env.CARVEOUT_CAPTURE_DIR, `${name}.json`);
      if (capture && !existsSync(capture)) writeFileSync(capture, JSON.stringify(input));
      let answer;
      try {
        answer = await runStep(binary, handler, input, cfg.verbose, timeoutSeconds);
      } catch (error) {
        emit({ event: 'TaskError', state: name, error: error.name, cause: error.message, ts: Date.now() });
        throw error;
      }
      if ('ok' in answer) {
        limits.payload(name, 'output', answer.ok);
        return answer.ok;
      }
      emit({ event: 'TaskError', state: name, error: answer.errorType, cause: answer.errorMessage, ts: Date.now() });
      const error = new Error(answer.errorMessage);
      error.name = answer.errorType;
      throw error;
    };
  }
  if (problems.length) {
    emit({ event: 'Result', status: 'INVALID', error: 'CarveOut.LocalRunner', cause: problems.join('; ') });
    process.exitCode = 2;
    return;
  }

  // DefinitionSubstitutions, locally: placeholders become well-formed (never called) ARNs.
  const substituted = JSON.parse(
    raw.replace(/\$\{([A-Za-z0-9]+)FunctionArn\}/g, (_, fn) => `arn:aws:lambda:${cfg.region}:000000000000:function:carveout-${fn}`),
  );
  const noWait = Object.fromEntries(tasks.map((t) => [t.name, 0]));
  const machine = new StateMachine(substituted);
  const execution = machine.run(cfg.input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: noWait, waitTimeOverrides: {} },
  });
  limits.execution = execution;

  const logs = (async () => {
    for await (const e of execution.eventLogs) {
      limits.count(historyEventsOf(e));
      const base = { event: e.type, ts: e.timestamp };
      if (e.state) Object.assign(base, { state: e.state.name, type: e.state.type });
      if (e.index !== undefined) base.index = e.index;
      if (e.retry) base.attempt = e.retry.attempt;
      if (e.Error) Object.assign(base, { error: e.Error, cause: String(e.Cause ?? '') });
      if (e.type === 'StateExited' && e.state?.type === 'Task') base.output = e.state.output;
      emit(base);
    }
  })();

  try {
    const output = await execution.result;
    await logs;
    if (limits.terminal) throw limits.terminal;
    emit({ event: 'Result', status: 'SUCCEEDED', output, historyEvents: limits.events });
  } catch (err) {
    await logs.catch(() => {});
    // A service limit ends the execution where it stands: no Retry, no Catch.
    const terminal = limits.terminal;
    const cause = err.cause ?? err.message;
    const name = terminal?.name ?? (err.name === 'ExecutionError' && err.cause ? err.cause.name : err.name);
    emit({
      event: 'Result', status: 'FAILED', error: name,
      cause: terminal?.message ?? String(err.cause?.message ?? cause), historyEvents: limits.events,
    });
    process.exitCode = 1;
  }
}

// The service's limits (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html):
// 25,000 events in one execution's history, 256 KiB of input or output per state. Past
// either the service fails the execution itself (States.Runtime, States.DataLimitExceeded);
// no Retry or Catch of the definition runs. Tests lower both through the environment.
const limits = {
  events: 0,
  maxEvents: Number(process.env.CARVEOUT_HISTORY_LIMIT) || 25000,
  maxPayload: Number(process.env.CARVEOUT_PAYLOAD_LIMIT_BYTES) || 256 * 1024,
  terminal: null,
  execution: null,
  count(n) {
    this.events += n;
    if (this.events > this.maxEvents) this.fail('States.Runtime',
      `the execution history reached ${this.maxEvents} events, Step Functions' limit: the service fails the execution and no Catch runs`);
  },
  payload(state, what, value) {
    const bytes = Buffer.byteLength(JSON.stringify(value ?? null));
    if (bytes > this.maxPayload) this.fail('States.DataLimitExceeded',
      `the ${what} of state ${state} is ${bytes} bytes, over Step Functions' ${this.maxPayload}-byte limit`);
  },
  fail(name, message) {
    if (this.terminal) return;
    this.terminal = Object.assign(new Error(message), { name });
    emit({ event: 'ExecutionLimit', error: name, cause: message, ts: Date.now() });
    this.execution?.abort();
  },
};

// How many history events the service writes for one event of the runner: state entered
// and exited, Map and Parallel started/succeeded, each Map iteration started and ended
// (Task attempts are counted where the task runs).
function historyEventsOf(e) {
  switch (e.type) {
    case 'ExecutionStarted': case 'ExecutionSucceeded': case 'ExecutionFailed': case 'ExecutionAborted':
    case 'ExecutionTimeout':
      return 1;
    case 'StateEntered':
      return ['Map', 'Parallel'].includes(e.state?.type) ? 2 : 1;
    case 'StateExited':
      return ['Map', 'Parallel'].includes(e.state?.type) ? 2 : 1;
    case 'MapIterationStarted': case 'MapIterationSucceeded': case 'MapIterationFailed':
      return 1;
    default:
      return 0;
  }
}

main().catch((err) => {
  emit({ event: 'Result', status: 'FAILED', error: 'CarveOut.LocalRunner', cause: String(err?.stack ?? err) });
  process.exitCode = 2;
});
