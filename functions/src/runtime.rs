//! How a function binary runs: under Lambda (the Runtime API) or locally (one JSON event
//! on stdin, one JSON answer on stdout). Both call the same handler.

use std::future::Future;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::accounts::load_base_config;
use crate::error::StepError;
use crate::steps::{Context, Step, run};
use crate::{program, recover, vending};

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

/// Every handler name the binary answers to: the steps, the program's functions, then the
/// vending function and the watcher.
pub fn handlers() -> Vec<&'static str> {
    Step::ALL
        .iter()
        .map(|s| s.binary())
        .chain(program::handlers::HANDLERS)
        .chain([VENDING_HANDLER, recover::RECOVER_HANDLER])
        .collect()
}

/// `sdk_policy::contract` and `watch`: per function (binary) that watches, its longest
/// watch in one invocation (seconds) and the calls of its last look ([`Step::watch`]).
pub fn contract() -> serde_json::Value {
    let mut contract = crate::sdk_policy::contract();
    contract["watch"] = Step::ALL
        .iter()
        .filter_map(|s| s.watch().map(|w| (s, w)))
        .map(|(s, w)| {
            let entry = json!({"seconds": w.seconds, "calls": w.calls});
            (s.binary().to_string(), entry)
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    contract
}

/// The whole `main` of the Lambda binary: picks the handler from `_HANDLER` (Lambda) or
/// the first argument, builds config and clients once, then serves it. `--list` prints
/// the handler names (the local runner checks the ASL against them before a run);
/// `--contract` the SDK's time bound, the error names and each watching function's watch
/// (`make lint` checks the ASL and the template against them).
pub async fn dispatch() -> Result<(), Error> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--list") {
        println!("{}", handlers().join("\n"));
        return Ok(());
    }
    if arg.as_deref() == Some("--contract") {
        println!("{}", contract());
        return Ok(());
    }
    let name = arg
        .or_else(|| std::env::var("_HANDLER").ok())
        .ok_or("no handler: set _HANDLER (the function's Handler) or pass it as argument")?;
    init_tracing();
    if name == VENDING_HANDLER {
        // Config and clients once per process; the vending module knows nothing of Lambda.
        let config = vending::VendingConfig::from_env()?;
        let clients = vending::VendingClients::new(&load_base_config().await);
        return serve(|event| async {
            let out = vending::handle(&clients, &config, event).await?;
            serde_json::to_value(out)
                .map_err(|e| StepError::ResourceFailed(format!("output does not serialize: {e}")))
        })
        .await;
    }
    if name == recover::RECOVER_HANDLER {
        let ctx = Context {
            base: load_base_config().await,
        };
        let config = recover::RecoverConfig::from_env();
        let clients = recover::RecoverClients::new(&ctx.base);
        return serve(|event| async {
            let out = recover::handle(&ctx, &clients, &config, event).await?;
            serde_json::to_value(out)
                .map_err(|e| StepError::ResourceFailed(format!("output does not serialize: {e}")))
        })
        .await;
    }
    if program::handlers::HANDLERS.contains(&name.as_str()) {
        let ctx = Context {
            base: load_base_config().await,
        };
        return serve(|input| {
            let (ctx, name) = (&ctx, name.as_str());
            async move { program::handlers::run(name, ctx, input).await }
        })
        .await;
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
            within_deadline(Some(event.context.deadline), handler(event.payload))
        }))
        .await;
    }
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw)?;
    let input: Value = serde_json::from_str(&raw)?;
    // The local runner passes the deadline it enforces, as Lambda's Runtime API does.
    let deadline = std::env::var("CARVEOUT_DEADLINE_MS")
        .ok()
        .and_then(|d| d.parse().ok());
    let answer = match within_deadline(deadline, handler(input)).await {
        Ok(output) => json!({ "ok": output }),
        Err(err) => json!({ "errorType": err.name(), "errorMessage": err.to_string() }),
    };
    println!("{answer}");
    Ok(())
}

/// Left for answering when a step gives up before the function's deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// Runs a step until `DEADLINE_MARGIN` before the invocation's deadline (epoch ms), then
/// answers `CarveOut.NotReady` instead of being killed by the Lambda timeout: a step of
/// several AWS calls can outlast the function under throttling even though each call is
/// bounded (`sdk_policy`). The state retries it; every step is idempotent, so what was
/// done is found, not done twice.
pub async fn within_deadline<Fut>(deadline_ms: Option<u64>, step: Fut) -> Result<Value, StepError>
where
    Fut: Future<Output = Result<Value, StepError>>,
{
    let Some(deadline_ms) = deadline_ms else {
        return step.await;
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let budget = left.saturating_sub(DEADLINE_MARGIN);
    match tokio::time::timeout(budget, step).await {
        Ok(answer) => answer,
        Err(_) => Err(StepError::NotReady(format!(
            "the step did not finish within {} s of the function's time; the state retries it",
            budget.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now() + d)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[tokio::test]
    async fn a_step_that_would_outlast_the_function_answers_not_ready() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Value::Null)
        };
        let deadline = epoch_ms_in(DEADLINE_MARGIN + Duration::from_millis(50));
        let err = within_deadline(Some(deadline), slow).await.unwrap_err();
        assert_eq!(err.name(), crate::error::NOT_READY);
    }

    #[tokio::test]
    async fn a_step_in_time_answers_itself() {
        let quick = async { Ok(Value::Bool(true)) };
        let deadline = epoch_ms_in(Duration::from_secs(60));
        assert_eq!(
            within_deadline(Some(deadline), quick).await,
            Ok(Value::Bool(true))
        );
        let without = async { Ok(Value::Bool(false)) };
        assert_eq!(within_deadline(None, without).await, Ok(Value::Bool(false)));
    }
}
