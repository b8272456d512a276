//! The run across folds: plan the folds, train each one not yet done (resuming it from its
//! checkpoint), mark it done, and once every fold is, write the summary across folds (mean ±
//! std, the fold ensemble, and the seed's "best fold overall" protocol).
//!
//! Every random draw derives from the experiment seed: parameter initialisation from a
//! per-fold backend seed, dropout from a per-batch one, the epoch's sample order from (seed,
//! fold, epoch), each clip's frames and augmentation from (seed, fold, epoch, position).
//! A fold is done exactly when `fold-<k>/DONE` exists, and failed when `fold-<k>/FAILED`
//! does (it holds the error); a rerun skips both, and `--retry-failed` takes failed folds up
//! again from their last checkpoint.
//!
//! A fault of the machine (an I/O error on the result directory, a checkpoint, the cache or
//! a lock; `TrainError::fault`) is not a failure of the fold: it stops the run at once, the
//! fold keeps its last checkpoint and gets no `FAILED`, only `fold-<k>/ENVIRONMENT-ERROR`
//! (when, and what) for `runner status`; the same command resumes it.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Sections;
use super::SelectionMetric;
use super::batches::{Frames, Video};
use super::error::{TrainError, io};
use super::fold::{FoldEnd, FoldInputs, FoldResult, fit_fold};
use super::metrics::{Metrics, Summary, best_by, summarize};
use super::objective::Objective;
use super::progress::Progress;
use super::split::{CvPlan, assign_splits, plan_cv};
use super::stop::{StopFlag, StopReason};
use super::tracking::Tracker;
use crate::atomic;
use crate::data::cache::ClipCache;
use crate::data::labels::{Class, LabelledVideo};
use crate::io_retry;
use crate::lock::DirLock;

/// Caches up to this size are decompressed into memory for the run.
const IN_MEMORY_BYTES: usize = 4 << 30;

pub const DONE: &str = "DONE";
pub const FAILED: &str = "FAILED";
/// The last fault of the machine that stopped a fold: its time (RFC 3339) and message.
pub const ENVIRONMENT_ERROR: &str = "ENVIRONMENT-ERROR";
pub const METRICS: &str = "metrics.json";
pub const SUMMARY: &str = "summary.json";

/// The run's `summary.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub folds: usize,
    /// Validation metrics of each fold's best epoch, mean ± std.
    pub validation: Summary,
    /// Each fold's best model on the test set, mean ± std.
    pub test: Summary,
    /// Mean probability of the folds' best models on the test set.
    pub ensemble_test: Option<Metrics>,
    /// The seed's protocol: the fold with the best validation score, on the test set.
    pub best_fold: usize,
    pub best_fold_test: Option<Metrics>,
}

/// Which folds to train and how.
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Only this fold.
    pub only: Option<usize>,
    /// Take failed folds up again.
    pub retry_failed: bool,
    /// Wait for a fold another process is training (else skip it).
    pub wait: bool,
}

/// How far a call of [`fit`] got.
#[derive(Debug)]
pub struct FitOutcome {
    /// Present once every fold is done.
    pub summary: Option<RunSummary>,
    /// Set when a stop request ended the run early (a checkpoint is written).
    pub stopped: Option<StopReason>,
    /// Folds that failed, now or in an earlier run, with their errors.
    pub failed: Vec<(usize, String)>,
}

/// Trains every fold (or only `options.only`) not yet done into `dir`, reporting to the
/// progress display and the trackers.
pub fn fit(
    exp: &Sections,
    labelled: &[LabelledVideo],
    cache: ClipCache,
    dir: &Path,
    options: &FitOptions,
    stop: &StopFlag,
    (progress, tracker): (&mut Progress, &mut dyn Tracker),
) -> Result<FitOutcome, TrainError> {
    // The labelled videos that made it into the cache (a skipped video is in neither list).
    let (videos, splits): (Vec<Video>, Vec<_>) = labelled
        .iter()
        .filter_map(|lv| {
            let name = &lv.video.row.file_name;
            let frames = cache.frames_of(name)?;
            Some((
                // Labelling kept only videos with a finite EF.
                Video { name: name.clone(), class: lv.class, ef: lv.video.row.ef?, frames },
                (lv.class, lv.video.row.split),
            ))
        })
        .unzip();
    let splits =
        assign_splits(&splits, &exp.data.split).map_err(|e| TrainError::Plan(e.to_string()))?;
    let classes: Vec<Class> = videos.iter().map(|v| v.class).collect();
    let plan = plan_cv(&classes, &splits, exp.cv).map_err(|e| TrainError::Plan(e.to_string()))?;
    let names: Vec<&str> = videos.iter().map(|v| v.name.as_str()).collect();
    let folds_json =
        serde_json::to_string_pretty(&plan.describe(&names, &classes)).expect("JSON") + "\n";
    let folds_path = dir.join("folds.json");
    atomic::write_file(&folds_path, folds_json.as_bytes()).map_err(io(&folds_path))?;

    let side = (exp.data.resize as usize).pow(2);
    let bytes: usize = cache.videos.iter().map(|v| v.frames * side).sum();
    let frames = if bytes <= IN_MEMORY_BYTES {
        Frames::Memory(cache.load_all()?)
    } else {
        Frames::Disk(cache)
    };
    let inputs = FoldInputs { exp, videos: &videos, plan: &plan, frames: &frames, stop };

    let folds = plan.folds.len();
    let mut failed = vec![];
    for k in (0..folds).filter(|&k| options.only.is_none_or(|o| o == k)) {
        let fold_dir = dir.join(format!("fold-{k}"));
        let turn = fit_one(&inputs, k, &fold_dir, options, progress, tracker);
        tracker.fold_ended(k);
        for line in tracker.notes() {
            progress.note(&line).map_err(io(&dir.join("train.log")))?;
        }
        match turn {
            Ok(Turn::Trained) => {}
            Ok(Turn::Failed(why)) => failed.push((k, why)),
            Ok(Turn::Stopped(reason)) => {
                return Ok(FitOutcome { summary: None, stopped: Some(reason), failed });
            }
            Err(e) => {
                if let Some(fault) = e.fault() {
                    note_fault(&fold_dir, k, &e.to_string(), &fault.hint(), progress);
                }
                return Err(e);
            }
        }
    }
    let all_done = (0..folds).all(|k| dir.join(format!("fold-{k}")).join(DONE).exists());
    if !all_done {
        return Ok(FitOutcome { summary: None, stopped: None, failed });
    }
    let results = (0..folds)
        .map(|k| read_result(&dir.join(format!("fold-{k}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let summary = summarize_run(exp, &results, &plan, &classes);
    let path = dir.join(SUMMARY);
    let text = serde_json::to_string_pretty(&summary).expect("JSON") + "\n";
    atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
    Ok(FitOutcome { summary: Some(summary), stopped: None, failed })
}

/// How one fold's turn ended (short of an error that stops the run).
enum Turn {
    /// Trained to the end now, or done earlier.
    Trained,
    /// Failed, now or earlier, with why.
    Failed(String),
    Stopped(StopReason),
}

/// Fold `k`: skipped when done (or failed, unless `retry_failed`), else trained from its last
/// checkpoint. A failure of the experiment is recorded in `FAILED`; a fault of the machine is
/// returned as it is, writing nothing.
fn fit_one(
    inputs: &FoldInputs,
    k: usize,
    fold_dir: &Path,
    options: &FitOptions,
    progress: &mut Progress,
    tracker: &mut dyn Tracker,
) -> Result<Turn, TrainError> {
    let exp = inputs.exp;
    let folds = inputs.plan.folds.len();
    let log = fold_dir.parent().unwrap_or(fold_dir).join("train.log");
    io_retry::retry(fold_dir, || fs::create_dir_all(fold_dir)).map_err(io(fold_dir))?;
    let _lock = DirLock::acquire(fold_dir, options.wait)?;
    let failed_path = fold_dir.join(FAILED);
    if fold_dir.join(DONE).exists() {
        progress.note(&format!("fold-{k}: done earlier, skipped")).map_err(io(&log))?;
        return Ok(Turn::Trained);
    }
    if let Ok(why) = fs::read_to_string(&failed_path) {
        if !options.retry_failed {
            progress
                .note(&format!(
                    "fold-{k}: failed earlier, skipped (--retry-failed takes it up again): {}",
                    why.trim()
                ))
                .map_err(io(&log))?;
            return Ok(Turn::Failed(why.trim().to_owned()));
        }
        fs::remove_file(&failed_path).map_err(io(&failed_path))?;
    }
    progress.fold_started(k, folds).map_err(io(&log))?;
    match fit_fold(inputs, k, fold_dir, progress, tracker) {
        Ok(FoldEnd::Done(result)) => {
            tracker.fold_finished(result.best_epoch, result.test.as_ref())?;
            let path = fold_dir.join(METRICS);
            let text = serde_json::to_string_pretty(&result).expect("JSON") + "\n";
            atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
            let done = fold_dir.join(DONE);
            atomic::write_file(&done, b"").map_err(io(&done))?;
            // A fault the fold came through is history now (runs.jsonl keeps it).
            let _ = fs::remove_file(fold_dir.join(ENVIRONMENT_ERROR));
            // The loss as it is; selection ranks it negated.
            let value = match exp.cv.select_by {
                SelectionMetric::ValLoss => result.val.loss,
                metric => result.val.select(metric),
            };
            let line = format!(
                "best epoch {} ({:?} {:.4})",
                result.best_epoch + 1,
                exp.cv.select_by,
                value.unwrap_or(f64::NAN)
            );
            progress.fold_finished(k, &line).map_err(io(&log))?;
            Ok(Turn::Trained)
        }
        Ok(FoldEnd::Stopped(reason)) => {
            progress.note(&format!("fold-{k}: stopped ({reason}); checkpoint written, rerun the same command to resume")).map_err(io(&log))?;
            Ok(Turn::Stopped(reason))
        }
        Err(e) if e.fault().is_some() => Err(e),
        Err(e) => {
            let why = e.to_string();
            atomic::write_file(&failed_path, format!("{why}\n").as_bytes())
                .map_err(io(&failed_path))?;
            progress.note(&format!("fold-{k}: failed: {why}")).map_err(io(&log))?;
            Ok(Turn::Failed(why))
        }
    }
}

/// Records a fault of the machine that stopped fold `k`, where the filesystem still takes
/// it: `ENVIRONMENT-ERROR` and a line in `train.log`. Best effort, and a plain write (no
/// fsync, no rename): the run is stopping for a fault of this very filesystem, the note is
/// for `runner status` alone, and the error itself is reported either way.
fn note_fault(fold_dir: &Path, k: usize, why: &str, hint: &str, progress: &mut Progress) {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let _ = fs::write(fold_dir.join(ENVIRONMENT_ERROR), format!("{now} {why}\n"));
    let _ = progress.note(&format!("fold-{k}: stopped by a fault of the machine: {why}; {hint}"));
}

fn read_result(fold_dir: &Path) -> Result<FoldResult, TrainError> {
    let path = fold_dir.join(METRICS);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Plan(format!("{}: {e}", path.display())))
}

/// The folds' mean output on the test set (P(abnormal), or the predicted EF), scored.
fn ensemble(objective: &Objective, results: &[FoldResult], labels: &[Class]) -> Option<Metrics> {
    let output = |r: &FoldResult, i: usize| {
        if objective.regresses() { r.test_ef_pred[i] } else { r.test_prob[i] }
    };
    let mean: Vec<f64> = (0..labels.len())
        .map(|i| results.iter().map(|r| output(r, i)).sum::<f64>() / results.len() as f64)
        .collect();
    objective.metrics(labels, &results[0].test_ef, &mean, objective.threshold()).ok()
}

fn summarize_run(
    exp: &Sections,
    results: &[FoldResult],
    plan: &CvPlan,
    classes: &[Class],
) -> RunSummary {
    let validation = summarize(&results.iter().map(|r| r.val.clone()).collect::<Vec<_>>());
    let test = summarize(&results.iter().filter_map(|r| r.test.clone()).collect::<Vec<_>>());
    let test_labels: Vec<Class> = plan.test.iter().map(|&i| classes[i]).collect();
    let objective = Objective::new(exp.model.head().task, &exp.data.labels);
    let ensemble_test = (!test_labels.is_empty() && !results.is_empty())
        .then(|| ensemble(&objective, results, &test_labels))
        .flatten();
    let best = best_by(exp.cv.select_by, results.iter().map(|r| &r.val)).map(|i| &results[i]);
    RunSummary {
        folds: results.len(),
        validation,
        test,
        ensemble_test,
        best_fold: best.map_or(0, |b| b.fold),
        best_fold_test: best.and_then(|b| b.test.clone()),
    }
}
