//! `runner plot`: (re)draw the figures of result directories.

use std::path::{Path, PathBuf};

use clap::Args;

use echo_runner::config::Overrides;
use echo_runner::results;
use echo_runner::results::view::locate;

use super::Layering;
use super::error::{CliError, FAILED};
use super::output::Stdout;

#[derive(Args)]
pub struct PlotArgs {
    /// Result directories (or experiment files).
    #[arg(required = true, value_name = "CONFIG_OR_RESULT_DIR")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    layering: Layering,
}

/// Draws every input it can, saying what is wrong with the others; fails when any fails.
pub fn plot(args: PlotArgs) -> Result<(), CliError> {
    let overrides = args.layering.overrides();
    let mut ok = true;
    for input in &args.inputs {
        match plot_one(input, &overrides) {
            Ok(()) => {}
            Err(e @ CliError::Stdout(_)) => return Err(e),
            Err(e) => {
                e.report();
                ok = false;
            }
        }
    }
    if ok { Ok(()) } else { Err(CliError::Reported(FAILED)) }
}

fn plot_one(input: &Path, overrides: &Overrides) -> Result<(), CliError> {
    let dir = locate(input, overrides).map_err(CliError::failed)?;
    let written = results::plots::write_all_plots(&dir).map_err(CliError::failed)?;
    writeln!(Stdout, "{}: {} files written", dir.display(), written.files.len())?;
    for s in written.skipped {
        eprintln!("note: {s}");
    }
    Ok(())
}
