//! `runner track`: (re)send result directories to an MLflow server, each fold as a run,
//! sending only what the server lacks (a second call sends nothing).

use std::path::{Path, PathBuf};

use clap::Args;

use echo_runner::results::view::locate;
use echo_runner::sweep::is_sweep_file;
use echo_runner::track::mlflow;

use super::Layering;
use super::error::{CliError, FAILED};
use super::output::Stdout;

#[derive(Args)]
pub struct TrackArgs {
    /// Result directories, folders of them (`results/`), experiment files or sweep files
    /// (their members' directories).
    #[arg(required = true, value_name = "RESULT_DIR_OR_SWEEP")]
    inputs: Vec<PathBuf>,
    /// The MLflow tracking server (`http://host:5000`); its token is read from
    /// MLFLOW_TRACKING_TOKEN.
    #[arg(long, value_name = "URL", env = mlflow::URI_VAR)]
    mlflow: String,
    #[command(flatten)]
    layering: Layering,
}

/// Sends every result directory the inputs name; fails when any could not be sent whole.
pub fn track(args: TrackArgs) -> Result<(), CliError> {
    mlflow::check_url(&args.mlflow).map_err(CliError::invalid)?;
    let mut ok = true;
    for input in &args.inputs {
        let dirs = match result_dirs(input, &args.layering) {
            Ok(dirs) => dirs,
            Err(e) => {
                e.report();
                ok = false;
                continue;
            }
        };
        for dir in dirs {
            match mlflow::replay(&args.mlflow, &dir) {
                Ok(lines) => {
                    for line in lines {
                        writeln!(Stdout, "{line}")?;
                    }
                }
                Err(e) => {
                    CliError::failed(e).report();
                    ok = false;
                }
            }
        }
    }
    if ok { Ok(()) } else { Err(CliError::Reported(FAILED)) }
}

/// The result directories an input names.
fn result_dirs(input: &Path, layering: &Layering) -> Result<Vec<PathBuf>, CliError> {
    if is_sweep_file(input) {
        let sweep = layering.load_sweep(input, false)?;
        return Ok(sweep.members.iter().map(|m| m.dir()).filter(|d| d.is_dir()).collect());
    }
    if input.is_dir() && locate(input, &layering.overrides()).is_err() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| CliError::failed(format!("{}: {e}", input.display())))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| locate(p, &layering.overrides()).is_ok())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(CliError::failed(format!(
                "{}: neither a result directory nor a folder holding any",
                input.display()
            )));
        }
        return Ok(dirs);
    }
    Ok(vec![locate(input, &layering.overrides())?])
}
