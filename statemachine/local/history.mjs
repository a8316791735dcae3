// The local runner's execution bookkeeping (run.mjs): its events on stdout, the history
// in the service's event shapes for the watcher, and the service's per-execution limits.

export const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

// The execution's history in the service's shapes (GetExecutionHistory), for the watcher.
// Nothing is added once the execution is closed: an invocation still running after
// StopExecution is not recorded, as on AWS.
const AWS_TYPE = { Task: 'Task', Pass: 'Pass', Choice: 'Choice', Map: 'Map', Parallel: 'Parallel', Wait: 'Wait',
  Fail: 'Fail', Succeed: 'Succeed' };
export const history = {
  events: [],
  closed: false,
  add(type, detailsKey, details) {
    if (this.closed) return;
    const event = { id: this.events.length + 1, previousEventId: this.events.length, timestamp: Date.now() / 1000, type };
    if (detailsKey) event[detailsKey] = details;
    this.events.push(event);
  },
  state(e) {
    const kind = AWS_TYPE[e.state?.type];
    if (!kind) return;
    if (e.type === 'StateEntered') {
      this.add(`${kind}StateEntered`, 'stateEnteredEventDetails', { name: e.state.name, input: JSON.stringify(e.state.input ?? null) });
    } else if (e.type === 'StateExited') {
      this.add(`${kind}StateExited`, 'stateExitedEventDetails', { name: e.state.name, output: JSON.stringify(e.state.output ?? null) });
    }
  },
  // StopExecution: whatever still runs is not recorded; only the end event follows.
  stop() {
    this.closed = true;
  },
  end(result) {
    this.closed = false;
    const [type, key] = {
      SUCCEEDED: ['ExecutionSucceeded', 'executionSucceededEventDetails'],
      ABORTED: ['ExecutionAborted', 'executionAbortedEventDetails'],
      TIMED_OUT: ['ExecutionTimedOut', 'executionTimedOutEventDetails'],
    }[result.status] ?? ['ExecutionFailed', 'executionFailedEventDetails'];
    this.add(type, key, result.status === 'SUCCEEDED' ? { output: JSON.stringify(result.output) }
      : { error: result.error, cause: result.cause });
    this.closed = true;
  },
};

// The service's limits (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html),
// per execution (a child execution has its own): 25,000 events in one history, 256 KiB of
// input or output per state. Past either the service fails the execution itself
// (States.Runtime, States.DataLimitExceeded); no Retry or Catch of the definition runs.
// Tests lower both through the environment.
export function newLimits(what) {
  return {
    events: 0,
    maxEvents: Number(process.env.CARVEOUT_HISTORY_LIMIT) || 25000,
    maxPayload: Number(process.env.CARVEOUT_PAYLOAD_LIMIT_BYTES) || 256 * 1024,
    terminal: null,
    execution: null,
    onTerminal: null,
    count(n) {
      this.events += n;
      if (this.events > this.maxEvents) this.fail('States.Runtime',
        `the history of ${what} reached ${this.maxEvents} events, Step Functions' limit: the service fails the execution and no Catch runs`);
    },
    payload(state, kind, value) {
      const bytes = Buffer.byteLength(JSON.stringify(value ?? null));
      if (bytes > this.maxPayload) this.fail('States.DataLimitExceeded',
        `the ${kind} of state ${state} is ${bytes} bytes, over Step Functions' ${this.maxPayload}-byte limit`);
    },
    fail(name, message) {
      if (this.terminal) return;
      this.terminal = Object.assign(new Error(message), { name });
      emit({ event: 'ExecutionLimit', error: name, cause: message, ts: Date.now() });
      this.onTerminal?.();
      this.execution?.abort();
    },
  };
}

// How many history events the service writes for one event of the runner: state entered
// and exited, Map and Parallel started/succeeded, each Map iteration started and ended
// (Task attempts are counted where the task runs).
export function historyEventsOf(e) {
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
