//! How a step binary runs: under Lambda (the Runtime API) or locally (one JSON event on
//! stdin, one JSON answer on stdout). Both call the same [`crate::steps::run`].

use std::io::Read;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::accounts::load_base_config;
use crate::steps::{Context, Step, run};

/// Logs: JSON under Lambda (CloudWatch), readable text on stderr elsewhere.
pub fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(false)
            .without_time()
            .init();
    } else {
        fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .compact()
            .init();
    }
}

/// The whole `main` of a step binary.
pub async fn main(step: Step) -> Result<(), Error> {
    init_tracing();
    let ctx = Context {
        base: load_base_config().await,
    };
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let ctx = &ctx;
        return lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            run(step, ctx, event.payload).await
        }))
        .await;
    }
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw)?;
    let input: Value = serde_json::from_str(&raw)?;
    let answer = invoke_local(step, &ctx, input).await;
    println!("{answer}");
    Ok(())
}

/// The local protocol: `{"ok": output}` or `{"errorType": name, "errorMessage": text}`,
/// the same shape Lambda reports errors in.
pub async fn invoke_local(step: Step, ctx: &Context, input: Value) -> Value {
    match run(step, ctx, input).await {
        Ok(output) => json!({ "ok": output }),
        Err(err) => json!({ "errorType": err.name(), "errorMessage": err.to_string() }),
    }
}
