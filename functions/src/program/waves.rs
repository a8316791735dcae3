//! The order a program runs its services in (pure).
//!
//! Each wave takes, in listed order, the services whose `dependsOn` all ran in earlier
//! waves, keeping the caps: at most `maxConcurrency` services per wave, at most the
//! account's cap of services working in any one account (network, source or target) at
//! once, and one service per target VPC (services into one VPC share its peering and
//! routes: the second reuses what the first made, once it is made). A wave runs its services side
//! by side and ends when all of them have ended; the next wave starts then. A barrier
//! costs some wall time against a scheduler that starts a service as soon as a slot
//! frees, and buys a plan the user can read before anything runs: exactly these services,
//! together, in this order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Program, ProgramService};

/// One wave: the services (by name) that run side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    pub services: Vec<String>,
}

/// Levels of indices into `services`: each service after all it depends on, in listed
/// order within a level. Errors name an unknown dependency or a cycle.
pub fn order(services: &[ProgramService]) -> Result<Vec<Vec<usize>>, String> {
    let index: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut problems = Vec::new();
    for s in services {
        for d in &s.depends_on {
            if !index.contains_key(d.as_str()) {
                problems.push(format!(
                    "service {} depends on {d:?}, which is not in the program",
                    s.name
                ));
            } else if d == &s.name {
                problems.push(format!("service {} depends on itself", s.name));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    let mut levels = Vec::new();
    while placed.len() < services.len() {
        let level: Vec<usize> = (0..services.len())
            .filter(|i| !placed.contains(i))
            .filter(|&i| {
                services[i]
                    .depends_on
                    .iter()
                    .all(|d| placed.contains(&index[d.as_str()]))
            })
            .collect();
        if level.is_empty() {
            let stuck: Vec<&str> = (0..services.len())
                .filter(|i| !placed.contains(i))
                .map(|i| services[i].name.as_str())
                .collect();
            return Err(format!(
                "dependsOn has a cycle among {}: no order runs them",
                stuck.join(", ")
            ));
        }
        placed.extend(level.iter().copied());
        levels.push(level);
    }
    Ok(levels)
}

/// The waves of a parsed program: each wave takes, in listed order, the services whose
/// dependencies all ran in earlier waves, while `maxConcurrency` and every account's cap
/// ([`Program::account_cap`]) allow. Errors as [`order`].
pub fn waves(program: &Program, services: &[ProgramService]) -> Result<Vec<Wave>, String> {
    order(services)?;
    let index: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut waves = Vec::new();
    while done.len() < services.len() {
        let mut wave = Vec::new();
        let mut in_account: BTreeMap<String, u32> = BTreeMap::new();
        let mut vpcs: BTreeSet<&str> = BTreeSet::new();
        for (i, s) in services.iter().enumerate() {
            let ready = !done.contains(&i)
                && s.depends_on
                    .iter()
                    .all(|d| done.contains(&index[d.as_str()]));
            let accounts = s.accounts();
            let fits = (wave.len() as u32) < program.max_concurrency
                && accounts
                    .iter()
                    .all(|a| in_account.get(a).copied().unwrap_or(0) < program.account_cap(a))
                && s.target_vpc().is_none_or(|v| !vpcs.contains(v));
            if ready && fits {
                for a in accounts {
                    *in_account.entry(a).or_default() += 1;
                }
                vpcs.extend(s.target_vpc());
                wave.push(i);
            }
        }
        // `order` found no cycle, and every cap is at least 1: a wave is never empty.
        done.extend(wave.iter().copied());
        waves.push(Wave {
            services: wave.iter().map(|&i| services[i].name.clone()).collect(),
        });
    }
    Ok(waves)
}
