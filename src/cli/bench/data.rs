//! `runner bench data`: AVI decoding, cache preparation and cache reads.

use clap::Args;

use echo_runner::bench::{self, DataBench};

use crate::cli::error::CliError;
use crate::cli::output::Stdout;

#[derive(Args)]
pub struct DataArgs {
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    videos: u32,
    #[arg(long, default_value_t = 112, value_parser = clap::value_parser!(u32).range(16..=1024))]
    size: u32,
    /// Frames per clip read from the cache (at most the generated videos' 28).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=28))]
    frames: u64,
    /// Clips read per measurement.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..))]
    reads: u64,
}

pub fn data(args: DataArgs) -> Result<(), CliError> {
    let scratch = std::env::temp_dir().join(format!("echo-runner-bench-{}", std::process::id()));
    let options = DataBench {
        videos: args.videos,
        size: args.size,
        clip_frames: args.frames as usize,
        reads: args.reads as usize,
        scratch,
    };
    for line in bench::data(&options).map_err(CliError::failed)? {
        writeln!(Stdout, "{line}")?;
    }
    Ok(())
}
