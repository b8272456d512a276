//! `runner predict`: new videos through a trained experiment.

use std::path::{Path, PathBuf};

use clap::Args;

use echo_runner::config::{Overrides, RuntimeConfig};
use echo_runner::ops::AutodiffBackend;
use echo_runner::results::predict::{self as predicting, ModelChoice, Predictor};
use echo_runner::results::view::locate;
use echo_runner::train::compute::{self, OnBackend};

use super::bench::workload::BackendArg;
use super::error::{CliError, FAILED};
use super::output::Stdout;

#[derive(Args)]
pub struct PredictArgs {
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
    #[arg(long, value_name = "T", value_parser = parse_probability)]
    threshold: Option<f64>,
    /// Skip the per-frame contributions (one forward pass per clip frame) and their plots.
    #[arg(long)]
    no_explain: bool,
    /// Compute backend (the model's outputs agree with the CPU's up to float rounding).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// The CUDA device or wgpu adapter to predict on.
    #[arg(long, default_value_t = 0)]
    device: u32,
}

/// Predicts every video it can, saying what is wrong with the others; fails when any fails.
pub fn predict(args: PredictArgs) -> Result<(), CliError> {
    let dir = locate(&args.result, &Overrides::default())?;
    let choice = match (args.fold, args.ensemble) {
        (Some(k), _) => ModelChoice::Fold(k),
        (None, true) => ModelChoice::Ensemble,
        (None, false) => ModelChoice::Best,
    };
    let runtime = RuntimeConfig {
        backend: args.backend.into(),
        devices: vec![args.device],
        ..Default::default()
    };
    let job = Job { args, dir, choice };
    compute::dispatch(&runtime, job).map_err(|e| CliError::failed(e.to_string()))?
}

/// The predictions on whichever backend `--backend` names.
struct Job {
    args: PredictArgs,
    dir: PathBuf,
    choice: ModelChoice,
}

impl OnBackend for Job {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, _: &'static str) -> Self::Output {
        let device = devices.into_iter().next().expect("one device");
        let predictor = Predictor::<B::InnerBackend>::load(&self.dir, self.choice, device)
            .map_err(CliError::failed)?;
        predict_with(self.args, &self.dir, predictor)
    }
}

fn predict_with<B: echo_runner::ops::Backend>(
    args: PredictArgs,
    dir: &Path,
    predictor: Predictor<B>,
) -> Result<(), CliError> {
    let predictor = match args.threshold {
        Some(t) => predictor.with_threshold(t),
        None => predictor,
    };
    let explain = !args.no_explain;
    let plots_dir = args.out.clone().unwrap_or_else(|| default_plots_dir(&args, dir));
    let mut out = Stdout;
    writeln!(
        out,
        "model: {} of {}; threshold {:.4}",
        predictor.description,
        dir.display(),
        predictor.threshold
    )?;
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
                writeln!(out, "{}", predicting::line(&p))?;
                if explain && let Err(e) = predictor.plot(&p, &plots_dir) {
                    eprintln!("error: {}: plot: {e}", p.video);
                    failures += 1;
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
        writeln!(out, "frame plots: {}/<video>.png and .svg", plots_dir.display())?;
    }
    if let Some(csv) = &args.csv {
        predicting::write_csv(csv, &done, &predictor.description).map_err(CliError::failed)?;
        writeln!(out, "predictions written to {}", csv.display())?;
    }
    if failures > 0 || done.is_empty() {
        eprintln!("error: {failures} of {total} video(s) could not be predicted");
        return Err(CliError::Reported(FAILED));
    }
    Ok(())
}

/// The CSV's folder, else `./predict-<result dir name>`.
fn default_plots_dir(args: &PredictArgs, dir: &Path) -> PathBuf {
    match args.csv.as_ref().and_then(|c| c.parent()) {
        Some(parent) => parent.to_path_buf(),
        None => PathBuf::from(format!(
            "predict-{}",
            dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        )),
    }
}

/// A probability in [0, 1].
fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        Ok(p) => Err(format!("{p} is no probability: give a threshold in [0, 1]")),
        Err(e) => Err(format!("{e}: give a threshold in [0, 1]")),
    }
}
