//! `runner bench`: throughput measurements, one JSON line each.

mod data;
mod models;
mod steps;
pub(super) mod workload;

use clap::Subcommand;

use super::error::CliError;
use super::output::Stdout;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// AVI decoding, cache preparation and cache reads, on generated videos.
    Data(data::DataArgs),
    /// A training step (forward, backward, AdamW) and an inference forward of each phase's
    /// model on random clips: one JSON line per model in the shape of the PyTorch reference
    /// (src/bench/torch_reference.py), plus the peak resident memory.
    Models(models::ModelsArgs),
    /// The first training steps on `--backend` beside the same steps on the CPU (same
    /// weights, same batch, no random layers): one JSON line per model with both losses.
    Steps(steps::StepsArgs),
}

pub fn bench(what: BenchCommand) -> Result<(), CliError> {
    match what {
        BenchCommand::Data(args) => data::data(args),
        BenchCommand::Models(args) => models::models(args),
        BenchCommand::Steps(args) => steps::steps(args),
    }
}

/// Runs a benchmark that hands each JSON line to `emit` as soon as it is measured, and
/// prints them; once standard output fails, the lines left are dropped.
fn print_lines<E: std::fmt::Display>(
    run: impl FnOnce(&mut dyn FnMut(serde_json::Value)) -> Result<(), E>,
) -> Result<(), CliError> {
    let mut printed = Ok(());
    let measured = run(&mut |line| {
        if printed.is_ok() {
            printed = writeln!(Stdout, "{line}");
        }
    });
    measured.map_err(CliError::failed)?;
    printed
}
