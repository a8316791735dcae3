//! How a function binary runs: under Lambda (the Runtime API) or locally (one JSON event
//! on stdin, one JSON answer on stdout). Both call the same handler.

use std::future::Future;
use std::io::Read;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::accounts::load_base_config;
use crate::error::StepError;
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

/// The handler name of the account-vending function.
pub const VENDING_HANDLER: &str = "start-vended-migrations";

/// Every handler name the binary answers to: the steps, then the vending function.
pub fn handlers() -> Vec<&'static str> {
    Step::ALL
        .iter()
        .map(|s| s.binary())
        .chain([VENDING_HANDLER])
        .collect()
}

/// The whole `main` of the Lambda binary: picks the handler from `_HANDLER` (Lambda) or
/// the first argument, builds config and clients once, then serves it. `--list` prints
/// the handler names (the local runner checks the ASL against them before a run);
/// `--contract` the SDK's time bound and the error names (`make lint` checks the ASL).
pub async fn dispatch() -> Result<(), Error> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--list") {
        println!("{}", handlers().join("\n"));
        return Ok(());
    }
    if arg.as_deref() == Some("--contract") {
        println!("{}", crate::sdk_policy::contract());
        return Ok(());
    }
    let name = arg
        .or_else(|| std::env::var("_HANDLER").ok())
        .ok_or("no handler: set _HANDLER (the function's Handler) or pass it as argument")?;
    init_tracing();
    if name == VENDING_HANDLER {
        return crate::vending::main().await;
    }
    let step = Step::from_binary(&name)
        .ok_or_else(|| format!("unknown handler {name:?}; known: {}", handlers().join(", ")))?;
    let ctx = Context {
        base: load_base_config().await,
    };
    serve(|input| run(step, &ctx, input)).await
}

/// Serves a handler: under Lambda through the Runtime API; elsewhere once, on the JSON
/// event read from stdin, answering on stdout with `{"ok": output}` or
/// `{"errorType": name, "errorMessage": text}` (the shape Lambda reports errors in).
pub async fn serve<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, StepError>>,
{
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let handler = &handler;
        return lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            handler(event.payload)
        }))
        .await;
    }
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw)?;
    let input: Value = serde_json::from_str(&raw)?;
    let answer = match handler(input).await {
        Ok(output) => json!({ "ok": output }),
        Err(err) => json!({ "errorType": err.name(), "errorMessage": err.to_string() }),
    };
    println!("{answer}");
    Ok(())
}
