//! Lambda function of the `LaunchInstance` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::LaunchInstance).await
}
