//! `runner report`: one row per experiment in the layout of the seed's results table —
//! Phase | Approach | Accuracy | Abnormal recall — with balanced accuracy, AUROC and AUPRC;
//! cross-validation figures as mean ± std over the finished folds and the held-out test
//! figures beside them; a column for each config key that differs between the rows; a run
//! still under way marked with its folds done (k/K).
//!
//! A row comes from a result directory, or from an experiment file whose directory is found
//! by its hash. What cannot be read is reported and left out: the table is partial rather
//! than absent.

mod cells;
mod columns;
mod html;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use columns::{Column, cell, changed_columns, changed_keys, flatten};
pub use html::html;
pub use render::{Format, render};

use super::plots::{BarSeries, LineFigure, MetricBars, PlotError, Scored, roc_pr_panels, save};
use super::view::{RunView, ViewError, locate};
use crate::config::Overrides;
use crate::data::labels::Class;
use crate::train::metrics::{MeanStd, Metrics, Summary, summarize};

/// Which test figures stand beside the cross-validation ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TestModel {
    /// The fold with the best validation score (by `cv.select_by`) on the test set: the
    /// seed's protocol.
    BestFold,
    /// The mean probability of every finished fold's model on the test set.
    Ensemble,
}

/// The metrics of the table, in its order: key, header, value of one evaluation, summary
/// across folds.
pub struct MetricColumn {
    pub key: &'static str,
    pub header: &'static str,
    pub value: fn(&Metrics) -> Option<f64>,
    pub summary: fn(&Summary) -> Option<MeanStd>,
}

pub const METRICS: [MetricColumn; 5] = [
    MetricColumn {
        key: "accuracy",
        header: "Accuracy",
        value: |m| Some(m.accuracy),
        summary: |s| s.accuracy,
    },
    MetricColumn {
        key: "abnormal_recall",
        header: "Abnormal recall",
        value: |m| Some(m.sensitivity),
        summary: |s| s.sensitivity,
    },
    MetricColumn {
        key: "balanced_accuracy",
        header: "Balanced accuracy",
        value: |m| Some(m.balanced_accuracy),
        summary: |s| s.balanced_accuracy,
    },
    MetricColumn { key: "auroc", header: "AUROC", value: |m| m.auroc, summary: |s| s.auroc },
    MetricColumn { key: "auprc", header: "AUPRC", value: |m| m.auprc, summary: |s| s.auprc },
];

/// The seed's phase and approach for a model kind.
pub fn phase_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "cnn_lstm" => ("Phase 1", "CNN + LSTM"),
        "swin_global" => ("Phase 2", "Swin + global Transformer"),
        "swin_hybrid" => ("Phase 3", "Swin + Hybrid (MHSA ‖ DWConv)"),
        _ => ("—", "unknown model"),
    }
}

/// One experiment.
#[derive(Debug, Serialize)]
pub struct Row {
    pub experiment: String,
    pub dir: PathBuf,
    pub phase: String,
    pub approach: String,
    pub folds_done: usize,
    pub folds_total: usize,
    /// Validation figures of each finished fold's best epoch, mean ± std over the folds.
    pub cv: Summary,
    /// The test figures of `test_model`.
    pub test: Option<Metrics>,
    /// Which model `test` is: "best fold 2 of 3", "ensemble of 3 folds".
    pub test_model: String,
    /// The experiment's config, flattened (`model.kind` → value).
    pub config: BTreeMap<String, Value>,
    #[serde(skip)]
    pub resolved_toml: String,
    pub notes: Vec<String>,
    /// The test predictions behind `test`, for the ROC overlay (when the labels are known).
    #[serde(skip)]
    pub scored: Option<(Vec<Class>, Vec<f64>)>,
}

impl Row {
    pub fn complete(&self) -> bool {
        self.folds_total > 0 && self.folds_done == self.folds_total
    }

    /// "3/3", or "1/3 (incomplete)".
    pub fn folds_cell(&self) -> String {
        if self.complete() {
            format!("{}/{}", self.folds_done, self.folds_total)
        } else {
            format!("{}/{} (incomplete)", self.folds_done, self.folds_total)
        }
    }

    pub fn has_figures(&self) -> bool {
        self.folds_done > 0
    }
}

/// A report: its rows, the config keys that differ between them, and what could not be read.
#[derive(Debug, Serialize)]
pub struct Report {
    pub test_model: TestModel,
    pub changed_keys: Vec<String>,
    #[serde(skip)]
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Inputs left out, and why.
    pub problems: Vec<String>,
}

impl Report {
    /// Reads every argument (result directory or experiment file) into a row, in order; the
    /// same directory named twice is one row.
    pub fn build(args: &[PathBuf], overrides: &Overrides, test_model: TestModel) -> Report {
        let mut rows: Vec<Row> = Vec::new();
        let mut problems = Vec::new();
        for arg in args {
            match read_row(arg, overrides, test_model) {
                Ok(row) => {
                    let same = |r: &Row| r.dir.canonicalize().ok() == row.dir.canonicalize().ok();
                    if !rows.iter().any(same) {
                        rows.push(row);
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        let flat: Vec<&BTreeMap<String, Value>> = rows.iter().map(|r| &r.config).collect();
        let columns = changed_columns(&flat);
        let changed_keys = columns.iter().map(|c| c.key.clone()).collect();
        Report { test_model, changed_keys, columns, rows, problems }
    }

    /// How the test column was made, for the table's footnote.
    pub fn test_caption(&self) -> &'static str {
        match self.test_model {
            TestModel::BestFold => {
                "test: the fold with the best validation score (cv.select_by) on the held-out test set, the seed's protocol"
            }
            TestModel::Ensemble => {
                "test: the mean probability of the finished folds' models on the held-out test set"
            }
        }
    }

    pub fn cv_caption(&self) -> &'static str {
        "CV: validation figures of each fold's best epoch, mean ± sample std over the finished folds"
    }

    /// Whether any row has a finished fold to show.
    pub fn has_figures(&self) -> bool {
        self.rows.iter().any(Row::has_figures)
    }

    /// The cross-experiment ROC/PR overlay (rows whose test labels are known).
    pub fn overlay(&self) -> Option<LineFigure> {
        let models: Vec<Scored<'_>> = self
            .rows
            .iter()
            .filter_map(|r| {
                r.scored.as_ref().map(|(labels, prob)| Scored {
                    label: r.experiment.clone(),
                    labels,
                    prob,
                })
            })
            .collect();
        if models.is_empty() {
            return None;
        }
        let what = match self.test_model {
            TestModel::BestFold => "test set, best fold",
            TestModel::Ensemble => "test set, fold ensemble",
        };
        Some(LineFigure {
            title: "Test-set ROC and precision-recall curves by experiment".into(),
            panels: roc_pr_panels(&models, what),
            size: (1300, 600),
        })
    }

    /// The table's main metrics as grouped bars.
    pub fn bars(&self) -> MetricBars {
        MetricBars {
            title: "Main metrics by experiment".into(),
            metrics: METRICS.iter().map(|m| m.header.to_owned()).collect(),
            series: self
                .rows
                .iter()
                .filter(|r| r.has_figures())
                .map(|r| BarSeries {
                    label: if r.complete() {
                        r.experiment.clone()
                    } else {
                        format!("{} ({})", r.experiment, r.folds_cell())
                    },
                    values: METRICS
                        .iter()
                        .map(|m| {
                            (
                                (m.summary)(&r.cv).map(|s| (s.mean, s.std)),
                                r.test.as_ref().and_then(m.value),
                            )
                        })
                        .collect(),
                })
                .collect(),
            cv_label: "CV mean ± std".into(),
            test_label: match self.test_model {
                TestModel::BestFold => "test (best fold)".into(),
                TestModel::Ensemble => "test (fold ensemble)".into(),
            },
        }
    }

    /// Writes `roc-overlay` and `metrics-bars` (PNG and SVG) into `dir`.
    pub fn write_plots(&self, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
        let mut files = Vec::new();
        if let Some(fig) = self.overlay() {
            files.extend(save(&fig, &dir.join("roc-overlay"))?);
        }
        files.extend(save(&self.bars(), &dir.join("metrics-bars"))?);
        Ok(files)
    }
}

fn read_row(arg: &Path, overrides: &Overrides, test_model: TestModel) -> Result<Row, ViewError> {
    let dir = locate(arg, overrides)?;
    let view = RunView::open(&dir)?;
    let mut notes: Vec<String> = view.version_note().into_iter().collect();
    let kind = view.config("/model/kind").and_then(Value::as_str).unwrap_or_default();
    let (phase, approach) = phase_of(kind);
    let done = view.done();
    let cv = summarize(&done.iter().map(|f| f.val.clone()).collect::<Vec<_>>());
    if done.is_empty() {
        notes.push(format!("{}: no finished fold yet", dir.display()));
    }
    for (k, fold) in view.folds.iter().enumerate() {
        match fold {
            super::view::FoldState::Broken(why) => {
                notes.push(format!("fold {k} is marked done but unreadable: {why}"))
            }
            super::view::FoldState::Failed(why) => notes.push(format!("fold {k} failed: {why}")),
            _ => {}
        }
    }
    let (test, test_model_text, scored) = match test_model {
        TestModel::BestFold => match view.best_fold() {
            Some(best) => {
                let scored = view.test_labels(best).map(|l| (l, best.test_prob.clone()));
                (best.test.clone(), format!("best fold {} of {}", best.fold, done.len()), scored)
            }
            None => (None, String::new(), None),
        },
        TestModel::Ensemble => match view.ensemble() {
            Some((m, labels, mean)) => {
                let scored = (!labels.is_empty()).then_some((labels, mean));
                (Some(m), format!("ensemble of {} folds", done.len()), scored)
            }
            None => {
                if !done.is_empty() {
                    notes.push("no ensemble figures: the test labels are not recorded and the dataset was not found".into());
                }
                (None, String::new(), None)
            }
        },
    };
    Ok(Row {
        experiment: view.name(),
        dir,
        phase: phase.into(),
        approach: approach.into(),
        folds_done: done.len(),
        folds_total: view.folds.len(),
        cv,
        test,
        test_model: test_model_text,
        config: flatten(&view.canonical),
        resolved_toml: view.resolved_toml.clone(),
        notes,
        scored,
    })
}

/// Writes a rendered report to `path` atomically.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic::write_file(path, text.as_bytes())
}

/// `0.791 ± 0.012`; `0.791` for a single fold; `—` when undefined.
pub fn mean_std_cell(m: Option<MeanStd>) -> String {
    match m {
        Some(MeanStd { mean, std: Some(sd), .. }) => format!("{mean:.3} ± {sd:.3}"),
        Some(MeanStd { mean, std: None, .. }) => format!("{mean:.3}"),
        None => "—".into(),
    }
}

pub fn value_cell(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.3}"))
}
