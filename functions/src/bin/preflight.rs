//! Lambda function of the `Preflight` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::Preflight).await
}
