//! `runner schema`: the JSON Schema of experiment files.

use echo_runner::config;

use super::error::CliError;
use super::output::Stdout;

pub fn schema() -> Result<(), CliError> {
    write!(Stdout, "{}", config::schema_text())
}
