//! How every command that calls AWS reaches it: your usual credentials and region, or the
//! local emulator with `--endpoint`. One struct, flattened into each command's arguments.
//! (`carveout local` is the exception: it always runs against an emulator, so its
//! endpoint is required, with the emulator's default.)

use carveout::accounts::{SdkConfig, load_cli_config};

#[derive(clap::Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS endpoint (the local emulator); default: AWS, with your usual credentials and
    /// region.
    #[arg(long)]
    pub endpoint: Option<String>,
}

impl AwsArgs {
    /// The base SDK config for this endpoint (the one the steps build on).
    pub async fn config(&self) -> SdkConfig {
        load_cli_config(self.endpoint.as_deref()).await
    }
}

impl AwsArgs {
    /// A failure's words with the endpoint named where the SDK could not reach it
    /// ("cannot reach http://127.0.0.1:5999: …" rather than the SDK's types).
    pub fn explain(&self, text: &str) -> String {
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| "AWS".to_string());
        text.replace(
            "cannot reach the AWS endpoint",
            &format!("cannot reach {endpoint}"),
        )
    }
}
