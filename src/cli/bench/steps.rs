//! `runner bench steps`: the first training steps on a backend beside the CPU's.

use clap::Args;

use echo_runner::bench;

use super::print_lines;
use super::workload::ModelBenchArgs;
use crate::cli::error::CliError;

#[derive(Args)]
pub struct StepsArgs {
    #[command(flatten)]
    models: ModelBenchArgs,
    /// Optimizer steps.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
}

pub fn steps(args: StepsArgs) -> Result<(), CliError> {
    let options = args.models.workload(1)?;
    print_lines(|emit| bench::steps(&options, args.steps, args.lr, emit))
}
