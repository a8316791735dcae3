//! Lambda function of the `RegisterTargets` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::RegisterTargets).await
}
