//! Lambda function of the `Rollback` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::Rollback).await
}
