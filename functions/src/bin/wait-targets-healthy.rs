//! Lambda function of the `WaitTargetsHealthy` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::WaitTargetsHealthy).await
}
