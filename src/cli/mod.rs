//! Command-line interface: one file per command, holding its arguments and its function. This
//! file holds the parser, the dispatch and the argument groups the commands share; error.rs
//! maps every way a command ends to the exit status. `runner FILE` is `runner run FILE`.

mod bench;
mod data_check;
mod error;
mod fetch_echonet;
mod output;
mod plot;
mod predict;
mod prepare;
mod report;
mod run;
mod schema;
mod slurm;
mod status;
mod synth;
mod track;
mod validate;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use echo_runner::config::{self, Experiment, Loaded, Overrides};
use echo_runner::run::preflight;
use echo_runner::sweep::{Sweep, is_sweep_file};

use error::CliError;

#[derive(Parser)]
#[command(
    name = "runner",
    version,
    about = "Declarative experiment runner for echocardiogram video classification"
)]
#[command(after_help = "`runner FILE` is short for `runner run FILE`.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an experiment into its result directory, resuming where it stopped.
    Run(run::RunArgs),
    /// Check experiment files; print nothing but errors unless asked. Writes nothing.
    Validate(validate::ValidateArgs),
    /// Print the JSON Schema of experiment files as written (of resolved experiments with
    /// --resolved, of sweep files with --sweep).
    Schema(schema::SchemaArgs),
    /// Check the experiment's dataset: FileList.csv against Videos/, frame counts, sizes,
    /// labels. Prints the data report and every problem found, whatever `data.on_bad_video`
    /// says; fails when a run would stop on them. Writes nothing (a synthetic source is
    /// generated).
    DataCheck(ConfigArgs),
    /// Decode every video once into the experiment's HDF5 clip cache (`run` does it too).
    Prepare(ConfigArgs),
    /// Generate a synthetic EchoNet-Dynamic folder (FileList.csv, VolumeTracings.csv, Videos/).
    Synth(synth::SynthArgs),
    /// Measure throughput; prints one JSON line per measurement.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Download EchoNet-Dynamic.zip from an Azure Blob URL and extract it. The SAS token is
    /// read from the environment variable ECHONET_SAS_TOKEN, never from a flag.
    FetchEchonet(fetch_echonet::FetchArgs),
    /// The results table across experiments: one row each, CV mean ± std and test figures,
    /// a column per config key that differs between them.
    Report(report::ReportArgs),
    /// Where a run stands: folds done, the fold and epoch in progress, last checkpoint, best
    /// score so far, whether a process holds the lock.
    Status(status::StatusArgs),
    /// Predict new videos with a trained experiment: P(abnormal), the label at the tuned
    /// threshold, and each frame's contribution.
    Predict(predict::PredictArgs),
    /// (Re)draw the figures of result directories (per fold and per run; PNG and SVG).
    Plot(plot::PlotArgs),
    /// Write the experiment's SLURM jobs into its result directory: an array with one task
    /// per fold (checkpoint and requeue near the time limit), then a summary job. Prints
    /// them, or submits them with --submit.
    Slurm(slurm::SlurmArgs),
    /// (Re)send result directories to an MLflow server: each fold a run, with the resolved
    /// config as params, its epochs and test figures as metrics, its files as artifacts.
    /// Sends only what the server lacks.
    Track(track::TrackArgs),
}

/// The subcommands' names: any other first argument is an experiment file for `run`.
const SUBCOMMANDS: &[&str] = &[
    "run",
    "validate",
    "schema",
    "data-check",
    "prepare",
    "synth",
    "bench",
    "fetch-echonet",
    "report",
    "status",
    "predict",
    "plot",
    "slurm",
    "track",
    "help",
];

/// `runner FILE …` → `runner run FILE …`.
fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    if let Some(first) = args.get(1).and_then(|a| a.to_str())
        && !first.starts_with('-')
        && !SUBCOMMANDS.contains(&first)
    {
        args.insert(1, "run".into());
    }
    args
}

pub fn main() -> ExitCode {
    let cli = Cli::parse_from(with_default_command(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::validate(args),
        Command::Schema(args) => schema::schema(args),
        Command::DataCheck(args) => data_check::data_check(args),
        Command::Prepare(args) => prepare::prepare(args),
        Command::Synth(args) => synth::synth(args),
        Command::Bench(what) => bench::bench(what),
        Command::FetchEchonet(args) => fetch_echonet::fetch_echonet(args),
        Command::Report(args) => report::report(args),
        Command::Status(args) => status::status(args),
        Command::Predict(args) => predict::predict(args),
        Command::Plot(args) => plot::plot(args),
        Command::Slurm(args) => slurm::slurm(args),
        Command::Track(args) => track::track(args),
    };
    error::exit(result)
}

/// The overrides layered over experiment files.
#[derive(Args)]
struct Layering {
    /// Override a key: `--set section.key=value` (repeatable; after ECHO_RUNNER__* variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

impl Layering {
    /// The `--set` flags with this process's ECHO_RUNNER__* variables.
    fn overrides(&self) -> Overrides {
        Overrides::from_process(&self.sets)
    }

    /// Loads and checks an experiment; `for_run`: also check what a run needs (backend,
    /// weights, dataset, output folders: `run::preflight`); a plain `validate` checks the
    /// config, not the machine.
    fn load(&self, file: &Path, for_run: bool) -> Result<Loaded, CliError> {
        let checks = |exp: &Experiment| preflight::checks(exp, for_run);
        config::load_checked(file, &self.overrides(), &checks)
            .map_err(|diagnostics| CliError::Config { file: file.to_path_buf(), diagnostics })
    }
}

impl Layering {
    /// Loads and checks a sweep file and every member.
    fn load_sweep(&self, file: &Path, for_run: bool) -> Result<Sweep, CliError> {
        let checks = |exp: &Experiment| preflight::checks(exp, for_run);
        Sweep::load(file, &self.overrides(), &checks)
            .map_err(|diagnostics| CliError::Config { file: file.to_path_buf(), diagnostics })
    }

    /// One experiment file over a grid given as `--grid KEY=V1,V2,…` flags.
    fn load_grid(&self, file: &Path, grid: &[String], for_run: bool) -> Result<Sweep, CliError> {
        let checks = |exp: &Experiment| preflight::checks(exp, for_run);
        Sweep::from_grid(file, grid, &self.overrides(), &checks)
            .map_err(|diagnostics| CliError::Config { file: file.to_path_buf(), diagnostics })
    }

    /// A sweep file (all of it, or its member `member`), or an experiment file.
    fn target(
        &self,
        file: &Path,
        member: Option<usize>,
        for_run: bool,
    ) -> Result<Target, CliError> {
        if !is_sweep_file(file) {
            if member.is_some() {
                return Err(CliError::invalid(format!(
                    "--member: {} is an experiment file, not a sweep file",
                    file.display()
                )));
            }
            return Ok(Target::One(Box::new(self.load(file, for_run)?)));
        }
        let sweep = self.load_sweep(file, for_run)?;
        match member {
            None => Ok(Target::Sweep(sweep)),
            Some(i) => {
                let n = sweep.members.len();
                let member = sweep.members.into_iter().nth(i).ok_or_else(|| {
                    CliError::invalid(format!(
                        "--member {i}: {} has {n} member(s), numbered from 0 (see runner status {})",
                        file.display(),
                        file.display()
                    ))
                })?;
                Ok(Target::One(Box::new(member.loaded)))
            }
        }
    }
}

/// What a command was given: one experiment, or a sweep of them.
enum Target {
    One(Box<Loaded>),
    Sweep(Sweep),
}

/// One experiment file and its overrides; or a sweep file and one of its members.
#[derive(Args)]
struct ConfigArgs {
    /// Experiment file (TOML), or a sweep file.
    file: PathBuf,
    /// With a sweep file: its member I alone (0-based, as `runner status SWEEP` numbers
    /// them), exactly as that experiment is alone.
    #[arg(long, value_name = "I")]
    member: Option<usize>,
    #[command(flatten)]
    layering: Layering,
}

impl ConfigArgs {
    /// One experiment: the file, or the sweep member named by `--member`.
    fn load(&self, for_run: bool) -> Result<Loaded, CliError> {
        match self.target(for_run)? {
            Target::One(loaded) => Ok(*loaded),
            Target::Sweep(_) => Err(CliError::invalid(format!(
                "{} is a sweep file: name one of its members with --member I (see runner status {})",
                self.file.display(),
                self.file.display()
            ))),
        }
    }

    fn target(&self, for_run: bool) -> Result<Target, CliError> {
        self.layering.target(&self.file, self.member, for_run)
    }
}
