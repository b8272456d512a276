//! `runner report`: one row per experiment in the layout of the seed's results table —
//! Phase | Approach | Accuracy | Abnormal recall — with balanced accuracy, AUROC and AUPRC;
//! cross-validation figures as mean ± std over the finished folds and the held-out test
//! figures beside them; a column for each config key that differs between the rows; a run
//! still under way marked with its folds done (k/K).
//!
//! A row comes from a result directory, or from an experiment file whose directory is found
//! by its hash. What cannot be read is reported and left out: the table is partial rather
//! than absent.
//!
//! Every figure carries its 95 % interval (the test set's by a stratified bootstrap, the
//! folds' by a t-interval); with a baseline, every other row gets its differences from it
//! with intervals and p-values (`compare`); rows that differ only in the seed are one line
//! (`seeds`).

mod cells;
mod columns;
mod compare;
mod evidence;
mod html;
mod options;
mod render;
mod seeds;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use columns::{Column, cell, changed_columns, changed_keys, flatten, with_added_later};
pub use compare::{Compare, Delta};
pub use evidence::{Evidence, TestSet};
pub use html::html;
pub use options::{BOOTSTRAP_SEED, DEFAULT_BOOTSTRAP, ReportOptions};
pub use render::{Format, render};
pub use seeds::{SeedGroup, Spread};

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
        "r2plus1d" => ("EchoNet-Dynamic", "R(2+1)D-18"),
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
    /// The 95 % t-interval over the finished folds of each metric's CV figure.
    pub cv_ci: BTreeMap<&'static str, [f64; 2]>,
    /// The 95 % stratified bootstrap interval of each test figure.
    pub test_ci: BTreeMap<&'static str, [f64; 2]>,
    /// The differences from the baseline row (absent for the baseline itself, without a
    /// baseline, and for a row shown in a seed group, whose group carries them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
    #[serde(skip)]
    pub evidence: Evidence,
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

/// One line of the table: a row, or a group of rows that differ only in the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Row(usize),
    Group(usize),
}

/// A report: its rows, the config keys that differ between them, and what could not be read.
#[derive(Debug, Serialize)]
pub struct Report {
    pub test_model: TestModel,
    /// Resamples of the test-set bootstrap (0: none).
    pub bootstrap: usize,
    pub changed_keys: Vec<String>,
    #[serde(skip)]
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Rows repeated over seeds, each shown as one line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<SeedGroup>,
    /// The line the others are compared with (a row's or a group's `experiment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Why there is no baseline line although one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_problem: Option<String>,
    /// Inputs left out, and why.
    pub problems: Vec<String>,
    /// The table's lines, in order.
    #[serde(skip)]
    pub lines: Vec<Line>,
}

impl Report {
    /// Reads every argument (result directory or experiment file) into a row, in order; the
    /// same directory named twice is one row. A baseline that is not among the inputs is
    /// read as the first row; one that cannot be read leaves every comparison cell saying
    /// why.
    pub fn build(args: &[PathBuf], overrides: &Overrides, options: &ReportOptions) -> Report {
        let mut rows: Vec<Row> = Vec::new();
        let mut problems = Vec::new();
        let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
        for arg in args {
            match read_row(arg, overrides, options) {
                Ok(row) => {
                    if !rows.iter().any(|r| same(&r.dir, &row.dir)) {
                        rows.push(row);
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        let mut baseline_row = None;
        let mut baseline_problem = None;
        if let Some(arg) = &options.baseline {
            match locate(arg, overrides) {
                Ok(dir) => match rows.iter().position(|r| same(&r.dir, &dir)) {
                    Some(i) => baseline_row = Some(i),
                    None => match read_row(&dir, overrides, options) {
                        Ok(row) => {
                            rows.insert(0, row);
                            baseline_row = Some(0);
                        }
                        Err(e) => baseline_problem = Some(format!("baseline {e}")),
                    },
                },
                Err(e) => baseline_problem = Some(format!("baseline {e}")),
            }
        }
        let flat: Vec<&BTreeMap<String, Value>> = rows.iter().map(|r| &r.config).collect();
        let columns = changed_columns(&flat);
        let changed_keys = columns.iter().map(|c| c.key.clone()).collect();
        let mut report = Report {
            test_model: options.test_model,
            bootstrap: options.bootstrap,
            changed_keys,
            columns,
            rows,
            groups: Vec::new(),
            baseline: None,
            baseline_problem,
            problems,
            lines: Vec::new(),
        };
        report.group(options.group_seeds);
        report.compare(baseline_row, options);
        report
    }

    /// Makes the lines: each row its own, or (`by_seed`) rows differing only in the seed one.
    fn group(&mut self, by_seed: bool) {
        if !by_seed {
            self.lines = (0..self.rows.len()).map(Line::Row).collect();
            return;
        }
        for members in seeds::lines(&self.rows) {
            if members.len() == 1 {
                self.lines.push(Line::Row(members[0]));
            } else {
                self.lines.push(Line::Group(self.groups.len()));
                self.groups.push(seeds::group(&self.rows, &members));
            }
        }
    }

    /// The line holding row `i`.
    fn line_of(&self, i: usize) -> Option<Line> {
        self.lines.iter().copied().find(|l| match *l {
            Line::Row(r) => r == i,
            Line::Group(g) => self.groups[g].rows.contains(&i),
        })
    }

    /// The line's name as the table shows it.
    pub fn line_name(&self, line: Line) -> &str {
        match line {
            Line::Row(r) => &self.rows[r].experiment,
            Line::Group(g) => &self.groups[g].experiment,
        }
    }

    /// The line's members with their seeds.
    fn members(&self, line: Line) -> Vec<(i64, &Row)> {
        let rows: Vec<usize> = match line {
            Line::Row(r) => vec![r],
            Line::Group(g) => self.groups[g].rows.clone(),
        };
        rows.iter()
            .map(|&i| (seeds::seed_of(&self.rows[i]).unwrap_or_default(), &self.rows[i]))
            .collect()
    }

    /// Compares every other line with the baseline's, then adjusts the p-values.
    fn compare(&mut self, baseline_row: Option<usize>, options: &ReportOptions) {
        let Some(asked) = &options.baseline else { return };
        let base_line = baseline_row.and_then(|i| self.line_of(i));
        let compares: Vec<(Line, Compare)> = self
            .lines
            .iter()
            .filter(|&&l| Some(l) != base_line)
            .map(|&line| {
                let c = match base_line {
                    None => Compare::none(
                        &asked.display().to_string(),
                        self.baseline_problem
                            .as_deref()
                            .unwrap_or("the baseline is not among the rows"),
                    ),
                    Some(base) => {
                        let name = self.line_name(base).to_owned();
                        match (line, base) {
                            (Line::Row(r), Line::Row(b)) => compare::compare_rows(
                                &self.rows[r],
                                &self.rows[b],
                                &name,
                                options.bootstrap,
                                BOOTSTRAP_SEED,
                            ),
                            _ => compare::compare_by_seed(
                                &self.members(line),
                                &self.members(base),
                                &name,
                                [("test", seeds::test_figure), ("cv", seeds::cv_figure)],
                            ),
                        }
                    }
                };
                (line, c)
            })
            .collect();
        self.baseline = base_line.map(|l| self.line_name(l).to_owned());
        for (line, c) in compares {
            match line {
                Line::Row(r) => self.rows[r].compare = Some(c),
                Line::Group(g) => self.groups[g].compare = Some(c),
            }
        }
        let mut all: Vec<&mut Compare> = self
            .rows
            .iter_mut()
            .filter_map(|r| r.compare.as_mut())
            .chain(self.groups.iter_mut().filter_map(|g| g.compare.as_mut()))
            .collect();
        compare::adjust(&mut all);
    }

    /// The comparison of a line, if it has one.
    pub fn compare_of(&self, line: Line) -> Option<&Compare> {
        match line {
            Line::Row(r) => self.rows[r].compare.as_ref(),
            Line::Group(g) => self.groups[g].compare.as_ref(),
        }
    }

    /// Whether the report compares lines with a baseline.
    pub fn compares(&self) -> bool {
        self.baseline.is_some() || self.baseline_problem.is_some()
    }

    /// How the intervals were made, for the table's footnote.
    pub fn interval_caption(&self) -> String {
        let test = if self.bootstrap == 0 {
            "test figures without intervals (--bootstrap 0)".to_owned()
        } else {
            format!(
                "[…]: 95% intervals (within 0–1), of test figures by the percentile bootstrap stratified by class ({} resamples, fixed seed), of CV figures the t-interval over folds",
                self.bootstrap
            )
        };
        if self.groups.is_empty() {
            test
        } else {
            format!(
                "{test}; a line × n seeds: mean ± std over the seeds of each figure, [95% t-interval over the seeds]"
            )
        }
    }

    /// How the differences were tested, for the comparison table's footnote.
    pub fn compare_caption(&self) -> String {
        format!(
            concat!(
                "Δ: this row minus {}, [95% interval], two-sided p (Holm-adjusted over the compared rows when more than one); ",
                "CV: corrected resampled t-test over the shared folds (Nadeau & Bengio), k−1 df; ",
                "test: DeLong (AUROC), exact McNemar on per-video correctness (accuracy; abnormal recall on the abnormal videos), ",
                "paired stratified bootstrap (balanced accuracy, AUPRC, and the other intervals); ",
                "seed groups: mean of the per-seed differences, t over the shared seeds"
            ),
            self.baseline.as_deref().unwrap_or("the baseline")
        )
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

fn read_row(arg: &Path, overrides: &Overrides, options: &ReportOptions) -> Result<Row, ViewError> {
    let test_model = options.test_model;
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
    let (test, test_model_text, scored, videos) = match test_model {
        TestModel::BestFold => match view.best_fold() {
            Some(best) => {
                let scored = view.test_labels(best).map(|l| (l, best.test_prob.clone()));
                let text = format!("best fold {} of {}", best.fold, done.len());
                (best.test.clone(), text, scored, best.test_videos.clone())
            }
            None => (None, String::new(), None, vec![]),
        },
        TestModel::Ensemble => match view.ensemble() {
            Some((m, labels, mean)) => {
                let scored = (!labels.is_empty()).then_some((labels, mean));
                let videos = done.first().map(|f| f.test_videos.clone()).unwrap_or_default();
                (Some(m), format!("ensemble of {} folds", done.len()), scored, videos)
            }
            None => {
                if !done.is_empty() {
                    notes.push("no ensemble figures: the test labels are not recorded and the dataset was not found".into());
                }
                (None, String::new(), None, vec![])
            }
        },
    };
    let older = "no per-video test predictions (a result directory of an older runner)";
    let (evidence_test, no_test) = match (&test, &scored) {
        _ if done.is_empty() => (None, Some("no finished fold".to_owned())),
        _ if videos.is_empty() => (None, Some(older.to_owned())),
        (Some(m), Some((labels, prob))) if videos.len() == prob.len() => {
            let threshold = m.threshold;
            let set = TestSet { videos, labels: labels.clone(), prob: prob.clone(), threshold };
            (Some(set), None)
        }
        (Some(_), None) => (
            None,
            Some(
                "the test videos' classes are not recorded and the dataset was not found"
                    .to_owned(),
            ),
        ),
        _ => (None, Some(older.to_owned())),
    };
    let folds: Vec<(usize, Metrics)> = done.iter().map(|f| (f.fold, f.val.clone())).collect();
    let cv_ci = evidence::cv_intervals(&folds);
    let test_ci = evidence_test
        .as_ref()
        .map(|t| evidence::test_intervals(t, options.bootstrap, BOOTSTRAP_SEED))
        .unwrap_or_default();
    let fold_plan = std::fs::read_to_string(dir.join("folds.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let evidence = Evidence { test: evidence_test, no_test, folds, fold_plan };
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
        config: with_added_later(flatten(&view.canonical), &view.resolved_toml),
        resolved_toml: view.resolved_toml.clone(),
        notes,
        scored,
        cv_ci,
        test_ci,
        compare: None,
        evidence,
    })
}

/// Writes a rendered report to `path` atomically.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::atomic::write_file(path, text.as_bytes())
}

/// `[0.761, 0.821]` after a figure, when there is an interval.
pub fn with_interval(cell: String, ci: Option<&[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) if cell != "—" => format!("{cell} [{lo:.3}, {hi:.3}]"),
        _ => cell,
    }
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
