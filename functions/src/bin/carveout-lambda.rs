//! Every carveout Lambda function in one binary. The function's `Handler` (the `_HANDLER`
//! variable of custom runtimes; locally also the first argument) names what it runs: a
//! step (`create-peering`, …) or `start-vended-migrations`. One binary means one release
//! link instead of twenty: measured in bench/README.md.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::dispatch().await
}
