//! How a command ends when it does not succeed, and the one place that turns it into the
//! process's exit status:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done; also when standard output closes early (`runner report … \| head`) |
//! | 1 | failed |
//! | 2 | invalid input: an experiment or the command line (clap's own errors too) |
//! | 3 | the result directory is held by another process (`run --no-wait`) |
//! | 74 | a fault of the machine (I/O error, full disk, failing lock); nothing of the experiment failed and the same command resumes |
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
use echo_runner::io_retry::EXIT_ENVIRONMENT;
use echo_runner::results::view::ViewError;
use echo_runner::run::RunError;

/// Exit status of a command that could not do its work.
pub const FAILED: u8 = 1;
/// Exit status for invalid input: a bad experiment or command line.
pub const INVALID: u8 = 2;
/// Tries of writing an error message to a failing standard error.
const REPORT_TRIES: usize = 5;

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
    /// Writing standard output failed (a closed pipe aside: a fault of the machine).
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
            CliError::Failed(_) => FAILED,
            CliError::Stdout(_) => EXIT_ENVIRONMENT,
            CliError::Run(e) => e.exit_code(),
            CliError::View(e) => e.exit_code(),
            CliError::Slurm(e) => e.exit_code(),
            CliError::Reported(status) => *status,
        }
    }

    /// Says on standard error what went wrong (nothing when it has been said). Standard
    /// error may be failing too (a fault of the machine): the message is tried a few times,
    /// and where it cannot be written the status alone says it.
    pub fn report(&self) {
        let text = match self {
            CliError::Invalid(m) | CliError::Failed(m) => format!("error: {m}\n"),
            CliError::Config { file, diagnostics } => format!(
                "{diagnostics}\n{}: {} error(s); nothing was written\n",
                file.display(),
                diagnostics.len()
            ),
            CliError::Run(e) => match e.fault() {
                Some(fault) => format!("error: {e}\n({})\n", fault.hint()),
                None => format!("error: {e}\n"),
            },
            CliError::View(e) => format!("error: {e}\n"),
            CliError::Slurm(e) => format!("error: {e}\n"),
            CliError::Reported(_) => return,
            CliError::Stdout(e) => format!(
                "error: cannot write to standard output: {e} (a fault of the machine: what \
                 was written to files stands, and the same command resumes)\n"
            ),
        };
        let mut err = io::stderr();
        for _ in 0..REPORT_TRIES {
            if err.write_all(text.as_bytes()).is_ok() {
                return;
            }
        }
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
