//! `runner fetch-echonet`: download and extract EchoNet-Dynamic.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use echo_runner::data::fetch::{self, FetchError, FetchOptions};

use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct FetchArgs {
    /// Blob URL of EchoNet-Dynamic.zip, without the SAS token.
    #[arg(long)]
    url: String,
    /// Folder to download and extract into.
    #[arg(long)]
    out: PathBuf,
}

pub fn fetch_echonet(args: FetchArgs) -> Result<(), CliError> {
    let options = FetchOptions {
        url: args.url,
        out: args.out,
        sas_token: std::env::var(fetch::SAS_TOKEN_VAR).ok().filter(|t| !t.is_empty()),
        progress: std::io::stderr().is_terminal(),
    };
    let folder = fetch::fetch_echonet(&options).map_err(|e| match e {
        FetchError::TokenInUrl { .. } => CliError::invalid(e),
        e => CliError::failed(e),
    })?;
    writeln!(Stdout, "EchoNet-Dynamic is in {}", folder.display())
}
