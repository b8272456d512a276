//! `runner bench models`: a training step and an inference forward of each phase's model.

use std::process::Command;

use clap::Args;

use echo_runner::bench::{self, ModelBench};

use super::print_lines;
use super::workload::ModelBenchArgs;
use crate::cli::error::{CliError, FAILED};

#[derive(Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    models: ModelBenchArgs,
    /// Timed repetitions after one warm-up (the median is printed).
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

pub fn models(args: ModelsArgs) -> Result<(), CliError> {
    let options = args.models.workload(args.reps)?;
    if options.models.len() > 1 {
        return each_apart(&options);
    }
    print_lines(|emit| bench::models(&options, emit))
}

/// Each model in a process of its own: the allocator keeps what a model freed (see main.rs),
/// which would count in the next model's peak memory. Each process gets this one's arguments
/// with `--models` narrowed to its model, so every other flag travels as given; the first
/// that does not succeed ends the command with its status, having said why itself.
fn each_apart(options: &ModelBench) -> Result<(), CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::failed(format!(
            "cannot find this runner's executable to run each model apart: {e}"
        ))
    })?;
    let mut args = std::env::args_os().skip(1);
    let mut others = Vec::new();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--models") => drop(args.next()),
            Some(a) if a.starts_with("--models=") => {}
            _ => others.push(arg),
        }
    }
    for model in &options.models {
        let status = Command::new(&exe)
            .args(&others)
            .args(["--models", model.name()])
            .status()
            .map_err(|e| CliError::failed(format!("cannot run {}: {e}", exe.display())))?;
        if !status.success() {
            let code = status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(FAILED);
            return Err(CliError::Reported(code));
        }
    }
    Ok(())
}
