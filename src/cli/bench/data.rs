//! `runner bench data`: AVI decoding, cache preparation and cache reads.

use clap::Args;

use echo_runner::bench::{self, DataBench};

use crate::cli::error::CliError;
use crate::cli::output::Stdout;

#[derive(Args)]
pub struct DataArgs {
    #[arg(long, default_value_t = 64)]
    videos: u32,
    #[arg(long, default_value_t = 112)]
    size: u32,
    /// Frames per clip read from the cache.
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Clips read per measurement.
    #[arg(long, default_value_t = 4000)]
    reads: usize,
}

pub fn data(args: DataArgs) -> Result<(), CliError> {
    let scratch = std::env::temp_dir().join(format!("echo-runner-bench-{}", std::process::id()));
    let options = DataBench {
        videos: args.videos,
        size: args.size,
        clip_frames: args.frames,
        reads: args.reads,
        scratch,
    };
    for line in bench::data(&options).map_err(CliError::failed)? {
        writeln!(Stdout, "{line}")?;
    }
    Ok(())
}
