//! carveout: move an EC2-hosted service into its own AWS account while its Application
//! Load Balancer stays in the network account. One Lambda function per step, orchestrated
//! by a Step Functions state machine; see docs/design.md.

pub mod accounts;
pub mod aws;
pub mod carried;
pub mod cleanup;
pub mod context;
pub mod error;
pub mod graph;
pub mod idiom;
pub mod initialization;
pub mod inventory;
pub mod looks;
pub mod moved;
pub mod names;
pub mod plan;
pub mod program;
pub mod recover;
pub mod resolved;
pub mod revert;
pub mod runtime;
pub mod sdk_policy;
pub mod state;
pub mod step_outputs;
pub mod steps;
#[cfg(test)]
pub(crate) mod test_support;
pub mod traffic;
pub mod vending;
pub mod workflow;

pub use error::StepError;
pub use steps::{Context, Step};
