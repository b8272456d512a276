//! Binary classification metrics (sklearn's definitions) and their summary across folds.
//!
//! A video is predicted abnormal iff `prob_abnormal ≥ threshold` (the convention of sklearn's
//! `roc_curve`; at 0.5 it differs from the argmax of two logits only on an exact tie).
//! Per-class precision/recall/F1 follow `classification_report(labels=[0, 1],
//! zero_division=0)`: a ratio with a zero denominator is 0. Ranking metrics that need both
//! classes are `None` (JSON `null`, never NaN) when one is absent: AUROC without either
//! class, AUPRC without abnormal videos.
//! The free functions `auroc`, `auprc` and `youden_threshold` also return `None` when the
//! lengths of labels and probabilities differ.

use serde::{Deserialize, Serialize};

use super::config::SelectionMetric;
use crate::data::labels::Class;

/// Why metrics cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("no predictions to score")]
    Empty,
    #[error("{labels} labels but {probs} probabilities")]
    LengthMismatch { labels: usize, probs: usize },
    #[error("probability {0} at position {1} is not finite")]
    NotFinite(f64, usize),
}

/// Precision, recall, F1 and support of one class (or an average of them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Scores of one model on one set of videos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    /// Decision threshold on the abnormal probability.
    pub threshold: f64,
    pub accuracy: f64,
    /// Mean recall over the classes present in the labels (sklearn's
    /// `balanced_accuracy_score`).
    pub balanced_accuracy: f64,
    /// Abnormal recall.
    pub sensitivity: f64,
    /// Normal recall.
    pub specificity: f64,
    pub auroc: Option<f64>,
    /// Average precision of the abnormal class.
    pub auprc: Option<f64>,
    /// `[[tn, fp], [fn, tp]]`: rows are the true class, columns the predicted one.
    pub confusion: [[usize; 2]; 2],
    pub normal: ClassReport,
    pub abnormal: ClassReport,
    /// Unweighted mean of the two classes' reports.
    pub macro_avg: ClassReport,
    /// Support-weighted mean of the two classes' reports.
    pub weighted_avg: ClassReport,
    /// Mean loss of the training objective on these videos, without class weights or label
    /// smoothing: cross-entropy of the probabilities ([`log_loss`]) or the EF's mean squared
    /// error. Set for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Errors of the predicted EF (regression heads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef: Option<EfErrors>,
}

/// How far predicted ejection fractions lie from the true ones, in EF points (sklearn's
/// `mean_absolute_error`, `root_mean_squared_error` and `r2_score`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EfErrors {
    pub mae: f64,
    pub rmse: f64,
    /// 1 − residual sum of squares / total sum of squares; `None` when every true EF is the
    /// same (sklearn then gives 0 or 1 by convention).
    pub r2: Option<f64>,
}

/// The EF errors of `predicted` against `truth`; `None` when empty or of unequal lengths.
pub fn ef_errors(truth: &[f64], predicted: &[f64]) -> Option<EfErrors> {
    if truth.is_empty() || truth.len() != predicted.len() {
        return None;
    }
    let n = truth.len() as f64;
    let residuals = truth.iter().zip(predicted).map(|(t, p)| t - p);
    let mae = residuals.clone().map(f64::abs).sum::<f64>() / n;
    let ss_res: f64 = residuals.map(|r| r * r).sum();
    let mean = truth.iter().sum::<f64>() / n;
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    let r2 = (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot);
    Some(EfErrors { mae, rmse: (ss_res / n).sqrt(), r2 })
}

/// Mean squared error of predicted EFs: the regression head's loss.
pub fn mse(truth: &[f64], predicted: &[f64]) -> f64 {
    let sum: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - p).powi(2)).sum();
    sum / truth.len().max(1) as f64
}

/// 0 when the denominator is 0 (sklearn's `zero_division=0`).
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

fn check(labels: &[Class], prob: &[f64]) -> Result<(), MetricsError> {
    if labels.len() != prob.len() {
        return Err(MetricsError::LengthMismatch { labels: labels.len(), probs: prob.len() });
    }
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    match prob.iter().position(|p| !p.is_finite()) {
        Some(i) => Err(MetricsError::NotFinite(prob[i], i)),
        None => Ok(()),
    }
}

/// `[[tn, fp], [fn, tp]]` at `threshold`.
pub fn confusion(labels: &[Class], prob: &[f64], threshold: f64) -> [[usize; 2]; 2] {
    let mut m = [[0; 2]; 2];
    for (label, &p) in labels.iter().zip(prob) {
        m[label.index()][usize::from(p >= threshold)] += 1;
    }
    m
}

fn class_report(m: &[[usize; 2]; 2], class: usize) -> ClassReport {
    let tp = m[class][class] as f64;
    let predicted = (m[0][class] + m[1][class]) as f64;
    let support = m[class][0] + m[class][1];
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, support as f64);
    ClassReport {
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
        support,
    }
}

/// Mean of two reports with weights `w` (summing to 1); the support is the total.
fn average(a: &ClassReport, b: &ClassReport, w: [f64; 2]) -> ClassReport {
    let mix = |x: f64, y: f64| w[0] * x + w[1] * y;
    ClassReport {
        precision: mix(a.precision, b.precision),
        recall: mix(a.recall, b.recall),
        f1: mix(a.f1, b.f1),
        support: a.support + b.support,
    }
}

/// Indices sorted by descending probability, and the end (exclusive) of each run of equal
/// probabilities in that order.
fn tie_groups(prob: &[f64]) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..prob.len()).collect();
    order.sort_by(|&a, &b| prob[b].total_cmp(&prob[a]));
    let ends = (1..=order.len())
        .filter(|&k| k == order.len() || prob[order[k]] != prob[order[k - 1]])
        .collect();
    (order, ends)
}

/// Cumulative (threshold, true positives, false positives) at each distinct threshold,
/// highest first: the points of sklearn's ROC and precision-recall curves.
fn curve(labels: &[Class], prob: &[f64]) -> Vec<(f64, usize, usize)> {
    let (order, ends) = tie_groups(prob);
    let (mut tp, mut fp, mut start) = (0, 0, 0);
    ends.iter()
        .map(|&end| {
            for &i in &order[start..end] {
                match labels[i] {
                    Class::Abnormal => tp += 1,
                    Class::Normal => fp += 1,
                }
            }
            start = end;
            (prob[order[end - 1]], tp, fp)
        })
        .collect()
}

/// (abnormal, normal) counts; `None` when the lengths differ (nothing to rank).
fn class_totals(labels: &[Class], prob: &[f64]) -> Option<(usize, usize)> {
    let pos = labels.iter().filter(|&&c| c == Class::Abnormal).count();
    (labels.len() == prob.len()).then_some((pos, labels.len() - pos))
}

/// Area under the ROC curve: the Mann–Whitney probability that an abnormal video scores above
/// a normal one, ties counted ½ (equal to sklearn's `roc_auc_score`). `None` without both
/// classes.
pub fn auroc(labels: &[Class], prob: &[f64]) -> Option<f64> {
    let (pos, neg) = class_totals(labels, prob)?;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Each tie group: its abnormal videos beat every normal one below it and tie with the
    // normal ones in the group.
    let mut wins = 0.0;
    let (mut neg_above, mut prev_tp, mut prev_fp) = (0usize, 0usize, 0usize);
    for (_, tp, fp) in curve(labels, prob) {
        let (group_pos, group_neg) = (tp - prev_tp, fp - prev_fp);
        let neg_below = neg - neg_above - group_neg;
        wins += group_pos as f64 * (neg_below as f64 + 0.5 * group_neg as f64);
        neg_above += group_neg;
        (prev_tp, prev_fp) = (tp, fp);
    }
    Some(wins / (pos as f64 * neg as f64))
}

/// Average precision (sklearn's `average_precision_score`): `Σ (Rₖ − Rₖ₋₁) · Pₖ` over the
/// distinct thresholds from the highest down, `R₀ = 0`. `None` without abnormal videos.
pub fn auprc(labels: &[Class], prob: &[f64]) -> Option<f64> {
    let (pos, _) = class_totals(labels, prob)?;
    if pos == 0 {
        return None;
    }
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for (_, tp, fp) in curve(labels, prob) {
        let recall = tp as f64 / pos as f64;
        ap += (recall - prev_recall) * tp as f64 / (tp + fp) as f64;
        prev_recall = recall;
    }
    Some(ap)
}

/// Mean cross-entropy of the true classes' probabilities (sklearn's `log_loss`, natural
/// log), each probability kept within [1e-15, 1 − 1e-15] so that a sure mistake costs a
/// finite 34.5. No class weights nor label smoothing: the loss of the predictions alone.
pub fn log_loss(labels: &[Class], prob: &[f64]) -> f64 {
    let eps = 1e-15;
    let total: f64 = labels
        .iter()
        .zip(prob)
        .map(|(c, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(if *c == Class::Abnormal { p } else { 1.0 - p }).ln()
        })
        .sum();
    total / labels.len().max(1) as f64
}

/// The threshold maximising Youden's J = sensitivity + specificity − 1, among the distinct
/// probabilities (each used as `p ≥ t`); on a tie the highest such threshold. Meant for
/// validation data, then applied to test data. `None` without both classes.
pub fn youden_threshold(labels: &[Class], prob: &[f64]) -> Option<f64> {
    let (pos, neg) = class_totals(labels, prob)?;
    if pos == 0 || neg == 0 {
        return None;
    }
    // J · pos · neg, in integers so that equal J compare equal (⅔ vs 1 − ⅓ in floats do not).
    let j = |tp: usize, fp: usize| tp as i128 * neg as i128 - fp as i128 * pos as i128;
    let mut best: Option<(i128, f64)> = None;
    for (t, tp, fp) in curve(labels, prob) {
        if best.is_none_or(|(best_j, _)| j(tp, fp) > best_j) {
            best = Some((j(tp, fp), t));
        }
    }
    best.map(|(_, t)| t)
}

impl Metrics {
    /// All metrics of `prob_abnormal` against `labels` at `threshold`.
    pub fn compute(
        labels: &[Class],
        prob_abnormal: &[f64],
        threshold: f64,
    ) -> Result<Self, MetricsError> {
        check(labels, prob_abnormal)?;
        let m = confusion(labels, prob_abnormal, threshold);
        let (normal, abnormal) = (class_report(&m, 0), class_report(&m, 1));
        let n = labels.len();
        let present: Vec<f64> =
            [&normal, &abnormal].iter().filter(|r| r.support > 0).map(|r| r.recall).collect();
        let support_share = [normal.support as f64 / n as f64, abnormal.support as f64 / n as f64];
        Ok(Self {
            n,
            threshold,
            accuracy: (m[0][0] + m[1][1]) as f64 / n as f64,
            balanced_accuracy: present.iter().sum::<f64>() / present.len() as f64,
            sensitivity: abnormal.recall,
            specificity: normal.recall,
            auroc: auroc(labels, prob_abnormal),
            auprc: auprc(labels, prob_abnormal),
            confusion: m,
            macro_avg: average(&normal, &abnormal, [0.5, 0.5]),
            weighted_avg: average(&normal, &abnormal, support_share),
            normal,
            abnormal,
            loss: None,
            ef: None,
        })
    }

    /// The figures tracking servers get (TensorBoard, MLflow), by name: those defined.
    pub fn tracked(&self) -> Vec<(&'static str, f64)> {
        let ef = self.ef.as_ref();
        [
            ("accuracy", Some(self.accuracy)),
            ("balanced_accuracy", Some(self.balanced_accuracy)),
            ("abnormal_recall", Some(self.sensitivity)),
            ("auroc", self.auroc),
            ("auprc", self.auprc),
            ("loss", self.loss),
            ("ef_mae", ef.map(|e| e.mae)),
            ("ef_rmse", ef.map(|e| e.rmse)),
            ("ef_r2", ef.and_then(|e| e.r2)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }

    /// The value of a selection metric (higher is better: the loss counts negated); `None`
    /// when it is undefined (AUROC with one class, a loss not recorded), which never beats a
    /// defined value.
    pub fn select(&self, metric: SelectionMetric) -> Option<f64> {
        match metric {
            SelectionMetric::Accuracy => Some(self.accuracy),
            SelectionMetric::BalancedAccuracy => Some(self.balanced_accuracy),
            SelectionMetric::Auroc => self.auroc,
            SelectionMetric::AbnormalRecall => Some(self.sensitivity),
            SelectionMetric::ValLoss => self.loss.map(|l| -l),
        }
    }
}

/// The position of the best of `candidates` by `metric`: the first of equals, as the
/// training loop keeps its first best epoch; an undefined value ranks below every defined one.
pub fn best_by<'a>(
    metric: SelectionMetric,
    candidates: impl IntoIterator<Item = &'a Metrics>,
) -> Option<usize> {
    let score = |m: &Metrics| m.select(metric).unwrap_or(f64::NEG_INFINITY);
    let mut best: Option<(usize, f64)> = None;
    for (i, m) in candidates.into_iter().enumerate() {
        if best.is_none_or(|(_, b)| score(m) > b) {
            best = Some((i, score(m)));
        }
    }
    best.map(|(i, _)| i)
}

/// Mean and sample standard deviation (ddof = 1) of the defined values of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    /// `None` with fewer than two values.
    pub std: Option<f64>,
    /// How many folds had the metric defined.
    pub n: usize,
}

/// Metrics across folds; a field is `None` when no fold had it defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub folds: usize,
    pub accuracy: Option<MeanStd>,
    pub balanced_accuracy: Option<MeanStd>,
    pub sensitivity: Option<MeanStd>,
    pub specificity: Option<MeanStd>,
    pub auroc: Option<MeanStd>,
    pub auprc: Option<MeanStd>,
    pub abnormal_f1: Option<MeanStd>,
    pub macro_f1: Option<MeanStd>,
    /// The EF errors, for regression heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<MeanStd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<MeanStd>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<MeanStd>,
}

/// Mean ± sample std of the defined values; `None` when there are none.
pub fn mean_std(values: impl Iterator<Item = Option<f64>>) -> Option<MeanStd> {
    let v: Vec<f64> = values.flatten().collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Some(MeanStd { mean, std, n: v.len() })
}

/// Mean ± sample std of each metric over `folds`.
pub fn summarize(folds: &[Metrics]) -> Summary {
    let of = |f: fn(&Metrics) -> Option<f64>| mean_std(folds.iter().map(f));
    Summary {
        folds: folds.len(),
        accuracy: of(|m| Some(m.accuracy)),
        balanced_accuracy: of(|m| Some(m.balanced_accuracy)),
        sensitivity: of(|m| Some(m.sensitivity)),
        specificity: of(|m| Some(m.specificity)),
        auroc: of(|m| m.auroc),
        auprc: of(|m| m.auprc),
        abnormal_f1: of(|m| Some(m.abnormal.f1)),
        macro_f1: of(|m| Some(m.macro_avg.f1)),
        mae: of(|m| m.ef.map(|e| e.mae)),
        rmse: of(|m| m.ef.map(|e| e.rmse)),
        r2: of(|m| m.ef.and_then(|e| e.r2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Class = Class::Normal;
    const A: Class = Class::Abnormal;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn log_loss_is_the_mean_negative_log_of_the_true_class_probability() {
        let loss = log_loss(&[A, N, A], &[0.8, 0.3, 0.5]);
        assert!(close(loss, -(0.8f64.ln() + 0.7f64.ln() + 0.5f64.ln()) / 3.0), "{loss}");
        // A sure mistake is bounded, a sure hit costs (almost) nothing.
        assert!(close(log_loss(&[A], &[0.0]), -(1e-15f64).ln()));
        assert!(log_loss(&[N], &[0.0]) < 1e-14);
    }

    #[test]
    fn auroc_counts_ties_as_half() {
        // labels [0,0,1,1,1], scores [0.1,0.4,0.4,0.8,0.4].
        // Normal scores {0.1, 0.4}, abnormal {0.4, 0.8, 0.4}: 6 pairs.
        //   0.4 vs 0.1 → 1, 0.4 vs 0.4 → ½   (twice, one per abnormal 0.4) = 3
        //   0.8 vs 0.1 → 1, 0.8 vs 0.4 → 1                              = 2
        // AUROC = 5 / 6 (sklearn's roc_auc_score gives 0.8333…).
        let labels = [N, N, A, A, A];
        let prob = [0.1, 0.4, 0.4, 0.8, 0.4];
        assert!(close(auroc(&labels, &prob).expect("defined"), 5.0 / 6.0));
        // Distinct thresholds 0.8, 0.4, 0.1 → (P, R) = (1, ⅓), (¾, 1), (⅗, 1).
        // AP = ⅓·1 + ⅔·¾ + 0·⅗ = ⅓ + ½ = 5/6.
        assert!(close(auprc(&labels, &prob).expect("defined"), 5.0 / 6.0));
    }

    #[test]
    fn auroc_and_auprc_second_example() {
        // labels [0,1,1,0,1], scores [0.9,0.8,0.6,0.6,0.2].
        // AUROC: abnormal 0.8 beats 0.6 (1), loses to 0.9; abnormal 0.6 ties 0.6 (½);
        // abnormal 0.2 beats none → 1.5 / 6 = 0.25.
        // AP: thresholds 0.9, 0.8, 0.6, 0.2 → (P, R) = (0, 0), (½, ⅓), (½, ⅔), (⅗, 1):
        // 0·0 + ⅓·½ + ⅓·½ + ⅓·⅗ = 1.6 / 3.
        let labels = [N, A, A, N, A];
        let prob = [0.9, 0.8, 0.6, 0.6, 0.2];
        assert!(close(auroc(&labels, &prob).expect("defined"), 0.25));
        assert!(close(auprc(&labels, &prob).expect("defined"), 1.6 / 3.0));
    }

    #[test]
    fn classification_report_by_hand() {
        // At 0.5: predictions [0,1,0,1,0,1,1,0] vs labels [0,0,0,0,0,1,1,1].
        let labels = [N, N, N, N, N, A, A, A];
        let prob = [0.1, 0.7, 0.2, 0.5, 0.3, 0.9, 0.6, 0.4];
        let m = Metrics::compute(&labels, &prob, 0.5).expect("metrics");
        // tn = 3, fp = 2 (0.7 and 0.5: ≥ threshold), fn = 1, tp = 2.
        assert_eq!(m.confusion, [[3, 2], [1, 2]]);
        assert!(close(m.accuracy, 5.0 / 8.0));
        // Normal: P = 3/4, R = 3/5, F1 = 2·(9/20)/(27/20) = 2/3.
        assert!(close(m.normal.precision, 0.75) && close(m.normal.recall, 0.6));
        assert!(close(m.normal.f1, 2.0 / 3.0));
        assert_eq!(m.normal.support, 5);
        // Abnormal: P = 2/4, R = 2/3, F1 = 2·(1/3)/(7/6) = 4/7.
        assert!(close(m.abnormal.precision, 0.5) && close(m.abnormal.recall, 2.0 / 3.0));
        assert!(close(m.abnormal.f1, 4.0 / 7.0));
        assert!(close(m.sensitivity, 2.0 / 3.0) && close(m.specificity, 0.6));
        assert!(close(m.balanced_accuracy, (0.6 + 2.0 / 3.0) / 2.0));
        assert!(close(m.macro_avg.f1, (2.0 / 3.0 + 4.0 / 7.0) / 2.0));
        assert!(close(m.weighted_avg.precision, (5.0 * 0.75 + 3.0 * 0.5) / 8.0));
        assert_eq!(m.macro_avg.support, 8);
        assert_eq!(m.select(SelectionMetric::Accuracy), Some(m.accuracy));
        assert_eq!(m.select(SelectionMetric::AbnormalRecall), Some(m.sensitivity));
        assert_eq!(m.select(SelectionMetric::Auroc), m.auroc);
    }

    #[test]
    fn youden_threshold_by_hand() {
        // labels [0,0,1,0,1,1], scores [0.1,0.3,0.35,0.6,0.7,0.8]; with p ≥ t:
        //   t = 0.8: sens ⅓, fp 0 → J = ⅓;  t = 0.7: ⅔, 0 → ⅔;  t = 0.6: ⅔, ⅓ → ⅓;
        //   t = 0.35: 1, ⅓ → ⅔ (tie: the higher 0.7 wins);  t = 0.3: 1, ⅔ → ⅓;  t = 0.1: 0.
        let labels = [N, N, A, N, A, A];
        let prob = [0.1, 0.3, 0.35, 0.6, 0.7, 0.8];
        assert_eq!(youden_threshold(&labels, &prob), Some(0.7));
        assert_eq!(youden_threshold(&[N, N], &[0.2, 0.3]), None);
    }

    #[test]
    fn one_class_gives_none_and_zero_division_gives_zero() {
        let labels = [N, N, N];
        let m = Metrics::compute(&labels, &[0.1, 0.6, 0.2], 0.5).expect("metrics");
        assert_eq!(m.auroc, None);
        assert_eq!(m.auprc, None);
        assert_eq!(m.select(SelectionMetric::Auroc), None);
        // No abnormal videos and one predicted: abnormal precision 0/1, recall 0/0 → 0.
        assert_eq!((m.abnormal.precision, m.abnormal.recall, m.abnormal.f1), (0.0, 0.0, 0.0));
        // Balanced accuracy averages over the classes present: normal recall only.
        assert!(close(m.balanced_accuracy, 2.0 / 3.0));
        let json = serde_json::to_value(&m).expect("json");
        assert!(json["auroc"].is_null() && json["auprc"].is_null());
        // Only abnormal videos: AUROC undefined, average precision is 1.
        let only_abnormal = Metrics::compute(&[A, A], &[0.3, 0.9], 0.5).expect("metrics");
        assert_eq!((only_abnormal.auroc, only_abnormal.auprc), (None, Some(1.0)));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(Metrics::compute(&[], &[], 0.5), Err(MetricsError::Empty));
        assert_eq!(
            Metrics::compute(&[N], &[0.1, 0.2], 0.5),
            Err(MetricsError::LengthMismatch { labels: 1, probs: 2 })
        );
        assert!(matches!(
            Metrics::compute(&[N, A], &[0.1, f64::NAN], 0.5),
            Err(MetricsError::NotFinite(_, 1))
        ));
        assert_eq!(auroc(&[N, A], &[0.1]), None);
    }

    #[test]
    fn summary_uses_sample_std_and_skips_undefined() {
        let labels = [N, N, A, A];
        let a = Metrics::compute(&labels, &[0.1, 0.2, 0.8, 0.9], 0.5).expect("a"); // accuracy 1
        let b = Metrics::compute(&labels, &[0.1, 0.6, 0.8, 0.9], 0.5).expect("b"); // accuracy ¾
        let c = Metrics::compute(&[N, N], &[0.1, 0.2], 0.5).expect("c"); // accuracy 1, no AUROC
        let s = summarize(&[a, b, c]);
        assert_eq!(s.folds, 3);
        let acc = s.accuracy.expect("accuracy");
        // Mean 11/12; deviations 1/12, −1/6, 1/12 → Σ² = 6/144; / (3 − 1) → std = √(1/48).
        assert!(close(acc.mean, 11.0 / 12.0));
        assert!(close(acc.std.expect("std"), (1.0f64 / 48.0).sqrt()));
        let auroc = s.auroc.expect("auroc");
        assert_eq!((auroc.n, auroc.mean, auroc.std), (2, 1.0, Some(0.0)));
        let one = summarize(&[Metrics::compute(&[N, A], &[0.2, 0.7], 0.5).expect("one")]);
        assert_eq!(one.accuracy.map(|m| m.std), Some(None));
        assert_eq!(summarize(&[]).accuracy, None);
    }

    #[test]
    fn the_best_by_each_selection_metric_is_its_first_largest_value() {
        let labels = [N, N, N, N, A, A];
        let at = |p: [f64; 6]| Metrics::compute(&labels, &p, 0.5).expect("metrics");
        let folds = [
            // accuracy 5/6, balanced ¾, abnormal recall ½, AUROC ¾
            at([0.1, 0.1, 0.1, 0.1, 0.9, 0.1]),
            // accuracy 4/6, balanced ¾, abnormal recall 1, AUROC ¾
            at([0.9, 0.9, 0.1, 0.1, 0.9, 0.9]),
            // accuracy 5/6 (a tie with the first), balanced ⅞, abnormal recall 1, AUROC ⅞
            at([0.9, 0.1, 0.1, 0.1, 0.9, 0.9]),
            // accuracy 2/6, balanced ½, abnormal recall 1, AUROC 1
            at([0.6, 0.6, 0.6, 0.6, 0.9, 0.9]),
        ];
        for (metric, want) in [
            (SelectionMetric::Accuracy, 0),
            (SelectionMetric::BalancedAccuracy, 2),
            (SelectionMetric::AbnormalRecall, 1),
            (SelectionMetric::Auroc, 3),
        ] {
            assert_eq!(best_by(metric, &folds), Some(want), "{metric:?}");
        }
        // An undefined AUROC (one class only) ranks below any defined one.
        let one_class = Metrics::compute(&[N, N], &[0.1, 0.2], 0.5).expect("one class");
        assert_eq!(best_by(SelectionMetric::Auroc, [&one_class, &folds[0]]), Some(1));
        assert_eq!(best_by(SelectionMetric::Auroc, [&one_class]), Some(0));
        assert_eq!(best_by(SelectionMetric::Accuracy, []), None);
    }
}
