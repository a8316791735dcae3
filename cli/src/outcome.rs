//! How a command ended, and so its exit code (docs/operating.md, "Exit codes").

use serde_json::Value;

/// 0 done, 1 it ran and the check, execution or call failed, 3 the service moved to the
/// new copy and a later step failed (MIGRATED_WITH_ISSUES: traffic stays there, something
/// is left to tidy). 2, "could not run", is an error, not an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Failed,
    MigratedWithIssues,
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Self {
        if ok { Outcome::Done } else { Outcome::Failed }
    }
}

impl Outcome {
    /// The outcome of a finished execution: `{"status": "SUCCEEDED", "output": {...}}` or a
    /// failed one, as the runner's and the history reader's `Result` events say it.
    pub fn of_execution(result: &Value) -> Self {
        match result["status"].as_str() {
            Some("SUCCEEDED") if result["output"]["status"] == "MIGRATED_WITH_ISSUES" => {
                Outcome::MigratedWithIssues
            }
            Some("SUCCEEDED") => Outcome::Done,
            _ => Outcome::Failed,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 1,
            Outcome::MigratedWithIssues => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn migrated_with_issues_has_its_own_exit_code() {
        let moved = json!({"status": "SUCCEEDED", "output": {"status": "MIGRATED_WITH_ISSUES"}});
        assert_eq!(Outcome::of_execution(&moved).code(), 3);
        let done = json!({"status": "SUCCEEDED", "output": {"status": "SUCCEEDED"}});
        assert_eq!(Outcome::of_execution(&done).code(), 0);
        assert_eq!(
            Outcome::of_execution(&json!({"status": "ABORTED"})).code(),
            1
        );
    }
}
