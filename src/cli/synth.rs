//! `runner synth`: a synthetic EchoNet-Dynamic folder.

use std::path::PathBuf;

use clap::Args;

use echo_runner::data::synth::{self, SynthConfig};

use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct SynthArgs {
    /// Folder to write (created; files of the same names are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Number of videos.
    #[arg(long, default_value_t = SynthConfig::default().videos)]
    videos: u32,
    /// Seed of the generator: the same seed gives the same dataset.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn synth(args: SynthArgs) -> Result<(), CliError> {
    let config = SynthConfig { videos: args.videos, seed: args.seed, ..SynthConfig::default() };
    let summary = synth::generate(&config, &args.out).map_err(CliError::failed)?;
    writeln!(Stdout, "{summary}")
}
