//! What a step needs from its process: the base SDK config, built once per process (Lambda
//! init or CLI start), and from it the clients of each account a step works in, assumed
//! once per invocation.

use aws_config::SdkConfig;

use crate::accounts::Accounts;
use crate::plan::Plan;

/// What a step needs from its process: the base SDK config, built once (Lambda init).
#[derive(Clone, Debug)]
pub struct Context {
    pub base: SdkConfig,
}

impl Context {
    /// The one way a step reaches an account: `ctx.accounts(&state.plan).network()` (or
    /// `.source()`, `.target()`, `.get(id)`). Roles are assumed on first use and kept for
    /// this invocation only (credentials are never kept across invocations).
    pub fn accounts(&self, plan: &Plan) -> Accounts {
        Accounts::new(&self.base, plan)
    }
}
