//! Lambda function of the `WaitImageAvailable` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::WaitImageAvailable).await
}
