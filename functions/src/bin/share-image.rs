//! Lambda function of the `ShareImage` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::ShareImage).await
}
