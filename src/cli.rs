//! Command-line interface: parses arguments, calls the library, prints, maps errors to exit
//! codes. `runner FILE` is `runner run FILE`.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use echo_runner::config::{self, Loaded, Overrides};
use echo_runner::data::fetch::{self, FetchOptions};
use echo_runner::data::stage;
use echo_runner::data::synth::{self, SynthConfig};
use echo_runner::hpc::{self, SlurmOptions};
use echo_runner::model;
use echo_runner::results;
use echo_runner::results::predict::{self as predicting, ModelChoice, Predictor};
use echo_runner::results::report::{Format, Report, TestModel};
use echo_runner::results::view::{ViewError, locate};
use echo_runner::run::{self as pipeline, RunOptions};
use echo_runner::train::stop::parse_wall;

/// Exit code for invalid input: a bad experiment or command line.
const EXIT_INVALID: u8 = 2;

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
    Run(RunArgs),
    /// Check experiment files; print nothing but errors unless asked. Writes nothing.
    Validate(ValidateArgs),
    /// Print the JSON Schema of experiment files.
    Schema,
    /// Check the experiment's dataset: FileList.csv against Videos/, frame counts, sizes,
    /// labels. Prints the data report; writes nothing (a synthetic source is generated).
    DataCheck(ConfigArgs),
    /// Decode every video once into the experiment's HDF5 clip cache (`run` does it too).
    Prepare(ConfigArgs),
    /// Generate a synthetic EchoNet-Dynamic folder (FileList.csv, VolumeTracings.csv, Videos/).
    Synth(SynthArgs),
    /// Measure throughput; prints one JSON line per measurement.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Download EchoNet-Dynamic.zip from an Azure Blob URL and extract it. The SAS token is
    /// read from the environment variable ECHONET_SAS_TOKEN, never from a flag.
    FetchEchonet(FetchArgs),
    /// The results table across experiments: one row each, CV mean ± std and test figures,
    /// a column per config key that differs between them.
    Report(ReportArgs),
    /// Where a run stands: folds done, the fold and epoch in progress, last checkpoint, best
    /// score so far, whether a process holds the lock.
    Status(StatusArgs),
    /// Predict new videos with a trained experiment: P(abnormal), the label at the tuned
    /// threshold, and each frame's contribution.
    Predict(PredictArgs),
    /// (Re)draw the figures of result directories (per fold and per run; PNG and SVG).
    Plot(PlotArgs),
    /// Write the experiment's SLURM jobs into its result directory: an array with one task
    /// per fold (checkpoint and requeue near the time limit), then a summary job. Prints
    /// them, or submits them with --submit.
    Slurm(SlurmArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// Result directories, or experiment files (their directories are found by hash).
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
}

#[derive(Args)]
struct StatusArgs {
    /// A result directory, or an experiment file (its directory is found by hash).
    #[arg(value_name = "CONFIG_OR_RESULT_DIR")]
    input: PathBuf,
    #[command(flatten)]
    layering: Layering,
}

#[derive(Args)]
struct PredictArgs {
    /// The trained experiment: its result directory (or its experiment file).
    #[arg(value_name = "RESULT_DIR")]
    result: PathBuf,
    /// AVI files, or folders of them.
    #[arg(required = true, value_name = "VIDEO_OR_DIR")]
    videos: Vec<PathBuf>,
    /// Also write the predictions as CSV (atomically).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Folder for the per-video frame plots [default: the CSV's folder, else
    /// ./predict-<result dir name>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Use this fold's model (default: the best fold by validation, as the run's summary).
    #[arg(long, value_name = "K", conflicts_with = "ensemble")]
    fold: Option<usize>,
    /// Average every finished fold's model (the run's fold ensemble).
    #[arg(long)]
    ensemble: bool,
    /// Decision threshold on P(abnormal) (default: the validation Youden threshold).
    #[arg(long, value_name = "T")]
    threshold: Option<f64>,
    /// Skip the per-frame contributions (one forward pass per clip frame) and their plots.
    #[arg(long)]
    no_explain: bool,
}

#[derive(Args)]
struct PlotArgs {
    /// Result directories (or experiment files).
    #[arg(required = true, value_name = "CONFIG_OR_RESULT_DIR")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    layering: Layering,
}

#[derive(Args)]
struct ConfigArgs {
    /// Experiment file (TOML).
    file: PathBuf,
    #[command(flatten)]
    layering: Layering,
}

#[derive(Args)]
struct SynthArgs {
    /// Folder to write (created; files of the same names are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Number of videos.
    #[arg(long, default_value_t = SynthConfig::default().videos)]
    videos: u32,
    /// Seed of the generator: the same seed gives the same dataset.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// AVI decoding, cache preparation and cache reads, on generated videos.
    Data {
        #[arg(long, default_value_t = 64)]
        videos: u32,
        #[arg(long, default_value_t = 112)]
        size: u32,
        /// Frames per clip read from the cache.
        #[arg(long, default_value_t = 16)]
        frames: usize,
        /// Clips read per measurement.
        #[arg(long, default_value_t = 4000)]
        reads: usize,
    },
    /// A training step (forward, backward, AdamW) and an inference forward of each phase's
    /// model on random clips: one JSON line per model in the shape of the PyTorch reference
    /// (shared/bench/torch_anchor.py), plus the peak resident memory.
    Models {
        #[command(flatten)]
        models: ModelBenchArgs,
        /// Timed repetitions after one warm-up (the median is printed).
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// The first training steps on `--backend` beside the same steps on the CPU (same
    /// weights, same batch, no random layers): one JSON line per model with both losses.
    Steps {
        #[command(flatten)]
        models: ModelBenchArgs,
        /// Optimizer steps.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// AdamW learning rate.
        #[arg(long, default_value_t = 1e-4)]
        lr: f64,
    },
}

#[derive(Args)]
struct ModelBenchArgs {
    /// Models to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "cnn_lstm,swin_global,swin_hybrid")]
    models: Vec<echo_runner::bench::BenchModel>,
    /// Swin preset of phases 2–3 (the reference's default is swin_tiny).
    #[arg(long, default_value = "tiny")]
    swin: String,
    /// Frame size.
    #[arg(long, default_value_t = 224)]
    img: usize,
    /// Frames per clip.
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Clips per step.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// `cpu` or `cuda` (a runner built with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// CUDA devices, comma-separated (several: data parallel on one node).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    devices: Vec<u32>,
    /// `fp32`, `bf16` or `f16` (mixed precision, as PyTorch's autocast; f16 with GradScaler's
    /// loss scaling at its defaults).
    #[arg(long, default_value = "fp32")]
    precision: String,
}

#[derive(Args)]
struct FetchArgs {
    /// Blob URL of EchoNet-Dynamic.zip, without the SAS token.
    #[arg(long)]
    url: String,
    /// Folder to download and extract into.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct Layering {
    /// Override a key: `--set section.key=value` (repeatable; after ECHO_RUNNER__* variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    /// Experiment file (TOML).
    file: PathBuf,
    #[command(flatten)]
    layering: Layering,
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
    /// `11h30m`, `90m`, or SLURM's `HH:MM:SS` / `D-HH:MM`.
    #[arg(long, value_name = "TIME", value_parser = parse_wall)]
    max_wall: Option<Duration>,
    /// Exit at once (code 3) when another process holds the result directory.
    #[arg(long)]
    no_wait: bool,
}

#[derive(Args)]
struct SlurmArgs {
    /// Experiment file (TOML).
    file: PathBuf,
    #[command(flatten)]
    layering: Layering,
    /// Time limit of each attempt of a fold task: 12:00:00, 1-00:00:00, 90m, 11h30m.
    #[arg(long, default_value = "12:00:00", value_parser = hpc::parse_time)]
    time: Duration,
    /// Seconds before the time limit at which SLURM sends USR1: the run then checkpoints at
    /// the next batch boundary and the task requeues itself.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    signal_lead: u64,
    #[arg(long, value_parser = hpc::parse_name)]
    partition: Option<String>,
    #[arg(long, value_parser = hpc::parse_name)]
    account: Option<String>,
    /// GPUs per fold task (`--gres=gpu:N`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    gpus: Option<u32>,
    /// CPUs per task.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    cpus: Option<u32>,
    /// Memory per task's node, as sbatch takes it: 64G, 16000M.
    #[arg(long, value_parser = hpc::parse_mem)]
    mem: Option<String>,
    /// A whole '#SBATCH …' line added to both jobs (repeatable), e.g. '#SBATCH --qos=long'.
    #[arg(long, value_name = "LINE", value_parser = hpc::parse_extra, allow_hyphen_values = true)]
    extra: Vec<String>,
    /// The runner binary the jobs call [default: this one].
    #[arg(long, value_name = "PATH")]
    runner: Option<PathBuf>,
    /// Submit the jobs (runs <result dir>/slurm/submit.sh) instead of printing them.
    #[arg(long)]
    submit: bool,
}

#[derive(Args)]
struct ValidateArgs {
    /// Experiment files (TOML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
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
}

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
    "help",
];

/// `runner FILE …` → `runner run FILE …`.
fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first) {
            args.insert(1, "run".into());
        }
    }
    args
}

pub fn main() -> ExitCode {
    let cli = Cli::parse_from(with_default_command(std::env::args_os().collect()));
    match cli.command {
        Command::Schema => {
            print!("{}", config::schema_text());
            ExitCode::SUCCESS
        }
        Command::Validate(args) => validate(args),
        Command::Run(args) => run(args),
        Command::DataCheck(args) => data_check(args),
        Command::Prepare(args) => prepare(args),
        Command::Synth(args) => synth(args),
        Command::Bench(what) => bench(what),
        Command::FetchEchonet(args) => fetch(args),
        Command::Report(args) => report(args),
        Command::Status(args) => status(args),
        Command::Predict(args) => predict(args),
        Command::Plot(args) => plot(args),
        Command::Slurm(args) => slurm(args),
    }
}

fn bench(what: BenchCommand) -> ExitCode {
    match what {
        BenchCommand::Data { videos, size, frames, reads } => {
            let scratch =
                std::env::temp_dir().join(format!("echo-runner-bench-{}", std::process::id()));
            let options =
                echo_runner::bench::DataBench { videos, size, clip_frames: frames, reads, scratch };
            match echo_runner::bench::data(&options) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => failed(e),
            }
        }
        BenchCommand::Models { models, reps } => match model_bench(models, reps) {
            Ok(options) if options.models.len() > 1 => bench_models_apart(&options),
            Ok(options) => print_lines(|emit| echo_runner::bench::models(&options, emit)),
            Err(code) => code,
        },
        BenchCommand::Steps { models, steps, lr } => match model_bench(models, 1) {
            Ok(options) => print_lines(|emit| echo_runner::bench::steps(&options, steps, lr, emit)),
            Err(code) => code,
        },
    }
}

/// Runs a benchmark that prints JSON lines as it measures them.
fn print_lines<E: std::fmt::Display>(
    run: impl FnOnce(&mut dyn FnMut(serde_json::Value)) -> Result<(), E>,
) -> ExitCode {
    match run(&mut |line| println!("{line}")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(e),
    }
}

/// `bench models` for each model in a process of its own: the allocator keeps what a model
/// freed (see main.rs), which would count in the next model's peak memory. Each process gets
/// this one's arguments with `--models` narrowed to its model, so every other flag travels as
/// given.
fn bench_models_apart(options: &echo_runner::bench::ModelBench) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return failed(format!(
                "cannot find this runner's executable to run each model apart: {e}"
            ));
        }
    };
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
        let status = std::process::Command::new(&exe)
            .args(&others)
            .args(["--models", model.name()])
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
            Err(e) => return failed(format!("cannot run {}: {e}", exe.display())),
        }
    }
    ExitCode::SUCCESS
}

/// The workload of `bench models` / `bench steps`; `reps`: timed repetitions (`models` only).
fn model_bench(
    args: ModelBenchArgs,
    reps: usize,
) -> Result<echo_runner::bench::ModelBench, ExitCode> {
    // The same words as the experiment file's keys, read by the same types.
    let (swin, backend, precision) = match (
        word("--swin", &args.swin),
        word("--backend", &args.backend),
        word("--precision", &args.precision),
    ) {
        (Ok(s), Ok(b), Ok(p)) => (s, b, p),
        (Err(code), _, _) | (_, Err(code), _) | (_, _, Err(code)) => return Err(code),
    };
    let runtime =
        echo_runner::config::RuntimeConfig { backend, devices: args.devices, ..Default::default() };
    let options = echo_runner::bench::ModelBench {
        models: args.models,
        swin,
        img: args.img,
        frames: args.frames,
        batch: args.batch,
        reps,
        runtime,
        precision,
    };
    let dims = options
        .models
        .iter()
        .find_map(|m| m.config(swin).check_dims(args.img, args.frames).into_iter().next());
    if let Some(v) = dims {
        return Err(invalid(&format!(
            "--img {} --frames {}: {} {}",
            args.img, args.frames, v.pointer, v.message
        )));
    }
    Ok(options)
}

fn word<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T, ExitCode> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| invalid(&format!("{flag} {value}: {e}")))
}

fn invalid(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_INVALID)
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn data_check(args: ConfigArgs) -> ExitCode {
    let loaded = match load(&args.file, &args.layering, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let exp = &loaded.experiment;
    match stage::load(&exp.data, &exp.runtime.cache_dir()) {
        Ok(dataset) => {
            print!("{}", dataset.scan.report);
            println!(
                "labels: {} normal, {} abnormal",
                dataset.labels.normal, dataset.labels.abnormal
            );
            if !dataset.labels.skipped_missing_ef.is_empty() {
                println!(
                    "skipped for a missing EF: {}",
                    dataset.labels.skipped_missing_ef.join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

fn prepare(args: ConfigArgs) -> ExitCode {
    let loaded = match load(&args.file, &args.layering, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let exp = &loaded.experiment;
    let cache_dir = exp.runtime.cache_dir();
    let dataset = match stage::load(&exp.data, &cache_dir) {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    match stage::prepare(&exp.data, &dataset, &cache_dir) {
        Ok(summary) => {
            let what = if summary.reused { "up to date" } else { "written" };
            println!(
                "clip cache {what}: {} ({} videos, {} frames)",
                summary.path.display(),
                summary.videos,
                summary.frames
            );
            for (name, why) in &summary.skipped {
                println!("skipped {name}: {why}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

fn synth(args: SynthArgs) -> ExitCode {
    let config = SynthConfig { videos: args.videos, seed: args.seed, ..SynthConfig::default() };
    match synth::generate(&config, &args.out) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

fn fetch(args: FetchArgs) -> ExitCode {
    let options = FetchOptions {
        url: args.url,
        out: args.out,
        sas_token: std::env::var(fetch::SAS_TOKEN_VAR).ok().filter(|t| !t.is_empty()),
        progress: std::io::stderr().is_terminal(),
    };
    match fetch::fetch_echonet(&options) {
        Ok(folder) => {
            println!("EchoNet-Dynamic is in {}", folder.display());
            ExitCode::SUCCESS
        }
        Err(e @ fetch::FetchError::TokenInUrl { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(e) => failed(e),
    }
}

/// Loads and checks an experiment; `for_run`: also check what a run needs (backend,
/// pretrained file); a plain `validate` checks the config, not the machine.
fn load(file: &PathBuf, layering: &Layering, for_run: bool) -> Result<Loaded, ExitCode> {
    let checks = |exp: &echo_runner::config::Experiment| pipeline::disk_checks(exp, for_run);
    config::load_checked(file, &Overrides::from_process(&layering.sets), &checks).map_err(
        |diagnostics| {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} error(s); nothing was written", file.display(), diagnostics.len());
            ExitCode::from(EXIT_INVALID)
        },
    )
}

fn validate(args: ValidateArgs) -> ExitCode {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        match load(file, &args.layering, false) {
            Err(_) => failed = true,
            Ok(loaded) => {
                if args.print_resolved {
                    let _ = write!(out, "{}", loaded.resolved_toml());
                }
                if args.print_hash {
                    let dir = results::dir_path(&loaded);
                    let _ = writeln!(out, "{} {}", loaded.hash.digest, dir.display());
                }
                if args.print_model {
                    let exp = &loaded.experiment;
                    let frames = exp.data.clip.frames as usize;
                    match model::summary(&exp.model, exp.data.resize as usize, frames) {
                        Ok(m) => {
                            let _ = writeln!(
                                out,
                                "model: {} parameters, {} trainable; {:.2} GFLOPs per {frames}-frame clip at {}×{}",
                                m.total_params,
                                m.trainable_params,
                                m.gflops_per_clip,
                                exp.data.resize,
                                exp.data.resize
                            );
                        }
                        Err(violations) => {
                            for v in violations {
                                eprintln!("error: {}: {v}", file.display());
                            }
                            failed = true;
                        }
                    }
                }
                if !args.print_resolved && !args.print_hash && !args.print_model {
                    let _ = writeln!(out, "{}: ok", file.display());
                }
            }
        }
    }
    if failed { ExitCode::from(EXIT_INVALID) } else { ExitCode::SUCCESS }
}

fn run(args: RunArgs) -> ExitCode {
    let loaded = match load(&args.file, &args.layering, true) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let options = RunOptions {
        fold: args.fold,
        force: args.force,
        retry_failed: args.retry_failed,
        max_wall: args.max_wall,
        wait: !args.no_wait,
        argv: std::env::args().collect(),
    };
    match pipeline::run(&loaded, &options) {
        Ok(outcome) => {
            println!("{outcome}");
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn report(args: ReportArgs) -> ExitCode {
    let overrides = Overrides::from_process(&args.layering.sets);
    let report = Report::build(&args.inputs, &overrides, args.test);
    for problem in &report.problems {
        eprintln!("error: {problem}");
    }
    for row in &report.rows {
        for note in &row.notes {
            eprintln!("note: {}: {note}", row.experiment);
        }
    }
    if report.rows.is_empty() {
        eprintln!("error: none of the inputs could be read: nothing to report");
        return ExitCode::FAILURE;
    }
    let text = results::report::render(&report, args.format);
    match &args.out {
        Some(path) => match results::report::write(path, &text) {
            Ok(()) => eprintln!("report written to {}", path.display()),
            Err(e) => return failed(e),
        },
        None => print!("{text}"),
    }
    if let Some(dir) = &args.plots {
        match report.write_plots(dir) {
            Ok(files) => eprintln!("{} plot files written to {}", files.len(), dir.display()),
            Err(e) => return failed(e),
        }
    }
    if !report.has_figures() {
        eprintln!("error: no experiment has a finished fold yet: nothing to report");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn view_error(e: ViewError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}

fn status(args: StatusArgs) -> ExitCode {
    let dir = match locate(&args.input, &Overrides::from_process(&args.layering.sets)) {
        Ok(d) => d,
        Err(ViewError::NotRun { config, dir }) => {
            println!(
                "{}: not started (no result directory {} yet)",
                config.display(),
                dir.display()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => return view_error(e),
    };
    match results::status::status(&dir) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => view_error(e),
    }
}

fn predict(args: PredictArgs) -> ExitCode {
    let dir = match locate(&args.result, &Overrides::default()) {
        Ok(d) => d,
        Err(e) => return view_error(e),
    };
    let choice = match (args.fold, args.ensemble) {
        (Some(k), _) => ModelChoice::Fold(k),
        (None, true) => ModelChoice::Ensemble,
        (None, false) => ModelChoice::Best,
    };
    let predictor = match Predictor::load(&dir, choice) {
        Ok(p) => match args.threshold {
            Some(t) => p.with_threshold(t),
            None => p,
        },
        Err(e) => return failed(e),
    };
    let explain = !args.no_explain;
    let plots_dir =
        args.out.clone().unwrap_or_else(|| match args.csv.as_ref().and_then(|c| c.parent()) {
            Some(parent) => parent.to_path_buf(),
            None => PathBuf::from(format!(
                "predict-{}",
                dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            )),
        });
    println!(
        "model: {} of {}; threshold {:.4}",
        predictor.description,
        dir.display(),
        predictor.threshold
    );
    let (videos, errors) = predicting::videos(&args.videos);
    let total = videos.len() + errors.len();
    let mut failures = errors.len();
    for e in errors {
        eprintln!("error: {e}");
    }
    let mut done = Vec::new();
    for video in &videos {
        match predictor.predict(video, explain) {
            Ok(p) => {
                println!("{}", predicting::line(&p));
                if explain {
                    if let Err(e) = predictor.plot(&p, &plots_dir) {
                        eprintln!("error: {}: plot: {e}", p.video);
                        failures += 1;
                    }
                }
                done.push(p);
            }
            Err(e) => {
                eprintln!("error: {e}");
                failures += 1;
            }
        }
    }
    if explain && !done.is_empty() {
        println!("frame plots: {}/<video>.png and .svg", plots_dir.display());
    }
    if let Some(csv) = &args.csv {
        match predicting::write_csv(csv, &done, &predictor.description) {
            Ok(()) => println!("predictions written to {}", csv.display()),
            Err(e) => return failed(e),
        }
    }
    if failures > 0 || done.is_empty() {
        eprintln!("error: {failures} of {total} video(s) could not be predicted");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn plot(args: PlotArgs) -> ExitCode {
    let overrides = Overrides::from_process(&args.layering.sets);
    let mut ok = true;
    for input in &args.inputs {
        let dir = match locate(input, &overrides) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
                continue;
            }
        };
        match results::plots::write_all_plots(&dir) {
            Ok(w) => {
                println!("{}: {} files written", dir.display(), w.files.len());
                for s in w.skipped {
                    eprintln!("note: {s}");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
fn slurm(args: SlurmArgs) -> ExitCode {
    let loaded = match load(&args.file, &args.layering, true) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let refused = |e: hpc::SlurmError| {
        eprintln!("error: {e}");
        ExitCode::from(e.exit_code())
    };
    let runner = match hpc::runner_path(args.runner) {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let options = SlurmOptions {
        time: args.time,
        signal_lead: Duration::from_secs(args.signal_lead),
        partition: args.partition,
        account: args.account,
        gpus: args.gpus,
        cpus: args.cpus,
        mem: args.mem,
        extra: args.extra,
        runner,
    };
    let written = match hpc::write(&loaded, &args.layering.sets, &options) {
        Ok(w) => w,
        Err(e) => return refused(e),
    };
    if args.submit {
        return match hpc::submit(&written) {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => refused(e),
        };
    }
    let scripts = &written.scripts;
    let mut out = std::io::stdout().lock();
    for (path, text) in [
        (&written.folds, &scripts.folds),
        (&written.summary, &scripts.summary),
        (&written.submit, &scripts.submit),
    ] {
        let _ = writeln!(out, "# ==> {} <==\n{text}", path.display());
    }
    let _ = writeln!(out, "# submit with: bash {}", written.submit.display());
    ExitCode::SUCCESS
}
