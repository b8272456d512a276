//! `runner schema`: the JSON Schema of experiment files as written, of resolved experiments,
//! or of sweep files.

use clap::Args;

use echo_runner::{config, sweep};

use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct SchemaArgs {
    /// The schema of a resolved experiment, every default filled in (what `validate
    /// --print-resolved` prints and a result directory's config.resolved.toml holds;
    /// `schemas/experiment.resolved.schema.json`).
    #[arg(long, conflicts_with = "sweep")]
    resolved: bool,
    /// The schema of sweep files (`schemas/sweep.schema.json`).
    #[arg(long)]
    sweep: bool,
}

pub fn schema(args: SchemaArgs) -> Result<(), CliError> {
    let text = if args.sweep {
        sweep::schema_text()
    } else if args.resolved {
        config::resolved_schema_text()
    } else {
        config::file_schema_text()
    };
    write!(Stdout, "{text}")
}
