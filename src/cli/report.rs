//! `runner report`: the results table across experiments.

use std::path::PathBuf;

use clap::Args;

use echo_runner::results::report::{
    self, DEFAULT_BOOTSTRAP, Format, Report, ReportOptions, TestModel,
};
use echo_runner::sweep;

use super::Layering;
use super::error::CliError;
use super::output::Stdout;

#[derive(Args)]
pub struct ReportArgs {
    /// Result directories, experiment files (their directories are found by hash), or sweep
    /// files (a row per member).
    #[arg(required = true, value_name = "CONFIG_OR_RESULT_DIR")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    layering: Layering,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write the report to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write a cross-experiment ROC overlay and a bar chart of the main metrics here.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Which model's test figures stand beside the CV figures.
    #[arg(long, value_enum, default_value = "best-fold")]
    test: TestModel,
    /// Resamples of the stratified bootstrap behind the test figures' 95% intervals and the
    /// paired differences (0: no bootstrap).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BOOTSTRAP)]
    bootstrap: usize,
    /// Compare every other row with this one (a result directory or an experiment file;
    /// read as the first row when not among the inputs).
    #[arg(long, value_name = "EXP_OR_DIR")]
    baseline: Option<PathBuf>,
    /// Keep rows that differ only in experiment.seed apart instead of one row per experiment.
    #[arg(long)]
    no_group: bool,
}

/// Writes the table of every input that can be read; fails when none can, or when no
/// experiment has a finished fold.
pub fn report(args: ReportArgs) -> Result<(), CliError> {
    let mut inputs = Vec::new();
    let mut baseline = args.baseline.clone();
    for input in &args.inputs {
        if sweep::is_sweep_file(input) {
            let sweep = args.layering.load_sweep(input, false)?;
            inputs.extend(sweep.members.iter().map(|m| m.dir()));
            // The sweep's baseline row, unless the command line names one.
            if baseline.is_none() {
                baseline = sweep.baseline.map(|i| sweep.members[i].dir());
            }
        } else {
            inputs.push(input.clone());
        }
    }
    let options = ReportOptions {
        test_model: args.test,
        bootstrap: args.bootstrap,
        baseline,
        group_seeds: !args.no_group,
    };
    let report = Report::build(&inputs, &args.layering.overrides(), &options);
    for problem in report.problems.iter().chain(&report.baseline_problem) {
        eprintln!("error: {problem}");
    }
    for row in &report.rows {
        for note in &row.notes {
            eprintln!("note: {}: {note}", row.experiment);
        }
    }
    if report.rows.is_empty() {
        return Err(CliError::failed("none of the inputs could be read: nothing to report"));
    }
    let text = report::render(&report, args.format);
    match &args.out {
        Some(path) => {
            report::write(path, &text).map_err(CliError::failed)?;
            eprintln!("report written to {}", path.display());
        }
        None => write!(Stdout, "{text}")?,
    }
    if let Some(dir) = &args.plots {
        let files = report.write_plots(dir).map_err(CliError::failed)?;
        eprintln!("{} plot files written to {}", files.len(), dir.display());
    }
    if !report.has_figures() {
        return Err(CliError::failed("no experiment has a finished fold yet: nothing to report"));
    }
    Ok(())
}
