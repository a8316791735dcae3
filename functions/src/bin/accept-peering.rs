//! Lambda function of the `AcceptPeering` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::AcceptPeering).await
}
