// Runs carveout's real ASL file locally with aws-local-stepfunctions. Every Task runs the
// real Rust Lambda binary (carveout-lambda, the same handler code as in Lambda) with the
// Task's handler: JSON on stdin, JSON on stdout, errors named by `errorType`. A Task whose
// handler the binary does not know is refused before the run starts: nothing may fall
// through to a call to real AWS Lambda.
//
// Each step runs at most its function's `Timeout` from template.yaml (Globals or its own),
// as Lambda enforces it: a step still running then is killed and fails with the error
// Lambda reports for a timeout. CARVEOUT_FUNCTION_TIMEOUT_SECONDS overrides every step
// function's timeout (tests show the failure without waiting minutes).
//
// An execution that ends ABORTED, TIMED_OUT or FAILED is handed to the watcher as AWS does
// (template.yaml's rule on those statuses invokes RecoverExecutionFunction with the
// "Step Functions Execution Status Change" event): the runner posts the history it wrote,
// in the service's event shapes, to the emulator (which answers GetExecutionHistory with
// it), then runs the watcher's handler. `stopAt` (or CARVEOUT_STOP_EXECUTION_AT) stops the
// execution when it enters that state, as StopExecution does: a Lambda invocation already
// running goes on, its answer is not recorded.
//
// A Task that runs a child execution (`arn:aws:states:::states:startExecution.sync:2`, the
// per-instance image and launch work) runs the template's state machine it names
// (`${ImageStateMachineArn}` -> the ImageStateMachine resource's DefinitionUri) the same
// way, with its own history and its own limits, as the service runs a child execution;
// its events carry `execution` (the child's label). The Task answers as .sync:2 does:
// the child's description with its output as JSON, or States.TaskFailed with the child's
// error and cause inside the cause.
//
// Input (stdin): {"asl": path, "template": path, "binDir": dir, "input": {...}, "region": "...",
//                 "verbose": bool, "stopAt": state name or null}
// Output (stdout): one JSON event per line, ending with {"event":"Result", ...}.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import {
  CHILD, childDefinitions, functionTimeouts, handlerOf, predictedWaitsOf, tasksOf, untimed, watchedStatuses,
} from './definitions.mjs';

import { emit, history, historyEventsOf, newLimits } from './history.mjs';

export { CHILD, childDefinitions, functionTimeouts, handlerOf, predictedWaitsOf, tasksOf };


async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// A timed-out invocation: Step Functions reports it as `Sandbox.Timedout` with Lambda's
// message (older runtimes: `Lambda.Unknown`); the ASL retries both.
// https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
function timedOut(seconds) {
  const error = new Error(`Task timed out after ${seconds.toFixed(2)} seconds`);
  error.name = 'Sandbox.Timedout';
  return error;
}

function runStep(binary, handler, input, verbose, timeoutSeconds, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    // The deadline Lambda's Runtime API gives each invocation (Lambda-Runtime-Deadline-Ms).
    const env = { ...process.env, ...extraEnv, CARVEOUT_DEADLINE_MS: String(Date.now() + timeoutSeconds * 1000) };
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
  const children = childDefinitions(cfg.template);
  const childRaw = {};
  const problems = [];
  const binary = join(cfg.binDir, 'carveout-lambda');
  const timeouts = functionTimeouts(cfg.template);
  const override = Number(process.env.CARVEOUT_FUNCTION_TIMEOUT_SECONDS) || null;
  const known = existsSync(binary) ? execFileSync(binary, ['--list'], { encoding: 'utf8' }).split('\n') : [];
  if (!known.length) problems.push(`no Lambda binary at ${binary} (build it: cargo build --workspace)`);

  // Every Task of the definition and of the child definitions it runs: a handler in the
  // binary (or a child definition in the template) before anything runs.
  const seen = new Set();
  const check = (states, where) => {
    for (const { name, resource, timeout, parameters } of tasksOf(states)) {
      if (seen.has(name)) problems.push(`state name ${name} is used twice`);
      seen.add(name);
      if (resource === CHILD) {
        const placeholder = /^\$\{([A-Za-z0-9]+)\}$/.exec(parameters?.StateMachineArn ?? '')?.[1];
        const file = children[placeholder];
        if (!file || !existsSync(file)) { problems.push(`Task ${name} runs ${parameters?.StateMachineArn}, no state machine of the template`); continue; }
        if (!(placeholder in childRaw)) {
          childRaw[placeholder] = readFileSync(file, 'utf8');
          check(JSON.parse(childRaw[placeholder]).States, file);
        }
        continue;
      }
      const handler = handlerOf(resource);
      if (!handler || !known.includes(handler)) {
        if (known.length) problems.push(`Task ${name} (${resource}) in ${where} has no handler in ${binary}`);
        continue;
      }
      const functionId = `${/^\$\{([A-Za-z0-9]+)FunctionArn\}$/.exec(resource)[1]}Function`;
      if (!(functionId in timeouts)) problems.push(`Task ${name}: no function ${functionId} in template.yaml`);
      lambdaTasks[name] = { handler, resource, timeout, timeoutSeconds: override ?? timeouts[functionId] };
    }
  };
  const lambdaTasks = {};
  check(definition.States, cfg.asl);
  if (problems.length) {
    emit({ event: 'Result', status: 'INVALID', error: 'CarveOut.LocalRunner', cause: problems.join('; ') });
    process.exitCode = 2;
    return;
  }
  // Predicted polls (a Wait of the last look's `nextPollSeconds`, Task -> Choice -> Wait ->
  // Task) are not slept either, nor a look's watch inside its invocation (scaled to 1 %):
  // the emulator's phases count reads, not time. The Waits of a gradual cutover's holds are.
  process.env.CARVEOUT_WATCH_TIME_SCALE ??= '0.01';
  const world = { cfg, binary, lambdaTasks, childRaw, running: new Set() };

  const stopAt = cfg.stopAt || process.env.CARVEOUT_STOP_EXECUTION_AT || null;
  let stopped = false;
  const limits = newLimits('the execution');
  history.add('ExecutionStarted', 'executionStartedEventDetails', { input: JSON.stringify(cfg.input) });
  // StopExecution when a state (of the execution or of a child) named `stopAt` is entered:
  // the service stops the child executions a .sync Task waits for with it.
  world.checkStop = (e) => {
    if (stopAt && e.type === 'StateEntered' && e.state?.name === stopAt && !stopped) {
      stopped = true;
      emit({ event: 'ExecutionStopped', state: stopAt, ts: Date.now() });
      history.stop();
      run.execution.abort();
      for (const child of world.running) child.abort();
    }
  };
  const run = runMachine(world, raw, cfg.input, limits, {
    onEvent: (e, base) => {
      history.state(e);
      emit(base);
      world.checkStop(e);
    },
    history,
  });
  limits.onTerminal = () => history.stop();

  let result;
  try {
    const output = await run.result;
    if (limits.terminal) throw limits.terminal;
    result = { event: 'Result', status: 'SUCCEEDED', output, historyEvents: limits.events };
  } catch (err) {
    // A service limit ends the execution where it stands: no Retry, no Catch.
    const terminal = limits.terminal;
    const cause = err.cause ?? err.message;
    const name = terminal?.name ?? (err.name === 'ExecutionError' && err.cause ? err.cause.name : err.name);
    result = stopped && !terminal
      ? { event: 'Result', status: 'ABORTED', error: 'ExecutionAborted', cause: `stopped at ${stopAt}`,
        historyEvents: limits.events }
      : { event: 'Result', status: 'FAILED', error: name, cause: terminal?.message ?? String(err.cause?.message ?? cause),
        historyEvents: limits.events };
    process.exitCode = 1;
  }
  history.end(result);
  const recovery = await watch(cfg, binary, timeouts, override, result);
  if (recovery) result.recovery = recovery;
  emit(result);
}

// Runs one execution of `raw` (a definition) on `input`: its Lambda Tasks run the binary,
// its child Tasks run child executions. `limits` counts its history; `hooks.onEvent` sees
// each event with the line to emit; `hooks.history` (the top execution only) records the
// Lambda events for the watcher. Returns {execution, result}.
function runMachine(world, raw, input, limits, hooks) {
  const { cfg, binary, lambdaTasks } = world;
  const definition = JSON.parse(raw);
  const label = hooks.label;
  const handlers = {};
  const record = (...args) => hooks.history?.add(...args);
  for (const { name, resource, parameters } of tasksOf(definition.States)) {
    if (resource === CHILD) {
      handlers[name] = (params) => runChild(world, name, parameters, params, limits, hooks);
      continue;
    }
    const task = lambdaTasks[name];
    handlers[name] = async (taskInput) => {
      // TaskScheduled, TaskStarted and TaskSucceeded|TaskFailed in the service's history.
      limits.count(3);
      limits.payload(name, 'input', taskInput);
      // Past a service limit the execution is over: nothing more is scheduled.
      if (limits.terminal) throw limits.terminal;
      record('LambdaFunctionScheduled', 'lambdaFunctionScheduledEventDetails', {
        resource: task.resource, input: JSON.stringify(taskInput), timeoutInSeconds: task.timeoutSeconds,
      });
      record('LambdaFunctionStarted');
      // The benchmark replays real step inputs: keep the first one of every Task.
      const capture = process.env.CARVEOUT_CAPTURE_DIR && join(process.env.CARVEOUT_CAPTURE_DIR, `${name}.json`);
      if (capture && !existsSync(capture)) writeFileSync(capture, JSON.stringify(taskInput));
      let answer;
      try {
        answer = await runStep(binary, task.handler, taskInput, cfg.verbose, task.timeoutSeconds);
      } catch (error) {
        const timedOut = error.name === 'Sandbox.Timedout';
        record(timedOut ? 'LambdaFunctionTimedOut' : 'LambdaFunctionFailed',
          timedOut ? 'lambdaFunctionTimedOutEventDetails' : 'lambdaFunctionFailedEventDetails',
          { error: error.name, cause: error.message });
        emit({ event: 'TaskError', state: name, error: error.name, cause: error.message, ts: Date.now(), ...label });
        throw error;
      }
      if ('ok' in answer) {
        record('LambdaFunctionSucceeded', 'lambdaFunctionSucceededEventDetails', { output: JSON.stringify(answer.ok) });
        limits.payload(name, 'output', answer.ok);
        return answer.ok;
      }
      record('LambdaFunctionFailed', 'lambdaFunctionFailedEventDetails',
        { error: answer.errorType, cause: answer.errorMessage });
      emit({ event: 'TaskError', state: name, error: answer.errorType, cause: answer.errorMessage, ts: Date.now(), ...label });
      const error = new Error(answer.errorMessage);
      error.name = answer.errorType;
      throw error;
    };
  }
  // DefinitionSubstitutions, locally: placeholders become well-formed (never called) ARNs.
  const substituted = JSON.parse(raw
    .replace(/\$\{([A-Za-z0-9]+)FunctionArn\}/g, (_, fn) => `arn:aws:lambda:${cfg.region}:000000000000:function:carveout-${fn}`)
    .replace(/\$\{([A-Za-z0-9]+)StateMachineArn\}/g, (_, sm) => `arn:aws:states:${cfg.region}:000000000000:stateMachine:carveout-${sm}`));
  untimed(substituted.States);
  const noWait = Object.fromEntries(tasksOf(definition.States).map((t) => [t.name, 0]));
  const predicted = Object.fromEntries(predictedWaitsOf(definition.States).map((name) => [name, 0]));
  const machine = new StateMachine(substituted);
  // The Context Object (`$$.Execution.Id`: the child Tasks pass it to their children).
  const arn = hooks.executionArn ?? `arn:aws:states:${cfg.region}:000000000000:execution:carveout-migrations:${input?.migrationId ?? 'local'}`;
  const context = { Execution: { Id: arn, Name: arn.split(':').pop(), Input: input, StartTime: new Date().toISOString() } };
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: noWait, waitTimeOverrides: predicted },
    context,
  });
  limits.execution = execution;
  const logs = (async () => {
    for await (const e of execution.eventLogs) {
      limits.count(historyEventsOf(e));
      const base = { event: e.type, ts: e.timestamp, ...label };
      if (e.state) Object.assign(base, { state: e.state.name, type: e.state.type });
      if (e.index !== undefined) base.index = e.index;
      else if (label?.index !== undefined) base.index = label.index;
      if (e.retry) base.attempt = e.retry.attempt;
      if (e.Error) Object.assign(base, { error: e.Error, cause: String(e.Cause ?? '') });
      if (e.type === 'StateExited' && e.state?.type === 'Task') base.output = e.state.output;
      hooks.onEvent(e, base);
    }
  })();
  const result = (async () => {
    try {
      const output = await execution.result;
      await logs;
      return output;
    } catch (err) {
      await logs.catch(() => {});
      throw err;
    }
  })();
  return { execution, result };
}

// A .sync:2 Task: the child execution, run to its end. Its Task costs the parent 4 events
// a try (TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded|TaskFailed).
async function runChild(world, task, parameters, params, parentLimits, parentHooks) {
  parentLimits.count(4);
  if (parentLimits.terminal) throw parentLimits.terminal;
  const placeholder = /^\$\{([A-Za-z0-9]+)\}$/.exec(parameters.StateMachineArn)[1];
  const input = params.Input ?? {};
  const instances = input.facts?.instances ?? [];
  const at = instances.findIndex((i) => i.instanceId === input.sourceInstance?.instanceId);
  const index = input.index ?? (at >= 0 ? at : undefined);
  // The Task's Name, as StartExecution checks it (1-80 characters, no whitespace, none of
  // < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : / or control characters: InvalidName);
  // without one, a UUID as AWS makes.
  const name = params.Name ?? `${placeholder.replace(/StateMachineArn$/, '').toLowerCase()}-${crypto.randomUUID()}`;
  if (name.length < 1 || name.length > 80 || /[\s<>{}\[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/.test(name)) {
    const invalid = new Error(`Invalid Name: '${name}'`);
    invalid.name = 'StepFunctions.InvalidNameException';
    throw invalid;
  }
  // A program's service (its plan: migrationId), an instance (#index) or a shift step (%);
  // a grandchild carries its parent's label first (`RunMigration split-1-hp › ImageWorkflow #0`).
  const own = input.migrationId ? `${task} ${input.migrationId}`
    : index !== undefined ? `${task} #${index}` : `${task} ${input.shiftPercent ?? ''}%`;
  const parent = parentHooks.label?.execution;
  const label = { execution: parent ? `${parent} › ${own}` : own, index };
  if (input.migrationId) label.migrationId = input.migrationId;
  else if (parentHooks.label?.migrationId) label.migrationId = parentHooks.label.migrationId;
  const executionArn = `arn:aws:states:${world.cfg.region}:000000000000:execution:carveout-${placeholder.replace(/Arn$/, '')}:${name}`;
  parentHooks.history?.add('TaskSubmitted', 'taskSubmittedEventDetails',
    { resource: 'startExecution.sync:2', resourceType: 'states', output: JSON.stringify({ ExecutionArn: executionArn }) });
  const limits = newLimits(`child execution ${label.execution}`);
  // StartExecution's input is bounded like any state's (256 KiB).
  parentLimits.payload(task, 'child execution input', input);
  if (parentLimits.terminal) throw parentLimits.terminal;
  emit({ event: 'ChildStarted', state: task, executionArn, ts: Date.now(), ...label });
  const onEvent = (e, base) => {
    emit(base);
    world.checkStop(e);
  };
  const run = runMachine(world, world.childRaw[placeholder], input, limits, { onEvent, label, executionArn });
  world.running.add(run.execution);
  const details = { resourceType: 'states', resource: 'startExecution.sync:2' };
  try {
    const output = await run.result;
    if (limits.terminal) throw limits.terminal;
    emit({ event: 'ChildSucceeded', state: task, historyEvents: limits.events, ts: Date.now(), ...label });
    // .sync:2 answers DescribeExecution: the child's input (as text) and its output (as
    // JSON), and that whole answer is the Task's result, bounded like any output.
    const answer = { ExecutionArn: executionArn, Name: name, Status: 'SUCCEEDED', Input: JSON.stringify(input),
      InputDetails: { Included: true }, Output: output, OutputDetails: { Included: true } };
    parentLimits.payload(task, 'result (the child execution described)', answer);
    if (parentLimits.terminal) throw parentLimits.terminal;
    parentHooks.history?.add('TaskSucceeded', 'taskSucceededEventDetails', { ...details, output: JSON.stringify(answer) });
    return answer;
  } catch (err) {
    const terminal = limits.terminal;
    const error = terminal?.name ?? (err.name === 'ExecutionError' && err.cause ? err.cause.name : err.name);
    const cause = terminal?.message ?? String(err.cause?.message ?? err.message);
    emit({ event: 'ChildFailed', state: task, error, cause, historyEvents: limits.events, ts: Date.now(), ...label });
    parentHooks.history?.add('TaskFailed', 'taskFailedEventDetails', { ...details, error: 'States.TaskFailed', cause });
    // States.TaskFailed, the child described in the cause (its input too), cut at the
    // 32,768 characters a task failure's cause holds (API_TaskFailedEventDetails).
    const described = JSON.stringify({ ExecutionArn: executionArn, Name: name, Status: 'FAILED', Input: JSON.stringify(input),
      Error: error, Cause: cause });
    const failed = new Error(described.slice(0, 32768));
    failed.name = 'States.TaskFailed';
    throw failed;
  } finally {
    world.running.delete(run.execution);
  }
}

// EventBridge's part, locally: the status-change event goes to the watcher.
async function watch(cfg, binary, timeouts, override, result) {
  if (!watchedStatuses(cfg.template).includes(result.status)) return null;
  const account = '123456789012';
  // The workflow's own region (the stack's), not a plan's malformed one: the plan's region
  // when it is one, else the test world's.
  const region = /^[a-z]{2}(-[a-z]+)+-\d+$/.test(cfg.region) ? cfg.region : 'ap-northeast-1';
  // Executions are named after their migration id (a re-run's history replaces the last).
  const name = cfg.input.migrationId ?? 'local';
  const machine = `arn:aws:states:${region}:${account}:stateMachine:carveout-migrations`;
  const executionArn = `arn:aws:states:${region}:${account}:execution:carveout-migrations:${name}`;
  const endpoint = process.env.AWS_ENDPOINT_URL;
  const posted = await fetch(`${endpoint}/_carveout/executions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ executionArn, stateMachineArn: machine, name, status: result.status, events: history.events }),
  }).catch((e) => ({ ok: false, statusText: String(e) }));
  if (!posted.ok) {
    const recovery = { error: 'CarveOut.LocalRunner', cause: `${endpoint} keeps no execution history (${posted.statusText}): the watcher needs the emulator` };
    emit({ event: 'Recovery', ...recovery, ts: Date.now() });
    return recovery;
  }
  const event = {
    version: '0', id: crypto.randomUUID(), 'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states', account, time: new Date().toISOString(), region, resources: [executionArn],
    detail: { executionArn, stateMachineArn: machine, name, status: result.status, startDate: history.events[0].timestamp * 1000,
      stopDate: Date.now(), redriveCount: 0, input: JSON.stringify(cfg.input), error: result.error, cause: result.cause },
  };
  emit({ event: 'WatcherStarted', status: result.status, ts: Date.now() });
  // Its own timeout, never the steps' override: it outwaits a step still in flight first.
  const seconds = timeouts.RecoverExecutionFunction ?? 900;
  let recovery;
  try {
    const answer = await runStep(binary, 'recover-execution', event, cfg.verbose, seconds,
      { AWS_SDK_UA_APP_ID: 'carveout-step-recover-execution', AWS_REGION: region });
    recovery = 'ok' in answer ? answer.ok : { error: answer.errorType, cause: answer.errorMessage };
  } catch (error) {
    recovery = { error: error.name, cause: error.message };
  }
  emit({ event: 'Recovery', ...recovery, ts: Date.now() });
  return recovery;
}

main().catch((err) => {
  emit({ event: 'Result', status: 'FAILED', error: 'CarveOut.LocalRunner', cause: String(err?.stack ?? err) });
  process.exitCode = 2;
});
