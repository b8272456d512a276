//! `runner run`: an experiment into its result directory; or a sweep, member by member, into
//! theirs, ending with the sweep's table.

use std::io::Write as _;
use std::time::Duration;

use clap::Args;

use echo_runner::results::report::{self, Format, Report, ReportOptions};
use echo_runner::run::{self as pipeline, RunOptions};
use echo_runner::sweep::{self, REPORT_HTML, REPORT_MD, Sweep, SweepOptions};
use echo_runner::train::stop::parse_wall;

use super::error::CliError;
use super::output::Stdout;
use super::{ConfigArgs, Target};

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    experiment: ConfigArgs,
    /// Run the experiment at every value of KEY (repeatable: every combination), as a sweep:
    /// `--grid experiment.seed=1,2,3`. Values are read as --set reads them.
    #[arg(long = "grid", value_name = "KEY=V1,V2,…")]
    grid: Vec<String>,
    /// Run only this fold (0-based).
    #[arg(long, value_name = "K")]
    fold: Option<u32>,
    /// Start over: discard what the result directory holds from earlier runs (with --fold,
    /// only that fold's).
    #[arg(long)]
    force: bool,
    /// Take up again folds that failed in an earlier run, from their last checkpoint.
    #[arg(long)]
    retry_failed: bool,
    /// Stop resumably (checkpoint, exit 75) before this much wall time has passed:
    /// `11h30m`, `90m`, or SLURM's `HH:MM:SS` / `D-HH:MM`. For a sweep, the whole sweep's.
    #[arg(long, value_name = "TIME", value_parser = parse_wall)]
    max_wall: Option<Duration>,
    /// Exit at once (code 3) when another process holds the result directory; in a sweep,
    /// leave such members to that process.
    #[arg(long)]
    no_wait: bool,
    /// In a sweep: stop at the first member that fails (else go on with the others).
    #[arg(long)]
    fail_fast: bool,
}

/// Runs the experiment; a resumable stop prints what was done and ends with 75.
pub fn run(args: RunArgs) -> Result<(), CliError> {
    let target = if args.grid.is_empty() {
        args.experiment.target(true)?
    } else if args.experiment.member.is_some() || sweep::is_sweep_file(&args.experiment.file) {
        return Err(CliError::invalid("--grid takes one experiment file, not a sweep file"));
    } else {
        Target::Sweep(args.experiment.layering.load_grid(
            &args.experiment.file,
            &args.grid,
            true,
        )?)
    };
    let loaded = match target {
        Target::One(loaded) => loaded,
        Target::Sweep(sweep) => return run_sweep(&args, &sweep),
    };
    let options = RunOptions {
        fold: args.fold,
        force: args.force,
        retry_failed: args.retry_failed,
        max_wall: args.max_wall,
        wait: !args.no_wait,
        argv: std::env::args().collect(),
        stop: None,
    };
    let outcome = pipeline::run(&loaded, &options)?;
    writeln!(Stdout, "{outcome}")?;
    match outcome.exit_code() {
        0 => Ok(()),
        status => Err(CliError::Reported(status)),
    }
}

/// Every member in order, then the table of those with results, printed and written into the
/// sweep's directory.
fn run_sweep(args: &RunArgs, sweep: &Sweep) -> Result<(), CliError> {
    if args.fold.is_some() || args.force {
        return Err(CliError::invalid(
            "--fold and --force take one experiment: with a sweep, add --member I",
        ));
    }
    let options = SweepOptions {
        fail_fast: args.fail_fast,
        retry_failed: args.retry_failed,
        max_wall: args.max_wall,
        wait: !args.no_wait,
        argv: std::env::args().collect(),
    };
    let n = sweep.members.len();
    let mut out = Stdout;
    writeln!(out, "sweep {}: {n} member(s); its record: {}", sweep.name, sweep.dir().display())?;
    let mut say = |text: &str| {
        let mut stdout = std::io::stdout();
        for line in text.lines() {
            writeln!(stdout, "[sweep {}] {line}", sweep.name)?;
        }
        stdout.flush()
    };
    let outcome = sweep::run(sweep, &options, &mut say).map_err(CliError::failed)?;
    let dirs: Vec<_> = sweep.members.iter().map(|m| m.dir()).filter(|d| d.exists()).collect();
    let options = ReportOptions {
        baseline: sweep.baseline.map(|i| sweep.members[i].dir()).filter(|d| d.exists()),
        ..ReportOptions::new()
    };
    let table = Report::build(&dirs, &args.experiment.layering.overrides(), &options);
    if table.has_figures() {
        let text = report::render(&table, Format::Md);
        for (name, format) in [(REPORT_MD, Format::Md), (REPORT_HTML, Format::Html)] {
            let path = sweep.dir().join(name);
            report::write(&path, &report::render(&table, format)).map_err(CliError::failed)?;
        }
        writeln!(out, "\n{text}")?;
        writeln!(out, "table written to {}", sweep.dir().join(REPORT_MD).display())?;
    }
    let failed = outcome.failed();
    match outcome.exit_code() {
        0 => {
            writeln!(out, "sweep {}: every member is done", sweep.name)?;
            Ok(())
        }
        status => {
            if let Some(reason) = &outcome.stopped {
                writeln!(
                    out,
                    "sweep {}: stopped ({reason}); rerun the same command to resume",
                    sweep.name
                )?;
            } else if failed > 0 {
                writeln!(out, "sweep {}: {failed} member(s) failed (see above)", sweep.name)?;
            } else {
                writeln!(
                    out,
                    "sweep {}: members held by another process were left to it",
                    sweep.name
                )?;
            }
            Err(CliError::Reported(status))
        }
    }
}
