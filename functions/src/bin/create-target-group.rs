//! Lambda function of the `CreateTargetGroup` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::CreateTargetGroup).await
}
