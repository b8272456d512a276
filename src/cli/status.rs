//! `runner status`: where a run stands.

use std::path::PathBuf;

use clap::Args;

use echo_runner::results;
use echo_runner::results::view::{ViewError, locate};

use super::Layering;
use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct StatusArgs {
    /// A result directory, or an experiment file (its directory is found by hash).
    #[arg(value_name = "CONFIG_OR_RESULT_DIR")]
    input: PathBuf,
    #[command(flatten)]
    layering: Layering,
}

pub fn status(args: StatusArgs) -> Result<(), CliError> {
    let dir = match locate(&args.input, &args.layering.overrides()) {
        Ok(dir) => dir,
        Err(ViewError::NotRun { config, dir }) => {
            return writeln!(
                Stdout,
                "{}: not started (no result directory {} yet)",
                config.display(),
                dir.display()
            );
        }
        Err(e) => return Err(e.into()),
    };
    write!(Stdout, "{}", results::status::status(&dir)?)
}
