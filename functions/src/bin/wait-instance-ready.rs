//! Lambda function of the `WaitInstanceReady` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::WaitInstanceReady).await
}
