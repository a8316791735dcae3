//! Lambda function of the `AddRoutes` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::AddRoutes).await
}
