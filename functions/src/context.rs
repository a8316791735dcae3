//! What a step needs from its process: the base SDK config, built once per process (Lambda
//! init or CLI start), and from it the clients of each account a step works in, assumed
//! once per invocation.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::accounts::{AccountClients, Accounts};
use crate::error::StepError;
use crate::plan::Plan;
use crate::state::State;

/// What a step needs from its process: the base SDK config, built once (Lambda init).
#[derive(Clone, Debug)]
pub struct Context {
    pub base: SdkConfig,
}

impl Context {
    /// Account access for one invocation (credentials are never kept across invocations).
    pub fn accounts(&self, plan: &Plan) -> Accounts {
        Accounts::new(&self.base, plan)
    }

    /// Clients in the network account: the ALB, its VPC, the listener and target groups.
    pub async fn network(&self, state: &State) -> Result<Arc<AccountClients>, StepError> {
        self.accounts(&state.plan)
            .get(&state.plan.service.account_id)
            .await
    }

    /// Clients in the source account: the instances being moved and their images.
    pub async fn source(&self, state: &State) -> Result<Arc<AccountClients>, StepError> {
        self.accounts(&state.plan)
            .get(&state.plan.source.account_id)
            .await
    }

    /// Clients in the target account: the new VPC and instances.
    pub async fn target(&self, state: &State) -> Result<Arc<AccountClients>, StepError> {
        self.accounts(&state.plan)
            .get(&state.plan.target.account_id)
            .await
    }
}
