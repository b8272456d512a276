//! Figures of a result directory, written as PNG and SVG side by side:
//!
//! - per fold, into `fold-<k>/plots/`: `curves` (training loss and validation metrics per
//!   epoch, the best epoch marked), `confusion` (test set at 0.5 and at the validation Youden
//!   threshold), `roc-pr` (test ROC and precision-recall curves with their AUCs);
//! - per run, into `plots/`: the same three across folds, with the fold ensemble.
//!
//! The training loop calls [`write_fold_plots`] when a fold finishes and [`write_run_plots`]
//! when the run does; `runner plot DIR` (re)draws them for any result directory.

mod bars;
mod confusion;
mod figure;
mod lines;

use std::path::{Path, PathBuf};

pub use bars::{BarSeries, FrameBars, MetricBars, signed};
pub use confusion::ConfusionFigure;
pub use figure::{Figure, PlotError, png_bytes, save, svg_string};
pub use lines::{Line, LineFigure, Panel};

use super::view::{FoldFile, RunView, read_fold};
use crate::data::labels::{Class, LabelRule};
use crate::train::SelectionMetric;
use crate::train::metrics::{Metrics, auprc, auroc};

/// The folder of figures, in a fold's directory and in the result directory.
pub const PLOTS: &str = "plots";

/// What a call wrote, and the figures it could not draw (and why).
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<String>,
}

impl Written {
    fn add(&mut self, fig: &impl Figure, stem: PathBuf) -> Result<(), PlotError> {
        self.files.extend(save(fig, &stem)?);
        Ok(())
    }
}

/// The ROC curve's points (false-positive rate, true-positive rate), one per distinct
/// threshold from the highest down, from (0, 0) to (1, 1); empty without both classes.
pub fn roc_points(labels: &[Class], prob: &[f64]) -> Vec<(f64, f64)> {
    let pos = labels.iter().filter(|&&c| c == Class::Abnormal).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 || labels.len() != prob.len() {
        return vec![];
    }
    let mut points = vec![(0.0, 0.0)];
    for (tp, fp) in cumulative(labels, prob) {
        points.push((fp / neg, tp / pos));
    }
    points
}

/// The precision-recall curve's points (recall, precision), starting at (0, 1); empty
/// without abnormal videos.
pub fn pr_points(labels: &[Class], prob: &[f64]) -> Vec<(f64, f64)> {
    let pos = labels.iter().filter(|&&c| c == Class::Abnormal).count() as f64;
    if pos == 0.0 || labels.len() != prob.len() {
        return vec![];
    }
    let mut points = vec![(0.0, 1.0)];
    for (tp, fp) in cumulative(labels, prob) {
        points.push((tp / pos, tp / (tp + fp)));
    }
    points
}

/// (true positives, false positives) with `p ≥ t`, at each distinct `t`, highest first.
fn cumulative(labels: &[Class], prob: &[f64]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..prob.len()).collect();
    order.sort_by(|&a, &b| prob[b].total_cmp(&prob[a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        match labels[i] {
            Class::Abnormal => tp += 1.0,
            Class::Normal => fp += 1.0,
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| prob[j] != prob[i]);
        if last_of_tie {
            out.push((tp, fp));
        }
    }
    out
}

/// One model's test predictions, to draw as a ROC and a PR curve.
pub struct Scored<'a> {
    pub label: String,
    pub labels: &'a [Class],
    pub prob: &'a [f64],
}

/// A ROC panel and a precision-recall panel for several models, the AUCs in the legends.
pub fn roc_pr_panels(models: &[Scored<'_>], what: &str) -> Vec<Panel> {
    let mut roc = Panel::new(
        format!("ROC, {what}"),
        "false-positive rate (1 − specificity)",
        "true-positive rate (abnormal recall)",
    )
    .unit_y();
    roc.x = 0.0..1.0;
    let mut pr = Panel::new(
        format!("Precision-recall, {what}"),
        "recall (abnormal)",
        "precision (abnormal)",
    )
    .unit_y();
    pr.x = 0.0..1.0;
    for (i, m) in models.iter().enumerate() {
        let c = figure::color(i);
        let auc = auroc(m.labels, m.prob).map_or("n/a".into(), |a| format!("{a:.3}"));
        roc.lines.push(Line::new(
            format!("{} (AUROC {auc})", m.label),
            roc_points(m.labels, m.prob),
            c,
        ));
        let ap = auprc(m.labels, m.prob).map_or("n/a".into(), |a| format!("{a:.3}"));
        pr.lines.push(Line::new(
            format!("{} (AUPRC {ap})", m.label),
            pr_points(m.labels, m.prob),
            c,
        ));
    }
    roc.lines.push(Line::reference("chance (AUROC 0.5)", vec![(0.0, 0.0), (1.0, 1.0)]));
    if let Some(m) = models.first() {
        let prevalence = m.labels.iter().filter(|&&c| c == Class::Abnormal).count() as f64
            / m.labels.len().max(1) as f64;
        pr.lines.push(Line::reference(
            format!("chance (prevalence {prevalence:.2})"),
            vec![(0.0, prevalence), (1.0, prevalence)],
        ));
    }
    vec![roc, pr]
}

fn metric_name(m: SelectionMetric) -> &'static str {
    match m {
        SelectionMetric::Accuracy => "accuracy",
        SelectionMetric::BalancedAccuracy => "balanced accuracy",
        SelectionMetric::Auroc => "AUROC",
        SelectionMetric::AbnormalRecall => "abnormal recall",
        SelectionMetric::ValLoss => "loss",
    }
}

/// A fold's or run's training-loss axis: the cross-entropy, or a regression head's squared
/// error.
fn loss_desc(view: &RunView) -> &'static str {
    if view.objective().regresses() {
        "squared EF error (mean over the epoch)"
    } else {
        "cross-entropy (mean over the epoch)"
    }
}

/// Predicted against true EF on the test set, with the identity line and the label rule's
/// bounds (regression heads).
fn ef_scatter(view: &RunView, title: String, truth: &[f64], predicted: &[f64]) -> LineFigure {
    let points: Vec<(f64, f64)> = truth.iter().copied().zip(predicted.iter().copied()).collect();
    let lo = points.iter().fold(100.0f64, |m, &(t, p)| m.min(t).min(p)).min(0.0);
    let hi = points.iter().fold(0.0f64, |m, &(t, p)| m.max(t).max(p)).max(100.0);
    let mut panel = Panel::new("Test set", "true EF (%)", "predicted EF (%)");
    panel.x = lo..hi;
    panel.y = lo..hi;
    panel.integer_x = false;
    panel.lines.push(Line::scatter("test videos", points, figure::color(0)));
    panel.lines.push(Line::reference("predicted = true", vec![(lo, lo), (hi, hi)]));
    let bounds: Vec<f64> = match view.read_config::<LabelRule>("/data/labels") {
        Some(LabelRule::Band { normal_min, normal_max }) => vec![normal_min, normal_max],
        Some(LabelRule::Below { threshold }) => vec![threshold],
        None => vec![],
    };
    for (i, b) in bounds.into_iter().enumerate() {
        let label = if i == 0 { "class bounds" } else { "" };
        panel.lines.push(Line {
            color: figure::color(3),
            ..Line::reference(label, vec![(b, lo), (b, hi)])
        });
        panel
            .lines
            .push(Line { color: figure::color(3), ..Line::reference("", vec![(lo, b), (hi, b)]) });
    }
    LineFigure { title, panels: vec![panel], size: (640, 600) }
}

/// Per-epoch value of a validation metric; `None` where undefined.
fn per_epoch(fold: &FoldFile, f: impl Fn(&Metrics) -> Option<f64>) -> Vec<(f64, f64)> {
    fold.history.iter().filter_map(|e| f(&e.val).map(|v| (f64::from(e.epoch + 1), v))).collect()
}

fn fold_curves(view: &RunView, fold: &FoldFile) -> LineFigure {
    let epochs = view.epochs().map_or(fold.history.len(), |e| e as usize).max(fold.history.len());
    let best = (f64::from(fold.best_epoch + 1), format!("best epoch ({})", fold.best_epoch + 1));
    let mut loss = Panel::new("Training loss", "epoch", loss_desc(view)).epochs(epochs);
    loss.lines.push(
        Line::new(
            "train loss",
            fold.history.iter().map(|e| (f64::from(e.epoch + 1), e.train_loss)).collect(),
            figure::color(0),
        )
        .dots(),
    );
    loss = loss.fit_y(0.1);
    loss.marker = Some(best.clone());
    let mut val = Panel::new("Validation metrics", "epoch", "score").epochs(epochs).unit_y();
    type Series = (&'static str, fn(&Metrics) -> Option<f64>);
    let series: [Series; 4] = [
        ("accuracy", |m| Some(m.accuracy)),
        ("balanced accuracy", |m| Some(m.balanced_accuracy)),
        ("abnormal recall", |m| Some(m.sensitivity)),
        ("AUROC", |m| m.auroc),
    ];
    for (i, (name, f)) in series.into_iter().enumerate() {
        val.lines.push(Line::new(name, per_epoch(fold, f), figure::color(i)).dots());
    }
    val.marker = Some(best);
    LineFigure {
        title: format!("{} — fold {}: learning curves", view.name(), fold.fold),
        panels: vec![loss, val],
        size: (1200, 520),
    }
}

fn fold_confusion(view: &RunView, fold: &FoldFile) -> ConfusionFigure {
    let mut matrices = Vec::new();
    if let Some(t) = &fold.test {
        matrices.push((format!("test, threshold {:.2}", t.threshold), t.confusion));
    }
    if let Some(t) = &fold.test_at_youden {
        matrices.push((
            format!("test, Youden threshold {:.3} (from validation)", t.threshold),
            t.confusion,
        ));
    }
    if matrices.is_empty() {
        matrices
            .push((format!("validation, threshold {:.2}", fold.val.threshold), fold.val.confusion));
    }
    ConfusionFigure {
        title: format!(
            "{} — fold {}: confusion matrix (best epoch {})",
            view.name(),
            fold.fold,
            fold.best_epoch + 1
        ),
        matrices,
    }
}

/// Draws one fold's figures into `fold-<k>/plots/` from its `metrics.json` (the result
/// directory above it supplies the experiment's name and, where the fold did not record
/// them, the test labels). The fold need not be marked `DONE` yet.
pub fn write_fold_plots(fold_dir: &Path) -> Result<Written, PlotError> {
    let result_dir = fold_dir.parent().ok_or_else(|| {
        PlotError::Input(format!("{}: no result directory above it", fold_dir.display()))
    })?;
    let view = RunView::open(result_dir).map_err(|e| PlotError::Input(e.to_string()))?;
    let fold = read_fold(fold_dir).map_err(|e| PlotError::Input(e.to_string()))?;
    fold_plots(&view, &fold)
}

fn fold_plots(view: &RunView, fold: &FoldFile) -> Result<Written, PlotError> {
    let out = view.dir.join(format!("fold-{}", fold.fold)).join(PLOTS);
    let mut written = Written::default();
    written.add(&fold_curves(view, fold), out.join("curves"))?;
    written.add(&fold_confusion(view, fold), out.join("confusion"))?;
    if !fold.test_ef_pred.is_empty() && fold.test_ef.len() == fold.test_ef_pred.len() {
        let title = format!("{} — fold {}: predicted against true EF", view.name(), fold.fold);
        let fig = ef_scatter(view, title, &fold.test_ef, &fold.test_ef_pred);
        written.add(&fig, out.join("ef"))?;
    }
    match view.test_labels(fold) {
        Some(labels) if !fold.test_prob.is_empty() => {
            let model = Scored { label: format!("fold {}", fold.fold), labels: &labels, prob: &fold.test_prob };
            let fig = LineFigure {
                title: format!("{} — fold {}: test set", view.name(), fold.fold),
                panels: roc_pr_panels(&[model], "test set"),
                size: (1200, 560),
            };
            written.add(&fig, out.join("roc-pr"))?;
        }
        _ => written.skipped.push(format!("fold {}: ROC/PR curves: the test videos' labels are not in metrics.json and the dataset was not found", fold.fold)),
    }
    Ok(written)
}

/// Learning curves of every finished fold in one figure.
pub fn run_curves(view: &RunView) -> LineFigure {
    let done = view.done();
    let epochs = view.epochs().map_or(1, |e| e as usize);
    let metric = view.select_by();
    let mut loss = Panel::new("Training loss", "epoch", loss_desc(view)).epochs(epochs);
    let mut val =
        Panel::new(format!("Validation {}", metric_name(metric)), "epoch", metric_name(metric))
            .epochs(epochs);
    // The loss as it is (selection ranks it negated); the other metrics are proportions.
    let value = move |m: &Metrics| match metric {
        SelectionMetric::ValLoss => m.loss,
        _ => m.select(metric),
    };
    for (i, f) in done.iter().enumerate() {
        let c = figure::color(i);
        loss.lines.push(
            Line::new(
                format!("fold {}", f.fold),
                f.history.iter().map(|e| (f64::from(e.epoch + 1), e.train_loss)).collect(),
                c,
            )
            .dots(),
        );
        val.lines.push(
            Line::new(
                format!("fold {} (best epoch {})", f.fold, f.best_epoch + 1),
                per_epoch(f, value),
                c,
            )
            .dots(),
        );
    }
    let loss = loss.fit_y(0.1);
    let val = if metric == SelectionMetric::ValLoss { val.fit_y(0.1) } else { val.unit_y() };
    LineFigure {
        title: format!(
            "{}: learning curves, {} of {} folds",
            view.name(),
            done.len(),
            view.folds.len()
        ),
        panels: vec![loss, val],
        size: (1200, 520),
    }
}

/// Draws the run's figures into `<result_dir>/plots/` from its finished folds and
/// `summary.json`: learning curves of every fold, the test confusion matrices of the fold
/// ensemble and the best fold, and every fold's and the ensemble's test ROC/PR curves.
pub fn write_run_plots(result_dir: &Path) -> Result<Written, PlotError> {
    let view = RunView::open(result_dir).map_err(|e| PlotError::Input(e.to_string()))?;
    let done = view.done();
    if done.is_empty() {
        return Err(PlotError::Input(format!(
            "{}: no finished fold to plot",
            result_dir.display()
        )));
    }
    let out = view.dir.join(PLOTS);
    let mut written = Written::default();
    written.add(&run_curves(&view), out.join("curves"))?;
    let ensemble = view.ensemble();
    let mut matrices = Vec::new();
    if let Some((m, ..)) = &ensemble {
        matrices.push((format!("fold ensemble ({} folds), test", done.len()), m.confusion));
    }
    if let Some(best) = view.best_fold()
        && let Some(t) = &best.test
    {
        matrices.push((format!("best fold ({}), test", best.fold), t.confusion));
    }
    if !matrices.is_empty() {
        let fig = ConfusionFigure {
            title: format!("{}: confusion matrices, threshold 0.5", view.name()),
            matrices,
        };
        written.add(&fig, out.join("confusion"))?;
    }
    let labelled: Vec<(usize, Vec<Class>)> =
        done.iter().enumerate().filter_map(|(i, f)| Some((i, view.test_labels(f)?))).collect();
    if labelled.is_empty() {
        written.skipped.push("ROC/PR curves: the test videos' labels are not in metrics.json and the dataset was not found".into());
    } else {
        let mut models: Vec<Scored<'_>> = labelled
            .iter()
            .map(|(i, labels)| Scored {
                label: format!("fold {}", done[*i].fold),
                labels,
                prob: &done[*i].test_prob,
            })
            .collect();
        if let Some((_, labels, mean)) = ensemble.as_ref().filter(|(_, l, _)| !l.is_empty()) {
            models.push(Scored { label: "fold ensemble".into(), labels, prob: mean });
        }
        let fig = LineFigure {
            title: format!("{}: test set", view.name()),
            panels: roc_pr_panels(&models, "test set"),
            size: (1200, 560),
        };
        written.add(&fig, out.join("roc-pr"))?;
    }
    Ok(written)
}

/// Every finished fold's figures and the run's (`runner plot`).
pub fn write_all_plots(result_dir: &Path) -> Result<Written, PlotError> {
    let view = RunView::open(result_dir).map_err(|e| PlotError::Input(e.to_string()))?;
    let mut written = write_run_plots(result_dir)?;
    for fold in view.done() {
        let w = fold_plots(&view, fold)?;
        written.files.extend(w.files);
        written.skipped.extend(w.skipped);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Class = Class::Normal;
    const A: Class = Class::Abnormal;

    #[test]
    fn roc_points_enclose_the_auroc_and_pr_points_follow_the_thresholds() {
        let labels = [N, N, A, A, A, N, A];
        let prob = [0.1, 0.4, 0.4, 0.8, 0.35, 0.9, 0.6];
        let roc = roc_points(&labels, &prob);
        assert_eq!((roc[0], *roc.last().unwrap()), ((0.0, 0.0), (1.0, 1.0)));
        let area: f64 = roc.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum();
        assert!((area - auroc(&labels, &prob).unwrap()).abs() < 1e-12);
        // Thresholds 0.9, 0.8, 0.6, 0.4 (a tie), 0.35, 0.1: precision tp / (tp + fp).
        let pr = pr_points(&labels, &prob);
        assert_eq!(
            pr,
            [
                (0.0, 1.0),
                (0.0, 0.0),
                (0.25, 0.5),
                (0.5, 2.0 / 3.0),
                (0.75, 0.6),
                (1.0, 4.0 / 6.0),
                (1.0, 4.0 / 7.0)
            ]
        );
        assert!(roc_points(&[N, N], &[0.1, 0.2]).is_empty());
    }

    #[test]
    fn figures_render_with_the_embedded_font() {
        let fig = ConfusionFigure {
            title: "Confusion".into(),
            matrices: vec![("test".into(), [[5, 1], [2, 3]])],
        };
        let svg = svg_string(&fig).unwrap();
        assert!(svg.contains(">Confusion") || svg.contains("Confusion\n"), "{svg}");
        let png = png_bytes(&fig).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
