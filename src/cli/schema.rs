//! `runner schema`: the JSON Schema of experiment files, or of sweep files.

use clap::Args;

use echo_runner::{config, sweep};

use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct SchemaArgs {
    /// The schema of sweep files (`schemas/sweep.schema.json`).
    #[arg(long)]
    sweep: bool,
}

pub fn schema(args: SchemaArgs) -> Result<(), CliError> {
    let text = if args.sweep { sweep::schema_text() } else { config::schema_text() };
    write!(Stdout, "{text}")
}
