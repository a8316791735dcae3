//! Lambda function of the `Cutover` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::Cutover).await
}
