//! The one shape of a Preflight check: a pure function of facts already read, answering
//! the sentence `carveout plan` shows when it passed, or the named error (InvalidPlan,
//! Conflict) that stops the migration before anything changes. Reading is done apart,
//! by the `read_*`/`resolve_*` functions of each concern, so every check is tested on
//! plain values, without mocks.

use crate::error::StepError;

/// A check's answer: `Ok(what was verified)` or the error that refuses the plan.
pub(super) type Verdict = Result<String, StepError>;

/// The checks' sentences in order, as `Facts::checks` lists them.
#[derive(Debug, Default)]
pub(super) struct Checks(Vec<String>);

impl Checks {
    /// Records a passed check; a failed one ends Preflight with its error.
    pub(super) fn pass(&mut self, verdict: Verdict) -> Result<(), StepError> {
        self.0.push(verdict?);
        Ok(())
    }

    pub(super) fn into_vec(self) -> Vec<String> {
        self.0
    }
}
