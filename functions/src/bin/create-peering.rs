//! Lambda function of the `CreatePeering` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::CreatePeering).await
}
