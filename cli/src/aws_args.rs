//! How every command that calls AWS reaches it: your usual credentials and region, or the
//! local emulator with `--endpoint`. One struct, flattened into each command's arguments.
//! (`carveout local` is the exception: it always runs against an emulator, so its
//! endpoint is required, with the emulator's default.)

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;
use carveout::accounts::{SdkConfig, load_cli_config};

#[derive(clap::Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS endpoint (the local emulator); default: AWS, with your usual credentials and
    /// region.
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// How long a named endpoint may take to accept a connection before the command gives up.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

impl AwsArgs {
    /// The base SDK config for this endpoint (the one the steps build on). A named endpoint
    /// (`--endpoint`, or `AWS_ENDPOINT_URL`) that refuses connections fails here at once:
    /// otherwise every call would spend the SDK's retries and timeouts on it first.
    pub async fn config(&self) -> anyhow::Result<SdkConfig> {
        if let Some(url) = self.named_endpoint() {
            reachable(&url)?;
        }
        Ok(load_cli_config(self.endpoint.as_deref()).await)
    }

    fn named_endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|u| !u.is_empty())
    }
}

/// Connects once to the endpoint's host and port (`http://host:port/...`; 80 or 443 by
/// default). Errors: "cannot reach URL: <why>".
fn reachable(url: &str) -> anyhow::Result<()> {
    let (https, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("https"), rest),
        None => (false, url),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot reach {url}: the host does not resolve"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, REACH_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
    anyhow::bail!(
        "cannot reach {url}: {why} (for the local emulator: scripts/emulator.sh start, or make demo)"
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_endpoint_fails_at_once_naming_it() {
        // Port 1 on loopback: nothing listens there.
        let err = reachable("http://127.0.0.1:1").unwrap_err().to_string();
        assert!(err.starts_with("cannot reach http://127.0.0.1:1"), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(reachable(&format!("http://127.0.0.1:{port}/")).is_ok());
    }
}
