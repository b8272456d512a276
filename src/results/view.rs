//! A result directory as it stands, read without taking its lock: what made it, which folds
//! are done, running, failed or not started, their results and the run's summary. The
//! reader is lenient where it can be (fields a version did not write are absent, not
//! errors), so that `report`, `status` and `plot` work on directories of other runner
//! versions and on runs still in progress.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::dir::{CANONICAL, RESOLVED, RUNNER, RunnerInfo, dir_path};
use crate::config::{self, HASH_SCHEME, Overrides};
use crate::data::echonet::read_file_list;
use crate::data::labels::{Class, LabelRule};
use crate::model::HeadTask;
use crate::train::SelectionMetric;
use crate::train::metrics::{Metrics, best_by};
use crate::train::objective::Objective;

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{}: no such file or directory", .0.display())]
    Missing(PathBuf),
    #[error("{}: not a result directory (it has no {RUNNER}); give a result directory or an experiment file", .0.display())]
    NotResultDir(PathBuf),
    #[error("{}: invalid experiment file:\n{message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{}: not run yet (its result directory {} does not exist)", config.display(), dir.display())]
    NotRun { config: PathBuf, dir: PathBuf },
    #[error("{}: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
}

impl ViewError {
    /// 2 for what the user gave wrongly (no such path, not a result directory, a bad
    /// experiment file), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ViewError::Missing(_) | ViewError::NotResultDir(_) | ViewError::Config { .. } => 2,
            ViewError::NotRun { .. } | ViewError::Unreadable { .. } => 1,
        }
    }
}

fn unreadable(path: &Path, message: impl ToString) -> ViewError {
    ViewError::Unreadable { path: path.to_path_buf(), message: message.to_string() }
}

/// The result directory an argument names: the directory itself, or an experiment file's
/// directory found by its hash (the file loaded with `overrides`).
pub fn locate(arg: &Path, overrides: &Overrides) -> Result<PathBuf, ViewError> {
    if arg.is_dir() {
        return if arg.join(RUNNER).is_file() {
            Ok(arg.to_path_buf())
        } else {
            Err(ViewError::NotResultDir(arg.to_path_buf()))
        };
    }
    if !arg.is_file() {
        return Err(ViewError::Missing(arg.to_path_buf()));
    }
    let loaded = config::load(arg, overrides)
        .map_err(|d| ViewError::Config { path: arg.to_path_buf(), message: d.to_string() })?;
    let dir = dir_path(&loaded);
    if !dir.join(RUNNER).is_file() {
        return Err(ViewError::NotRun { config: arg.to_path_buf(), dir });
    }
    Ok(dir)
}

/// One epoch of a fold's history (`metrics.json` / `history.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct EpochRow {
    pub epoch: u32,
    #[serde(default)]
    pub lr: f64,
    pub train_loss: f64,
    #[serde(default)]
    pub train_accuracy: f64,
    pub val: Metrics,
}

/// A finished fold's `metrics.json`, as far as this reader needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct FoldFile {
    pub fold: usize,
    pub best_epoch: u32,
    pub val: Metrics,
    #[serde(default)]
    pub youden_threshold: Option<f64>,
    #[serde(default)]
    pub test: Option<Metrics>,
    #[serde(default)]
    pub test_at_youden: Option<Metrics>,
    #[serde(default)]
    pub test_videos: Vec<String>,
    #[serde(default)]
    pub test_prob: Vec<f64>,
    /// The test videos' classes, where the training loop wrote them (0/1 or names).
    #[serde(default)]
    pub test_labels: Option<Vec<Value>>,
    /// Regression heads: the test videos' predicted and true EF.
    #[serde(default)]
    pub test_ef_pred: Vec<f64>,
    #[serde(default)]
    pub test_ef: Vec<f64>,
    #[serde(default)]
    pub history: Vec<EpochRow>,
}

/// The newest mid-fold checkpoint's position, write time and best epoch so far.
#[derive(Debug, Clone, Default)]
pub struct CheckpointState {
    /// Epochs completed.
    pub epoch: Option<u32>,
    /// Next batch within the epoch.
    pub batch: Option<u64>,
    /// RFC 3339.
    pub written: Option<String>,
    pub best_epoch: Option<u32>,
    pub best_score: Option<f64>,
}

/// Where one fold stands.
#[derive(Debug, Clone)]
pub enum FoldState {
    Done(Box<FoldFile>),
    /// `DONE` is there but `metrics.json` cannot be read.
    Broken(String),
    /// `FAILED` holds the error.
    Failed(String),
    /// Started (its folder exists) and not finished.
    Started {
        history: Vec<EpochRow>,
        checkpoint: Option<(PathBuf, CheckpointState)>,
    },
    NotStarted,
}

/// The run's `summary.json`, as far as this reader needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryFile {
    pub folds: usize,
    #[serde(default)]
    pub ensemble_test: Option<Metrics>,
    pub best_fold: usize,
    #[serde(default)]
    pub best_fold_test: Option<Metrics>,
}

/// A result directory, read.
pub struct RunView {
    pub dir: PathBuf,
    pub runner_version: String,
    pub hash_scheme: u32,
    pub digest: String,
    /// `config.canonical.json`: the experiment as hashed.
    pub canonical: Value,
    /// `config.resolved.toml`, as written (empty if missing).
    pub resolved_toml: String,
    pub folds: Vec<FoldState>,
    pub summary: Option<SummaryFile>,
    labels: OnceLock<Option<HashMap<String, Class>>>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ViewError> {
    let text = fs::read_to_string(path).map_err(|e| unreadable(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| unreadable(path, format!("not the JSON this runner reads: {e}")))
}

impl RunView {
    pub fn open(dir: &Path) -> Result<RunView, ViewError> {
        if !dir.is_dir() {
            return Err(ViewError::Missing(dir.to_path_buf()));
        }
        let runner_file = dir.join(RUNNER);
        if !runner_file.is_file() {
            return Err(ViewError::NotResultDir(dir.to_path_buf()));
        }
        let info: RunnerInfo = read_json(&runner_file)?;
        let canonical: Value = read_json(&dir.join(CANONICAL))?;
        let resolved_toml = fs::read_to_string(dir.join(RESOLVED)).unwrap_or_default();
        let mut view = RunView {
            dir: dir.to_path_buf(),
            runner_version: info.runner_version,
            hash_scheme: info.hash_scheme,
            digest: info.digest,
            canonical,
            resolved_toml,
            folds: Vec::new(),
            summary: None,
            labels: OnceLock::new(),
        };
        let total = view.planned_folds();
        view.folds = (0..total).map(|k| fold_state(&dir.join(format!("fold-{k}")))).collect();
        view.summary = read_json(&dir.join("summary.json")).ok();
        Ok(view)
    }

    /// The directory's name (`<name>-<hash12>`).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map_or_else(|| self.dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// A line on a directory made by another hash scheme or runner version (`None` when it is
    /// this one's).
    pub fn version_note(&self) -> Option<String> {
        let this = env!("CARGO_PKG_VERSION");
        if self.hash_scheme != HASH_SCHEME {
            Some(format!(
                "{}: made by runner {} with hash scheme {} (this runner: {this}, scheme {HASH_SCHEME}); \
                 its figures are read as they are, but a config no longer finds it by hash",
                self.dir.display(),
                self.runner_version,
                self.hash_scheme
            ))
        } else if self.runner_version != this {
            Some(format!(
                "{}: made by runner {} (this runner: {this})",
                self.dir.display(),
                self.runner_version
            ))
        } else {
            None
        }
    }

    /// A value of the experiment by JSON pointer (`/cv/folds`).
    pub fn config(&self, pointer: &str) -> Option<&Value> {
        self.canonical.pointer(pointer)
    }

    /// Folds the experiment trains: `folds.json` once written, else from the config.
    fn planned_folds(&self) -> usize {
        #[derive(Deserialize)]
        struct Plan {
            folds: Vec<Value>,
        }
        if let Ok(plan) = read_json::<Plan>(&self.dir.join("folds.json")) {
            return plan.folds.len();
        }
        match self.config("/cv/mode").and_then(Value::as_str) {
            Some("single") => 1,
            _ => self.config("/cv/folds").and_then(Value::as_u64).unwrap_or(0) as usize,
        }
    }

    pub fn epochs(&self) -> Option<u64> {
        self.config("/train/epochs").and_then(Value::as_u64)
    }

    pub fn select_by(&self) -> SelectionMetric {
        self.config("/cv/select_by")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(SelectionMetric::Accuracy)
    }

    /// What the run's head learned, with the label rule that scores a predicted EF.
    pub fn objective(&self) -> Objective {
        let task: HeadTask = self.read_config("/model/head/task").unwrap_or_default();
        let rule: LabelRule = self.read_config("/data/labels").unwrap_or_default();
        Objective::new(task, &rule)
    }

    pub fn read_config<T: for<'de> Deserialize<'de>>(&self, pointer: &str) -> Option<T> {
        self.config(pointer).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The finished folds, in fold order.
    pub fn done(&self) -> Vec<&FoldFile> {
        self.folds
            .iter()
            .filter_map(|f| if let FoldState::Done(r) = f { Some(r.as_ref()) } else { None })
            .collect()
    }

    /// The finished fold with the best validation score by `cv.select_by` (the first of
    /// equals, as the training loop picks it).
    pub fn best_fold(&self) -> Option<&FoldFile> {
        let done = self.done();
        best_by(self.select_by(), done.iter().map(|f| &f.val)).map(|i| done[i])
    }

    /// The classes of `fold`'s test videos: as the fold recorded them, or looked up in the
    /// dataset's `FileList.csv` under the experiment's label rule. `None` when neither is
    /// available (the dataset moved, say).
    pub fn test_labels(&self, fold: &FoldFile) -> Option<Vec<Class>> {
        if let Some(values) = &fold.test_labels {
            let classes: Option<Vec<Class>> = values.iter().map(class_of).collect();
            if let Some(c) = classes.filter(|c| c.len() == fold.test_prob.len()) {
                return Some(c);
            }
        }
        let table = self.labels.get_or_init(|| self.dataset_labels()).as_ref()?;
        fold.test_videos.iter().map(|name| table.get(name).copied()).collect()
    }

    /// Every video's class from the dataset this run read, found through `data-report.json`.
    fn dataset_labels(&self) -> Option<HashMap<String, Class>> {
        #[derive(Deserialize)]
        struct Report {
            data: ReportData,
        }
        #[derive(Deserialize)]
        struct ReportData {
            root: PathBuf,
        }
        let rule: LabelRule = serde_json::from_value(self.config("/data/labels")?.clone()).ok()?;
        let root = read_json::<Report>(&self.dir.join("data-report.json")).ok()?.data.root;
        // The root as the run saw it: absolute, relative to where it ran (usually the folder
        // above the output root), or a cache folder beside this directory.
        let mut candidates = vec![root.clone()];
        if let Some(above) = self.dir.parent().and_then(Path::parent) {
            candidates.push(above.join(&root));
        }
        if let (Some(parent), Some(leaf)) = (self.dir.parent(), root.file_name()) {
            candidates.push(parent.join(".cache").join(leaf));
        }
        let list = candidates.into_iter().map(|r| r.join("FileList.csv")).find(|p| p.is_file())?;
        let rows = read_file_list(&list).ok()?;
        Some(rows.into_iter().filter_map(|r| Some((r.file_name, rule.classify(r.ef?)?))).collect())
    }

    /// The fold ensemble on the test set, with each video's score: the summary's when the
    /// run is complete, else the mean output of the finished folds (probability, or predicted
    /// EF) scored against the test labels (`None` without them or without a finished fold).
    pub fn ensemble(&self) -> Option<(Metrics, Vec<Class>, Vec<f64>)> {
        let done = self.done();
        let first = *done.first()?;
        let labels = self.test_labels(first);
        let objective = self.objective();
        // What the folds average: P(abnormal), or the predicted EF.
        let outputs: Vec<&[f64]> = done
            .iter()
            .map(|r| if objective.regresses() { &r.test_ef_pred[..] } else { &r.test_prob[..] })
            .collect();
        let n = outputs[0].len();
        if done
            .iter()
            .zip(&outputs)
            .any(|(r, o)| r.test_videos != first.test_videos || o.len() != n)
        {
            return None;
        }
        let mean: Vec<f64> =
            (0..n).map(|i| outputs.iter().map(|o| o[i]).sum::<f64>() / done.len() as f64).collect();
        let scores: Vec<f64> = mean.iter().map(|&o| objective.score(o)).collect();
        let complete = done.len() == self.folds.len();
        match (labels, &self.summary) {
            (Some(labels), _) => {
                let threshold = objective.threshold();
                let metrics = objective.metrics(&labels, &first.test_ef, &mean, threshold).ok()?;
                Some((metrics, labels, scores))
            }
            (None, Some(s)) if complete => s.ensemble_test.clone().map(|m| (m, vec![], scores)),
            _ => None,
        }
    }
}

fn class_of(v: &Value) -> Option<Class> {
    match v {
        Value::Number(n) => match n.as_u64()? {
            0 => Some(Class::Normal),
            1 => Some(Class::Abnormal),
            _ => None,
        },
        Value::String(_) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// A fold's `metrics.json`.
pub fn read_fold(fold_dir: &Path) -> Result<FoldFile, ViewError> {
    read_json(&fold_dir.join("metrics.json"))
}

fn fold_state(fold_dir: &Path) -> FoldState {
    if fold_dir.join("DONE").exists() {
        return match read_fold(fold_dir) {
            Ok(f) => FoldState::Done(Box::new(f)),
            Err(e) => FoldState::Broken(e.to_string()),
        };
    }
    if let Ok(text) = fs::read_to_string(fold_dir.join("FAILED")) {
        return FoldState::Failed(text.trim().to_owned());
    }
    if !fold_dir.is_dir() {
        return FoldState::NotStarted;
    }
    let history = read_json(&fold_dir.join("history.json")).unwrap_or_default();
    FoldState::Started { history, checkpoint: latest_checkpoint(fold_dir) }
}

/// The newest checkpoint, read the way the training loop wrote it.
pub fn latest_checkpoint(fold_dir: &Path) -> Option<(PathBuf, CheckpointState)> {
    let g = crate::train::checkpoint::peek(fold_dir)?;
    let state = CheckpointState {
        epoch: Some(g.epoch),
        batch: Some(g.batch as u64),
        written: Some(g.written),
        best_epoch: g.best.map(|b| b.0),
        best_score: g.best.map(|b| b.1),
    };
    Some((g.path, state))
}
