// What the local runner reads from the definitions and the template (run.mjs): the Task
// handlers, the Tasks and the predicted-poll Waits of a definition, each function's
// Timeout, the child state machines by their placeholder, and AWS's untimed child Task.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import YAML from 'yaml';

// `${CreatePeeringFunctionArn}` -> handler `create-peering`
export function handlerOf(resource) {
  const m = /^\$\{([A-Za-z0-9]+)FunctionArn\}$/.exec(resource ?? '');
  if (!m) return null;
  return m[1].replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

// Every Task in the definition, Parallel branches and Map processors included.
export function tasksOf(states, found = []) {
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Task') found.push({ name, resource: state.Resource, timeout: state.TimeoutSeconds, parameters: state.Parameters });
    for (const branch of state.Branches ?? []) tasksOf(branch.States, found);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) tasksOf(processor.States, found);
  }
  return found;
}

// The Waits of predicted-poll loops: a Wait with SecondsPath that leads back to the Task
// whose Choice led to it.
export function predictedWaitsOf(states, found = []) {
  for (const [name, state] of Object.entries(states)) {
    const choice = states[state.Next];
    const wait = choice?.Type === 'Choice' ? states[choice.Default] : null;
    if (state.Type === 'Task' && wait?.Type === 'Wait' && wait.SecondsPath && wait.Next === name) found.push(choice.Default);
    for (const branch of state.Branches ?? []) predictedWaitsOf(branch.States, found);
    const processor = state.ItemProcessor ?? state.Iterator;
    if (processor) predictedWaitsOf(processor.States, found);
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

export const CHILD = 'arn:aws:states:::states:startExecution.sync:2';

// A Task without TimeoutSeconds has no timeout on AWS ("the Amazon States Language doesn't
// specify timeouts", https://docs.aws.amazon.com/step-functions/latest/dg/sfn-stuck-execution.html);
// aws-local-stepfunctions gives it 60 s. A child execution runs for as long as its image
// takes, so its Task gets the service's behaviour here: the longest a Node timer holds
// (2^31 - 1 ms, 24.8 days; a longer one fires at once).
export function untimed(states) {
  for (const state of Object.values(states ?? {})) {
    if (state.Type === 'Task' && state.Resource === CHILD && state.TimeoutSeconds === undefined
        && state.TimeoutSecondsPath === undefined) state.TimeoutSeconds = 2147483;
    for (const branch of state.Branches ?? []) untimed(branch.States);
    untimed((state.ItemProcessor ?? state.Iterator)?.States);
  }
}

// `{ImageStateMachineArn: "statemachine/image.asl.json", …}`: the template's state machines
// by the placeholder that names them (`${<LogicalId>Arn}`), for child executions.
export function childDefinitions(templatePath) {
  const template = YAML.parse(readFileSync(templatePath, 'utf8'), { logLevel: 'silent' });
  const found = {};
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type === 'AWS::Serverless::StateMachine') found[`${id}Arn`] = join(dirname(templatePath), resource.Properties.DefinitionUri);
  }
  return found;
}

// The statuses template.yaml's rule sends to the watcher, read from the rule itself.
export function watchedStatuses(templatePath) {
  const template = YAML.parse(readFileSync(templatePath, 'utf8'), { logLevel: 'silent' });
  for (const resource of Object.values(template.Resources ?? {})) {
    if (resource.Properties?.Handler !== 'recover-execution') continue;
    for (const ev of Object.values(resource.Properties.Events ?? {})) {
      const pattern = ev.Properties?.Pattern;
      if (pattern?.source?.includes('aws.states')) return pattern.detail?.status ?? [];
    }
  }
  return [];
}
