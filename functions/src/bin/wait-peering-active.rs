//! Lambda function of the `WaitPeeringActive` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::WaitPeeringActive).await
}
