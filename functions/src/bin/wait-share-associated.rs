//! Lambda function of the `WaitShareAssociated` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::WaitShareAssociated).await
}
