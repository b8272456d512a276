//! Standard output for the commands. Every write can fail (a full disk, a closed pipe) and the
//! failure travels as a [`CliError`] rather than a panic: `writeln!(out, …)?`.

use std::fmt;
use std::io::{self, Write};

use super::error::CliError;

/// Standard output, locked for each write only (a command may run for hours between lines).
pub struct Stdout;

impl Stdout {
    /// What `write!` and `writeln!` call.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), CliError> {
        io::stdout().write_fmt(args).map_err(CliError::Stdout)
    }
}
