//! `runner run`: an experiment into its result directory.

use std::time::Duration;

use clap::Args;

use echo_runner::run::{self as pipeline, RunOptions};
use echo_runner::train::stop::parse_wall;

use super::ConfigArgs;
use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    experiment: ConfigArgs,
    /// Run only this fold (0-based).
    #[arg(long, value_name = "K")]
    fold: Option<u32>,
    /// Start over: discard what the result directory holds from earlier runs (with --fold,
    /// only that fold's).
    #[arg(long)]
    force: bool,
    /// Take up again folds that failed in an earlier run, from their last checkpoint.
    #[arg(long)]
    retry_failed: bool,
    /// Stop resumably (checkpoint, exit 75) before this much wall time has passed:
    /// `11h30m`, `90m`, or SLURM's `HH:MM:SS` / `D-HH:MM`.
    #[arg(long, value_name = "TIME", value_parser = parse_wall)]
    max_wall: Option<Duration>,
    /// Exit at once (code 3) when another process holds the result directory.
    #[arg(long)]
    no_wait: bool,
}

/// Runs the experiment; a resumable stop prints what was done and ends with 75.
pub fn run(args: RunArgs) -> Result<(), CliError> {
    let loaded = args.experiment.load(true)?;
    let options = RunOptions {
        fold: args.fold,
        force: args.force,
        retry_failed: args.retry_failed,
        max_wall: args.max_wall,
        wait: !args.no_wait,
        argv: std::env::args().collect(),
    };
    let outcome = pipeline::run(&loaded, &options)?;
    writeln!(Stdout, "{outcome}")?;
    match outcome.exit_code() {
        0 => Ok(()),
        status => Err(CliError::Reported(status)),
    }
}
