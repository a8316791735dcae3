//! Lambda function of the `CreateImage` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::CreateImage).await
}
