//! `runner status`: where a run stands.

use std::path::PathBuf;

use clap::Args;

use echo_runner::results;
use echo_runner::results::view::{ViewError, locate};
use echo_runner::sweep::{self, MemberState, Sweep};

use super::Layering;
use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct StatusArgs {
    /// A result directory, or an experiment file (its directory is found by hash).
    #[arg(value_name = "CONFIG_OR_RESULT_DIR")]
    input: PathBuf,
    #[command(flatten)]
    layering: Layering,
}

pub fn status(args: StatusArgs) -> Result<(), CliError> {
    if sweep::is_sweep_file(&args.input) {
        let sweep = args.layering.load_sweep(&args.input, false)?;
        return sweep_status(&sweep);
    }
    let dir = match locate(&args.input, &args.layering.overrides()) {
        Ok(dir) => dir,
        Err(ViewError::NotRun { config, dir }) => {
            return writeln!(
                Stdout,
                "{}: not started (no result directory {} yet)",
                config.display(),
                dir.display()
            );
        }
        Err(e) => return Err(e.into()),
    };
    write!(Stdout, "{}", results::status::status(&dir)?)
}

/// One line per member: its number, label, hash and where it stands.
fn sweep_status(sweep: &Sweep) -> Result<(), CliError> {
    let mut out = Stdout;
    let n = sweep.members.len();
    let states: Vec<MemberState> =
        sweep.members.iter().map(|m| MemberState::of(&m.dir())).collect();
    let done = states.iter().filter(|s| s.is_done()).count();
    writeln!(
        out,
        "sweep {}: {done} of {n} members done; record {}",
        sweep.name,
        sweep.dir().display()
    )?;
    for (m, state) in sweep.members.iter().zip(&states) {
        writeln!(
            out,
            "{:>3}  {}  {}  {state}  {}",
            m.index,
            &m.loaded.hash.digest[..12],
            m.label(),
            m.dir().display()
        )?;
    }
    Ok(())
}
