//! `runner run`: drives one experiment through the stages into its result directory,
//! holding the directory's lock and recording the run.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::atomic;
use crate::config::Loaded;
use crate::data::cache::{CacheError, ClipCache};
use crate::data::stage::{self, StageReport};
use crate::io_retry::{EXIT_ENVIRONMENT, Fault};
use crate::lock::{DirLock, LockError};
use crate::results::plots::{self, PLOTS};
use crate::results::{ResultDir, ResultsError, RunRecord};
use crate::track::Trackers;
use crate::train::fit::{DONE, FitOptions, RunSummary, SUMMARY, fit};
use crate::train::progress::Progress;
use crate::train::stop::{EXIT_RESUMABLE, StopFlag, StopReason};
use crate::train::{CvMode, TrainError};

pub mod preflight;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run only this fold.
    pub fold: Option<u32>,
    /// Discard earlier outputs first (of `fold` only, when given).
    pub force: bool,
    /// Take failed folds up again.
    pub retry_failed: bool,
    /// Stop (resumably) before this much time has passed.
    pub max_wall: Option<Duration>,
    /// Wait for another process holding the result directory (else fail at once).
    pub wait: bool,
    /// The command line, for the run record.
    pub argv: Vec<String>,
    /// A stop flag already installed (a sweep's, shared by its members); else the run
    /// installs its own.
    pub stop: Option<StopFlag>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("--fold {fold} is out of range: this experiment has {folds} fold(s), numbered from 0")]
    FoldOutOfRange { fold: u32, folds: u32 },
    #[error(transparent)]
    Data(#[from] CacheError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("{}", failed_folds(.0))]
    FoldsFailed(Vec<(usize, String)>),
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
}

fn failed_folds(failed: &[(usize, String)]) -> String {
    let lines: Vec<String> =
        failed.iter().map(|(k, why)| format!("fold {k} failed: {why}")).collect();
    format!(
        "{}\n(fix the cause, then rerun with --retry-failed to take the fold up from its last checkpoint, or --force --fold K to start it over)",
        lines.join("\n")
    )
}

impl RunError {
    /// 2: the command line was wrong; 3: the result directory is busy; 74: a fault of the
    /// machine (`fault`); 1: anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::FoldOutOfRange { .. } => 2,
            RunError::Results(ResultsError::Lock(LockError::Busy { .. })) => 3,
            e if e.fault().is_some() => EXIT_ENVIRONMENT,
            RunError::Results(_)
            | RunError::Data(_)
            | RunError::Train(_)
            | RunError::FoldsFailed(_)
            | RunError::Signals(_) => 1,
        }
    }

    /// The fault of the machine (not of the experiment) that stopped the run, if one did.
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            RunError::Results(e) => e.fault(),
            RunError::Data(e) => e.fault(),
            RunError::Train(e) => e.fault(),
            RunError::FoldOutOfRange { .. } | RunError::FoldsFailed(_) | RunError::Signals(_) => {
                None
            }
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub dir: PathBuf,
    pub created: bool,
    /// Usable videos (normal, abnormal) and the clip cache they were read into.
    pub normal: usize,
    pub abnormal: usize,
    pub cache: PathBuf,
    /// Present once every fold is done.
    pub summary: Option<RunSummary>,
    /// Why the run stopped early, resumably.
    pub stopped: Option<StopReason>,
}

impl Outcome {
    /// 0, or 75 when the run stopped early and can be resumed.
    pub fn exit_code(&self) -> u8 {
        if self.stopped.is_some() { EXIT_RESUMABLE } else { 0 }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.created { "created" } else { "reopened" };
        writeln!(f, "result directory {what}: {}", self.dir.display())?;
        write!(
            f,
            "data: {} normal, {} abnormal videos; clip cache {}",
            self.normal,
            self.abnormal,
            self.cache.display()
        )?;
        if let Some(reason) = &self.stopped {
            write!(
                f,
                "\nstopped early ({reason}) with a checkpoint: rerun the same command to resume"
            )?;
        }
        let Some(s) = &self.summary else { return Ok(()) };
        let show = |m: &Option<crate::train::metrics::MeanStd>| {
            m.as_ref().map_or("n/a".into(), |m| match m.std {
                Some(sd) => format!("{:.3} ± {:.3}", m.mean, sd),
                None => format!("{:.3}", m.mean),
            })
        };
        writeln!(f)?;
        writeln!(
            f,
            "{:<28} {:>15} {:>15} {:>15} {:>15}",
            "", "accuracy", "bal. accuracy", "abn. recall", "AUROC"
        )?;
        for (name, sum) in
            [("validation (best epochs)", &s.validation), ("test (each fold)", &s.test)]
        {
            writeln!(
                f,
                "{name:<28} {:>15} {:>15} {:>15} {:>15}",
                show(&sum.accuracy),
                show(&sum.balanced_accuracy),
                show(&sum.sensitivity),
                show(&sum.auroc)
            )?;
        }
        for (name, m) in [
            ("test (fold ensemble)", &s.ensemble_test),
            (&format!("test (best fold, {})", s.best_fold) as &str, &s.best_fold_test),
        ] {
            if let Some(m) = m {
                let auroc = m.auroc.map_or("n/a".into(), |a| format!("{a:.3}"));
                writeln!(
                    f,
                    "{name:<28} {:>15.3} {:>15.3} {:>15.3} {:>15}",
                    m.accuracy, m.balanced_accuracy, m.sensitivity, auroc
                )?;
            }
        }
        Ok(())
    }
}

pub fn run(loaded: &Loaded, options: &RunOptions) -> Result<Outcome, RunError> {
    let exp = &loaded.experiment;
    let folds = match exp.cv.mode {
        CvMode::Kfold => exp.cv.folds,
        CvMode::Single => 1,
    };
    if let Some(fold) = options.fold.filter(|&k| k >= folds) {
        return Err(RunError::FoldOutOfRange { fold, folds });
    }
    let existed = crate::results::dir_path(loaded).exists();
    let dir = ResultDir::open_or_create(loaded)?;
    let _lock = match options.fold {
        Some(_) => DirLock::acquire_shared(&dir.path, options.wait),
        None => DirLock::acquire(&dir.path, options.wait),
    }
    .map_err(ResultsError::from)?;
    if options.force {
        match options.fold {
            Some(k) => dir.clear_fold(k as usize, SUMMARY, options.wait)?,
            None => dir.clear_outputs()?,
        }
    }
    let mut stop = match &options.stop {
        Some(stop) => stop.clone(),
        None => StopFlag::install().map_err(RunError::Signals)?,
    };
    if let Some(budget) = options.max_wall {
        stop = stop.with_budget(budget, wall_margin(budget));
    }
    let backend = serde_json::to_value(exp.runtime.backend)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let record = RunRecord::start(backend, options.argv.clone());
    record.append(&dir.path)?;
    let result = stages(loaded, &dir, !existed, options, &stop);
    let (status, said) = match &result {
        Ok(outcome) => (i32::from(outcome.exit_code()), outcome.to_string()),
        Err(e) => (i32::from(e.exit_code()), e.to_string()),
    };
    let recorded = record.end(status, said).append(&dir.path);
    // A run that failed says why; that its end could not be recorded too is the lesser news.
    match (result, recorded) {
        (Ok(_), Err(e)) => Err(e.into()),
        (result, _) => result,
    }
}

/// Figures of the folds done that have none yet, and of the run once it is complete. A figure
/// that cannot be drawn is noted in `train.log`: the results themselves are written already.
fn draw_figures(dir: &ResultDir, complete: bool, progress: &mut Progress) -> std::io::Result<()> {
    let folds = std::fs::read_dir(&dir.path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("fold-")))
        .filter(|p| p.join(DONE).exists() && !p.join(PLOTS).exists());
    let mut drawn: Vec<Result<_, _>> = folds.map(|fold| plots::write_fold_plots(&fold)).collect();
    if complete {
        drawn.push(plots::write_run_plots(&dir.path));
    }
    for result in drawn {
        if let Err(e) = result {
            progress.note(&format!("figures not drawn: {e}"))?;
        }
    }
    Ok(())
}

/// Time kept back at the end of a `--max-wall` budget for the batch in flight and the
/// checkpoint: a twentieth of the budget, at least 10 s (half of a budget under 20 s) and
/// at most 10 minutes.
pub fn wall_margin(budget: Duration) -> Duration {
    (budget / 20).clamp(Duration::from_secs(10).min(budget / 2), Duration::from_secs(600))
}

/// The stages, in order, each writing into the result directory.
fn stages(
    loaded: &Loaded,
    dir: &ResultDir,
    created: bool,
    options: &RunOptions,
    stop: &StopFlag,
) -> Result<Outcome, RunError> {
    let exp = &loaded.experiment;
    let cache_dir = exp.runtime.cache_dir();
    let dataset = stage::load(&exp.data, &cache_dir).map_err(CacheError::from)?;
    let cache = stage::prepare(&exp.data, &dataset, &cache_dir)?;
    let report =
        StageReport { data: &dataset.scan.report, labels: &dataset.labels, cache: Some(&cache) };
    let path = dir.file("data-report.json");
    let text = serde_json::to_string_pretty(&report).expect("a report is JSON") + "\n";
    atomic::write_file(&path, text.as_bytes())
        .map_err(|source| ResultsError::Io { path, source })?;
    let clips = ClipCache::open(&cache.path)?;
    let log_path = dir.file("train.log");
    let io = |source| RunError::Results(ResultsError::Io { path: log_path.clone(), source });
    let mut progress = Progress::new(exp.runtime.progress, &log_path).map_err(io)?;
    let fit_options = FitOptions {
        only: options.fold.map(|k| k as usize),
        retry_failed: options.retry_failed,
        wait: options.wait,
    };
    let mut trackers = Trackers::new(loaded, &dir.path);
    let fitted = fit(
        &exp.train_sections(),
        &dataset.labelled,
        clips,
        &dir.path,
        &fit_options,
        stop,
        (&mut progress, &mut trackers),
    )?;
    draw_figures(dir, fitted.summary.is_some(), &mut progress).map_err(io)?;
    for line in trackers.finish() {
        progress.note(&line).map_err(io)?;
    }
    drop(progress);
    if !fitted.failed.is_empty() {
        return Err(RunError::FoldsFailed(fitted.failed));
    }
    Ok(Outcome {
        dir: dir.path.clone(),
        created,
        normal: dataset.labels.normal,
        abnormal: dataset.labels.abnormal,
        cache: cache.path,
        summary: fitted.summary,
        stopped: fitted.stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_margin_is_a_twentieth_within_its_bounds() {
        let secs = |s: u64| wall_margin(Duration::from_secs(s)).as_secs_f64();
        assert_eq!(secs(2), 1.0, "half of a budget under 20 s");
        assert_eq!(secs(60), 10.0, "at least 10 s");
        assert_eq!(secs(3600), 180.0, "a twentieth");
        assert_eq!(secs(86_400), 600.0, "at most 10 minutes");
    }
}
