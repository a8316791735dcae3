//! The program: many service migrations out of one shared account, run together (issue 17).
//!
//! A program file names shared `defaults` once (region, role, the network account and its
//! listener, the source account, consistency, options) and one entry per service with
//! what differs (its target group or rule, its instances, its target account). Each
//! entry is merged over the defaults, key by key, into one full plan
//! ([`Program::plans`]), which is then checked exactly as a plan is (`Plan::parse`), so a
//! program can say nothing a plan cannot. `schema/program.schema.json` is generated from
//! these types (`carveout program schema`).
//!
//! What a program adds to its plans: the order (`dependsOn`), the caps on how many
//! services run at once, overall and per account ([`waves`]), the share of failures it
//! tolerates, and targets picked by tag for accounts that are vended later
//! ([`TargetTags`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::StepError;
use crate::plan::{ACCOUNT_ID, Plan};

pub mod handlers;
pub mod history;
pub mod limits;
pub mod next;
pub mod outcome;
pub mod preflight;
pub mod shared;
pub mod vended;
pub mod waves;

#[cfg(test)]
mod tests;

pub use waves::{Wave, waves};

/// A program id: up to 24 letters, digits and hyphens (a service's migration id is
/// `<programId>-<name>`, at most 48).
pub const PROGRAM_ID: &str = r"^[A-Za-z0-9][A-Za-z0-9-]{0,23}$";
/// A service's name in the program: up to 23 lowercase letters, digits and hyphens.
pub const SERVICE_NAME: &str = r"^[a-z0-9][a-z0-9-]{0,22}$";
/// The most services one program runs (each is one child execution and one target group
/// on the ALB, which holds 100).
pub const MAX_SERVICES: usize = 50;

/// Many service migrations, each into its own account, in waves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "carveout program")]
pub struct Program {
    /// Names the program: its execution, and each service's migration id
    /// (`<programId>-<name>`) unless the service names its own.
    #[schemars(pattern(PROGRAM_ID))]
    pub program_id: String,
    /// Plan fields every service shares (region, roleName, service.accountId and
    /// listenerArn, source.accountId, consistency, options…). A service's own fields win;
    /// objects merge key by key.
    #[serde(default)]
    pub defaults: PlanFields,
    /// The services to move, in the order they are listed within a wave.
    #[schemars(length(min = 1, max = 50))]
    pub services: Vec<ServiceEntry>,
    /// How many services migrate at once, at most.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 20))]
    pub max_concurrency: u32,
    /// How many services may be in flight in any one account at once (the network
    /// account's ELB and EC2 calls, the source account's imaging, a shared target
    /// account); default: `maxConcurrency`. `accountConcurrency` overrides it per account.
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub max_concurrency_per_account: Option<u32>,
    /// Caps for named accounts (account id -> services at once), below the others.
    #[serde(default)]
    pub account_concurrency: BTreeMap<String, u32>,
    /// The share of services (percent of all) that may fail before the program starts no
    /// more waves. 0: the first failed service stops the program after its wave. A failed
    /// service rolls back its own routing only; the others are never touched.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub tolerated_failure_percentage: u8,
}

/// A plan with every field optional: the program's defaults, or what one service sets.
/// Any plan field may appear; they are checked once merged (`Plan::parse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanFields {
    #[serde(flatten)]
    #[schemars(with = "BTreeMap<String, Value>")]
    pub fields: serde_json::Map<String, Value>,
}

/// One service of the program: a name, what differs from the defaults, and its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntry {
    /// The service's name in the program (`hp`, `api`): its migration id is
    /// `<programId>-<name>` unless `migrationId` is set.
    #[schemars(pattern(SERVICE_NAME))]
    pub name: String,
    /// Services that must have finished (succeeded) before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The target picked by tag instead of by id: for an account vended after the program
    /// was written. `plan.target.vpcId` and `subnetIds` are then left out.
    #[serde(default)]
    pub target_by_tag: Option<TargetTags>,
    /// The plan fields of this service, merged over the program's defaults: usually
    /// `service.targetGroupArn` (and `ruleArn`), `source.instanceIds`, `target`.
    #[serde(default)]
    pub plan: PlanFields,
}

/// A target named by account and tags: the VPC carrying every tag of `vpcTags`, and its
/// subnets carrying every tag of `subnetTags`. Read in the target account when the
/// service's turn comes; a vended account may not exist yet when the program is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetTags {
    #[schemars(pattern(ACCOUNT_ID))]
    pub account_id: String,
    /// Tag key -> value the VPC must carry (exactly one VPC may match).
    #[schemars(length(min = 1))]
    pub vpc_tags: BTreeMap<String, String>,
    /// Tag key -> value the subnets must carry (every match is used, in subnet id order).
    #[serde(default)]
    pub subnet_tags: BTreeMap<String, String>,
    /// How long a service whose account, role or VPC is not there yet waits for it before
    /// it fails, minutes (looked at every 10 minutes; at most 4 hours).
    #[serde(default = "default_vended_wait")]
    #[schemars(range(min = 0, max = 240))]
    pub wait_minutes: u32,
}

fn default_concurrency() -> u32 {
    2
}

fn default_vended_wait() -> u32 {
    60
}

/// One service of a parsed program: its name, order, and plan (with the target's VPC and
/// subnets still to be found when it is picked by tag).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramService {
    pub name: String,
    pub depends_on: Vec<String>,
    pub target_by_tag: Option<TargetTags>,
    /// The merged plan document: a valid plan once the target is resolved.
    pub plan: Value,
}

impl ProgramService {
    /// The plan, checked; Err for a service whose target is still picked by tag.
    pub fn plan(&self) -> Result<Plan, StepError> {
        Plan::parse(&self.plan).map_err(|e| named(&self.name, e))
    }

    pub fn migration_id(&self) -> &str {
        self.plan["migrationId"].as_str().unwrap_or_default()
    }

    /// The target VPC this service moves into, when known (not a target still picked by
    /// tag): two services into one VPC share its peering and routes, so they never run in
    /// one wave (the second would find the first's peering half made).
    pub fn target_vpc(&self) -> Option<&str> {
        let vpc = self.plan["target"]["vpcId"].as_str()?;
        (self.target_by_tag.is_none() && vpc != PENDING_VPC).then_some(vpc)
    }

    /// The accounts this service works in: network, source and target.
    pub fn accounts(&self) -> Vec<String> {
        let at = |a: &str, b: &str| self.plan[a][b].as_str().unwrap_or_default().to_string();
        let target = self
            .target_by_tag
            .as_ref()
            .map_or_else(|| at("target", "accountId"), |t| t.account_id.clone());
        let mut all = vec![
            at("service", "accountId"),
            at("source", "accountId"),
            target,
        ];
        all.sort();
        all.dedup();
        all
    }
}

/// A service's error, named: `service api: <what is wrong>`.
fn named(service: &str, err: StepError) -> StepError {
    match err {
        StepError::InvalidPlan(m) => StepError::invalid_plan(format!("service {service}: {m}")),
        other => other,
    }
}

/// Deep merge: `over`'s keys win; objects merge key by key, anything else is replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

impl Program {
    /// Parses a program document: its schema, then every service's merged plan (all
    /// problems at once, each named by service), then the program's own rules (unique
    /// names and migration ids, `dependsOn` naming known services without a cycle, caps).
    /// Errors: `CarveOut.InvalidPlan` listing every problem.
    pub fn parse(input: &Value) -> Result<(Program, Vec<ProgramService>), StepError> {
        let program: Program = serde_json::from_value(input.clone())
            .map_err(|e| StepError::invalid_plan(format!("the program does not parse: {e}")))?;
        let mut problems = program.problems();
        let mut services = Vec::new();
        for entry in &program.services {
            let service = program.expand(entry);
            if let Err(StepError::InvalidPlan(m)) = service.plan() {
                problems.push(m);
            }
            services.push(service);
        }
        let mut ids: BTreeMap<&str, &str> = BTreeMap::new();
        for s in &services {
            if let Some(other) = ids.insert(s.migration_id(), &s.name) {
                problems.push(format!(
                    "services {other} and {} have the same migrationId {:?}: each migration needs its own",
                    s.name,
                    s.migration_id()
                ));
            }
        }
        if problems.is_empty() {
            waves::order(&services).map_err(StepError::invalid_plan)?;
            Ok((program, services))
        } else {
            Err(StepError::invalid_plan(format!(
                "program {}: {}",
                program.program_id,
                problems.join("; ")
            )))
        }
    }

    /// One service's plan document: the defaults, the entry's fields over them, its
    /// migration id, and placeholders for a target picked by tag (replaced when resolved).
    fn expand(&self, entry: &ServiceEntry) -> ProgramService {
        let mut plan = Value::Object(self.defaults.fields.clone());
        merge(&mut plan, &Value::Object(entry.plan.fields.clone()));
        if plan.get("migrationId").is_none_or(Value::is_null) {
            plan["migrationId"] = json!(format!("{}-{}", self.program_id, entry.name));
        }
        if let Some(by_tag) = &entry.target_by_tag {
            // Valid ids that name nothing: the plan is checked now, the target read later.
            plan["target"] = json!({
                "accountId": by_tag.account_id,
                "vpcId": PENDING_VPC,
                "subnetIds": [PENDING_SUBNET],
            });
        }
        ProgramService {
            name: entry.name.clone(),
            depends_on: entry.depends_on.clone(),
            target_by_tag: entry.target_by_tag.clone(),
            plan,
        }
    }

    /// The cap of services at once in `account`.
    pub fn account_cap(&self, account: &str) -> u32 {
        self.account_concurrency
            .get(account)
            .copied()
            .or(self.max_concurrency_per_account)
            .unwrap_or(self.max_concurrency)
            .min(self.max_concurrency)
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let re = |pattern: &str, v: &str| regex_lite::Regex::new(pattern).unwrap().is_match(v);
        if !re(PROGRAM_ID, &self.program_id) {
            p.push(format!(
                "programId {:?} must be 1-24 letters, digits or hyphens",
                self.program_id
            ));
        }
        if self.services.is_empty() || self.services.len() > MAX_SERVICES {
            p.push(format!(
                "a program has 1 to {MAX_SERVICES} services, this one {}",
                self.services.len()
            ));
        }
        if !(1..=20).contains(&self.max_concurrency) {
            p.push(format!(
                "maxConcurrency {} must be 1 to 20",
                self.max_concurrency
            ));
        }
        if let Some(cap) = self
            .max_concurrency_per_account
            .filter(|c| !(1..=20).contains(c))
        {
            p.push(format!("maxConcurrencyPerAccount {cap} must be 1 to 20"));
        }
        for (account, cap) in &self.account_concurrency {
            if !re(ACCOUNT_ID, account) || *cap == 0 {
                p.push(format!(
                    "accountConcurrency {account:?}: {cap} must be an account id and at least 1"
                ));
            }
        }
        if self.tolerated_failure_percentage > 100 {
            p.push("toleratedFailurePercentage must be 0 to 100".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.services {
            if !re(SERVICE_NAME, &s.name) {
                p.push(format!(
                    "service name {:?} must be 1-23 lowercase letters, digits or hyphens",
                    s.name
                ));
            }
            if !seen.insert(s.name.as_str()) {
                p.push(format!("service {} is listed twice", s.name));
            }
            if s.target_by_tag
                .as_ref()
                .is_some_and(|t| t.wait_minutes > 240)
            {
                p.push(format!(
                    "service {}: targetByTag.waitMinutes is at most 240",
                    s.name
                ));
            }
            if s.target_by_tag.is_some() && s.plan.fields.contains_key("target") {
                p.push(format!(
                    "service {}: give either targetByTag or plan.target, not both",
                    s.name
                ));
            }
        }
        if self.defaults.fields.contains_key("migrationId") {
            p.push("defaults.migrationId: each service has its own migration id".into());
        }
        p
    }
}

/// Placeholders of a target picked by tag, until it is read (never sent to AWS).
pub const PENDING_VPC: &str = "vpc-00000000000000000";
pub const PENDING_SUBNET: &str = "subnet-00000000000000000";

/// The program's JSON Schema (draft 2020-12), as shipped in `schema/program.schema.json`.
pub fn schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Program)).expect("schema serializes")
}
