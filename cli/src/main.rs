//! The carveout command line.

mod local;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "carveout",
    version,
    about = "Move an EC2-hosted service into its own AWS account; the ALB stays where it is."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the real state machine locally: every Task runs the real Rust step against the
    /// endpoint (the local emulator by default). Progress on stderr, output JSON on stdout.
    ///
    /// Example: carveout local --plan plan.json --endpoint http://127.0.0.1:5000
    Local(local::LocalArgs),
    /// Print the plan's JSON Schema.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Local(args) => local::run(args),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&carveout::plan::schema()).expect("schema serializes")
            );
            ExitCode::SUCCESS
        }
    }
}

/// The repository root: where the ASL file and the local runner live.
pub fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("CARVEOUT_ROOT") {
        return PathBuf::from(root);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    for dir in cwd.ancestors() {
        if dir.join("statemachine/carveout.asl.json").exists() {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
