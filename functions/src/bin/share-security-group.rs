//! Lambda function of the `ShareSecurityGroup` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::ShareSecurityGroup).await
}
