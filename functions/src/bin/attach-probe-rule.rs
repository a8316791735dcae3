//! Lambda function of the `AttachProbeRule` step.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::main(carveout::Step::AttachProbeRule).await
}
