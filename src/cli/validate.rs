//! `runner validate`: check experiment files and print what they resolve to.

use std::path::{Path, PathBuf};

use clap::Args;

use echo_runner::config::Loaded;
use echo_runner::sweep::Sweep;
use echo_runner::{model, results};

use super::error::{CliError, INVALID};
use super::output::Stdout;
use super::{Layering, Target};

#[derive(Args)]
pub struct ValidateArgs {
    /// Experiment files (TOML), or sweep files (every member is checked).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// With a sweep file: check its member I alone (0-based).
    #[arg(long, value_name = "I")]
    member: Option<usize>,
    #[command(flatten)]
    layering: Layering,
    /// Print the fully resolved experiment as TOML.
    #[arg(long)]
    print_resolved: bool,
    /// Print the experiment's hash and the result directory it maps to.
    #[arg(long)]
    print_hash: bool,
    /// Print the model's total and trainable parameters and forward GFLOPs per clip.
    #[arg(long)]
    print_model: bool,
    /// Also check what `runner run` would hit at its start on this machine: the backend,
    /// the pretrained weights, the dataset folder, the output folders (writes nothing).
    #[arg(long)]
    for_run: bool,
}

/// Checks every file, saying what is wrong with each; fails (2) when any is invalid.
pub fn validate(args: ValidateArgs) -> Result<(), CliError> {
    let mut all_valid = true;
    for file in &args.files {
        let shown =
            args.layering.target(file, args.member, args.for_run).and_then(|target| match target {
                Target::One(loaded) => show(&args, file, &loaded),
                Target::Sweep(sweep) => show_sweep(&args, file, &sweep),
            });
        match shown {
            Ok(()) => {}
            Err(e @ CliError::Stdout(_)) => return Err(e),
            Err(e) => {
                e.report();
                all_valid = false;
            }
        }
    }
    if all_valid { Ok(()) } else { Err(CliError::Reported(INVALID)) }
}

/// What `--print-*` asks for of one valid experiment, or `FILE: ok`.
fn show(args: &ValidateArgs, file: &Path, loaded: &Loaded) -> Result<(), CliError> {
    let mut out = Stdout;
    if args.print_resolved {
        write!(out, "{}", loaded.resolved_toml())?;
    }
    if args.print_hash {
        let dir = results::dir_path(loaded);
        writeln!(out, "{} {}", loaded.hash.digest, dir.display())?;
    }
    if args.print_model {
        let exp = &loaded.experiment;
        let frames = exp.data.clip.frames as usize;
        match model::summary(&exp.model, exp.data.resize as usize, frames) {
            Ok(m) => writeln!(
                out,
                "model: {} parameters, {} trainable; {:.2} GFLOPs per {frames}-frame clip at {}×{}",
                m.total_params,
                m.trainable_params,
                m.gflops_per_clip,
                exp.data.resize,
                exp.data.resize
            )?,
            Err(violations) => {
                for v in violations {
                    eprintln!("error: {}: {v}", file.display());
                }
                return Err(CliError::Reported(INVALID));
            }
        }
    }
    if !args.print_resolved && !args.print_hash && !args.print_model {
        writeln!(out, "{}: ok{}", file.display(), ready(args))?;
    }
    Ok(())
}

/// A valid sweep: each member's hash and directory with `--print-hash`, else `FILE: ok`.
fn show_sweep(args: &ValidateArgs, file: &Path, sweep: &Sweep) -> Result<(), CliError> {
    let mut out = Stdout;
    if args.print_resolved || args.print_model {
        return Err(CliError::invalid(
            "--print-resolved and --print-model take one experiment: with a sweep, add --member I",
        ));
    }
    if args.print_hash {
        for m in &sweep.members {
            writeln!(out, "{} {}", m.loaded.hash.digest, m.dir().display())?;
        }
        return Ok(());
    }
    let n = sweep.members.len();
    writeln!(out, "{}: ok (a sweep of {n} members){}", file.display(), ready(args))
}

fn ready(args: &ValidateArgs) -> &'static str {
    if args.for_run { ", ready to run here" } else { "" }
}
