//! The "what moved" tables of a migration, from Preflight's facts: what `carveout plan`
//! prints before anything runs and the Report repeats (docs/same-service.md).

use crate::carried::{SettingsTable, attributes_rows};
use crate::state::Facts;

/// One table per source instance (each setting: source value, new value, carried /
/// mapped / not carried and why), then the target group's (`sourceInstanceId`
/// `targetGroup`).
pub fn settings_tables(facts: &Facts) -> Vec<SettingsTable> {
    let mut tables: Vec<_> = facts
        .instances
        .iter()
        .map(|i| SettingsTable {
            source_instance_id: i.instance_id.clone(),
            rows: i.decision(&facts.options).rows,
        })
        .collect();
    tables.push(SettingsTable {
        source_instance_id: "targetGroup".into(),
        rows: attributes_rows(&facts.service.target_group.attributes),
    });
    tables
}
