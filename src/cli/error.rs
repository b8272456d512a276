//! How a command ends when it does not succeed, and the one place that turns it into the
//! process's exit status:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done; also when standard output closes early (`runner report … \| head`) |
//! | 1 | failed |
//! | 2 | invalid input: an experiment or the command line (clap's own errors too) |
//! | 3 | the result directory is held by another process (`run --no-wait`) |
//! | 75 | stopped with a checkpoint (`--max-wall`, a signal); the same command resumes |
//!
//! The library's errors say which of these they are (`exit_code`); `bench models` over
//! several models ends with the status of the first model's process that did not succeed.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use echo_runner::config::Diagnostics;
use echo_runner::hpc::SlurmError;
use echo_runner::results::view::ViewError;
use echo_runner::run::RunError;

/// Exit status of a command that could not do its work.
pub const FAILED: u8 = 1;
/// Exit status for invalid input: a bad experiment or command line.
pub const INVALID: u8 = 2;

#[derive(Debug)]
pub enum CliError {
    /// Invalid input, in one message.
    Invalid(String),
    /// The command could not do its work, in one message.
    Failed(String),
    /// An experiment that does not load or check, with every problem found in it.
    Config {
        file: PathBuf,
        diagnostics: Diagnostics,
    },
    Run(RunError),
    View(ViewError),
    Slurm(SlurmError),
    /// The command has printed everything it had to say (each failed input, a resumable
    /// stop, a child process's own errors) and ends with this status.
    Reported(u8),
    /// Writing standard output failed.
    Stdout(io::Error),
}

impl CliError {
    pub fn invalid(message: impl fmt::Display) -> Self {
        CliError::Invalid(message.to_string())
    }

    pub fn failed(message: impl fmt::Display) -> Self {
        CliError::Failed(message.to_string())
    }

    /// Whether the reader of standard output went away (`| head`): the command then ends
    /// quietly, with status 0, as a command that writes to a pipe is expected to.
    fn closed_pipe(&self) -> bool {
        matches!(self, CliError::Stdout(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// The process's exit status for this error.
    fn status(&self) -> u8 {
        match self {
            CliError::Invalid(_) | CliError::Config { .. } => INVALID,
            CliError::Failed(_) | CliError::Stdout(_) => FAILED,
            CliError::Run(e) => e.exit_code(),
            CliError::View(e) => e.exit_code(),
            CliError::Slurm(e) => e.exit_code(),
            CliError::Reported(status) => *status,
        }
    }

    /// Says on standard error what went wrong (nothing when it has been said).
    pub fn report(&self) {
        let message = match self {
            CliError::Invalid(m) | CliError::Failed(m) => m.clone(),
            CliError::Config { file, diagnostics } => {
                eprintln!("{diagnostics}");
                eprintln!(
                    "{}: {} error(s); nothing was written",
                    file.display(),
                    diagnostics.len()
                );
                return;
            }
            CliError::Run(e) => e.to_string(),
            CliError::View(e) => e.to_string(),
            CliError::Slurm(e) => e.to_string(),
            CliError::Reported(_) => return,
            CliError::Stdout(e) => format!("cannot write to standard output: {e}"),
        };
        eprintln!("error: {message}");
    }
}

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        CliError::Run(e)
    }
}

impl From<ViewError> for CliError {
    fn from(e: ViewError) -> Self {
        CliError::View(e)
    }
}

impl From<SlurmError> for CliError {
    fn from(e: SlurmError) -> Self {
        CliError::Slurm(e)
    }
}

/// Ends the command: flushes standard output, says what went wrong and gives the status.
pub fn exit(result: Result<(), CliError>) -> ExitCode {
    let flushed = || io::stdout().flush().map_err(CliError::Stdout);
    match result.and_then(|()| flushed()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.closed_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.status())
        }
    }
}
