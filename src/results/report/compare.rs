//! Each row against the baseline row: the difference of every metric with its 95 % interval
//! and p-value, on the shared test set and across the shared folds, each only where the two
//! rows are paired (the same videos; the same folds), else the reason it is not compared.
//!
//! - Test set (per video, aligned by video name): DeLong for AUROC, exact McNemar on
//!   per-video correctness for accuracy and, on the abnormal videos, abnormal recall, the
//!   paired stratified bootstrap for the rest; the intervals of McNemar's metrics are the
//!   paired bootstrap's too.
//! - Folds: the corrected resampled t-test (Nadeau & Bengio) on the per-fold validation
//!   figures, J − 1 degrees of freedom, n_test / n_train = 1 / (K − 1).
//! - Seed groups: the mean of the per-seed differences with a t-test over the seeds they
//!   share ("seeds_t").
//!
//! p_holm adjusts each (section, metric) family over the compared rows (Holm–Bonferroni).

use std::collections::BTreeMap;

use serde::Serialize;

use super::evidence::TestSet;
use super::{METRICS, Row};
use crate::stats::{
    Stratified, bootstrap_p, corrected_t, delong, holm, mcnemar, percentile_interval,
};

/// One metric's difference from the baseline (this row minus the baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    pub delta: f64,
    /// `null` where the interval needs the bootstrap and it is off.
    pub ci: Option<[f64; 2]>,
    pub p: f64,
    pub p_holm: f64,
    pub method: &'static str,
}

/// A row's comparison with the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Compare {
    pub baseline: String,
    pub test: BTreeMap<&'static str, Delta>,
    pub cv: BTreeMap<&'static str, Delta>,
    /// What is not compared, and why: a whole section (`test`, `cv`) or one metric
    /// (`test.auroc`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
}

impl Compare {
    /// Every section skipped for one reason (the baseline cannot be read, say).
    pub fn none(baseline: &str, why: &str) -> Compare {
        let mut c = Compare { baseline: baseline.to_owned(), ..Compare::default() };
        for section in ["cv", "test"] {
            c.skipped.insert(section.into(), why.to_owned());
        }
        c
    }

    /// The cell's reason when `section.metric` is not compared.
    pub fn why_not(&self, section: &str, metric: &str) -> Option<&str> {
        self.skipped
            .get(&format!("{section}.{metric}"))
            .or_else(|| self.skipped.get(section))
            .map(String::as_str)
    }
}

/// A difference of proportions, its interval clipped to [−1, 1].
fn delta(d: f64, ci: Option<(f64, f64)>, p: f64, method: &'static str) -> Delta {
    Delta { delta: d, ci: ci.map(|(lo, hi)| [lo.max(-1.0), hi.min(1.0)]), p, p_holm: p, method }
}

/// For each of `base`'s videos, its position in `row`; or why the two did not predict the
/// same videos with the same classes.
pub fn align(row: &TestSet, base: &TestSet) -> Result<Vec<usize>, String> {
    let at: BTreeMap<&str, usize> =
        row.videos.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect();
    if at.len() != row.videos.len() || row.videos.len() != base.videos.len() {
        return Err(format!(
            "not paired: different test videos ({} vs {} in the baseline)",
            row.videos.len(),
            base.videos.len()
        ));
    }
    let mut order = Vec::with_capacity(base.videos.len());
    for (j, v) in base.videos.iter().enumerate() {
        let Some(&i) = at.get(v.as_str()) else {
            return Err(format!("not paired: different test videos ({v} only in the baseline)"));
        };
        if row.labels[i] != base.labels[j] {
            return Err(format!("not paired: {v} has another class in the baseline (data.labels)"));
        }
        order.push(i);
    }
    Ok(order)
}

/// Why one of two rows has no test predictions to pair.
fn missing_test(row: &Row, base: &Row) -> String {
    match (&row.evidence.no_test, &base.evidence.no_test) {
        (Some(why), _) => why.clone(),
        (None, Some(why)) => format!("baseline: {why}"),
        (None, None) => "no test predictions".into(),
    }
}

/// The test section of `row` against `base`, or why it is empty; metrics that cannot be
/// compared go into `skipped`.
fn test_section(
    row: &Row,
    base: &Row,
    resamples: usize,
    seed: u64,
    out: &mut Compare,
) -> Result<(), String> {
    let (Some(r), Some(b)) = (&row.evidence.test, &base.evidence.test) else {
        return Err(missing_test(row, base));
    };
    let order = align(r, b)?;
    // The row's predictions in the baseline's video order.
    let r = TestSet {
        videos: b.videos.clone(),
        labels: b.labels.clone(),
        prob: order.iter().map(|&i| r.prob[i]).collect(),
        threshold: r.threshold,
    };
    let (Some(mr), Some(mb)) = (
        r.metrics_at(&(0..r.prob.len()).collect::<Vec<_>>()),
        b.metrics_at(&(0..b.prob.len()).collect::<Vec<_>>()),
    ) else {
        return Err("the test figures cannot be computed".into());
    };
    let positives = b.positives();
    let boot: BTreeMap<&'static str, Vec<f64>> = if resamples > 0 {
        let plan = Stratified::new(&positives, seed);
        let dist = plan.distribution(resamples, METRICS.len(), |idx| {
            let (x, y) = (r.metrics_at(idx), b.metrics_at(idx));
            METRICS
                .iter()
                .map(|m| Some(x.as_ref().and_then(m.value)? - y.as_ref().and_then(m.value)?))
                .collect()
        });
        METRICS.iter().map(|m| m.key).zip(dist).collect()
    } else {
        BTreeMap::new()
    };
    let interval = |key: &str| boot.get(key).and_then(|d| percentile_interval(d).ok());
    let (cr, cb) = (r.correct(), b.correct());
    for m in &METRICS {
        let (Some(x), Some(y)) = ((m.value)(&mr), (m.value)(&mb)) else {
            out.skipped.insert(
                format!("test.{}", m.key),
                "undefined on this test set (one class only)".into(),
            );
            continue;
        };
        let d = x - y;
        let result = match m.key {
            "auroc" => delong(&positives, &r.prob, &b.prob)
                .map(|t| delta(t.delta, Some(t.ci), t.p, "delong"))
                .map_err(|e| e.to_string()),
            "accuracy" => mcnemar(&cr, &cb)
                .map(|t| delta(d, interval(m.key), t.p, "mcnemar"))
                .map_err(|e| e.to_string()),
            "abnormal_recall" => {
                let (a, c): (Vec<bool>, Vec<bool>) = positives
                    .iter()
                    .zip(cr.iter().zip(&cb))
                    .filter(|(pos, _)| **pos)
                    .map(|(_, (&x, &y))| (x, y))
                    .unzip();
                mcnemar(&a, &c)
                    .map(|t| delta(d, interval(m.key), t.p, "mcnemar"))
                    .map_err(|_| "no abnormal video in the test set".to_owned())
            }
            _ => match boot.get(m.key) {
                None => Err("--bootstrap 0: no paired bootstrap".to_owned()),
                Some(dist) => match (percentile_interval(dist), bootstrap_p(dist)) {
                    (Ok(ci), Ok(p)) => Ok(delta(d, Some(ci), p, "bootstrap")),
                    (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
                },
            },
        };
        match result {
            Ok(v) => {
                out.test.insert(m.key, v);
            }
            Err(why) => {
                out.skipped.insert(format!("test.{}", m.key), why);
            }
        }
    }
    Ok(())
}

/// The config keys that decide a row's folds: which videos, their classes, the split and the
/// cross-validation.
fn fold_keys(key: &str) -> bool {
    ["data.source.", "data.labels.", "data.split.", "cv.mode", "cv.folds", "cv.shuffle", "cv.seed"]
        .iter()
        .any(|p| key.starts_with(p))
        || key == "data.on_bad_video"
}

/// Why two rows are not on the same folds, if they are not: a fold-deciding config key
/// that differs, or a different `folds.json`.
pub fn same_folds(row: &Row, base: &Row) -> Result<(), String> {
    let keys = row.config.keys().chain(base.config.keys()).filter(|k| fold_keys(k));
    for key in keys {
        if row.config.get(key) != base.config.get(key) {
            return Err(format!("not paired: other folds ({key} differs)"));
        }
    }
    if let (Some(a), Some(b)) = (&row.evidence.fold_plan, &base.evidence.fold_plan)
        && a != b
    {
        return Err("not paired: other folds (folds.json differs)".into());
    }
    Ok(())
}

/// The cross-validation section of `row` against `base` over the folds both finished.
fn cv_section(row: &Row, base: &Row, out: &mut Compare) -> Result<(), String> {
    same_folds(row, base)?;
    let shared: Vec<(&crate::train::metrics::Metrics, &crate::train::metrics::Metrics)> = row
        .evidence
        .folds
        .iter()
        .filter_map(|(k, r)| base.evidence.folds.iter().find(|(j, _)| j == k).map(|(_, b)| (r, b)))
        .collect();
    if base.folds_total < 2 {
        return Err("one fold only (a single split): no spread across folds".into());
    }
    if shared.len() < 2 {
        return Err(format!("{} fold(s) finished in both: the test needs two", shared.len()));
    }
    let ratio = 1.0 / (base.folds_total as f64 - 1.0);
    for m in &METRICS {
        let d: Vec<f64> =
            shared.iter().filter_map(|(r, b)| Some((m.value)(r)? - (m.value)(b)?)).collect();
        match corrected_t(&d, ratio) {
            Ok(t) => {
                out.cv.insert(m.key, delta(t.mean, Some(t.ci), t.p, "corrected_t"));
            }
            Err(e) => {
                out.skipped.insert(format!("cv.{}", m.key), e.to_string());
            }
        }
    }
    Ok(())
}

/// `row` against `base`, both single experiments.
pub fn compare_rows(row: &Row, base: &Row, baseline: &str, resamples: usize, seed: u64) -> Compare {
    let mut out = Compare { baseline: baseline.to_owned(), ..Compare::default() };
    if let Err(why) = test_section(row, base, resamples, seed, &mut out) {
        out.skipped.insert("test".into(), why);
    }
    if let Err(why) = cv_section(row, base, &mut out) {
        out.skipped.insert("cv".into(), why);
    }
    out
}

/// A figure of one member of a seed group: its test value or its CV mean.
pub type Figure = fn(&Row, usize) -> Option<f64>;

/// Seed groups (or a group and a single row) paired by seed: per section and metric, the
/// mean of the per-seed differences and the t-test over them. Each seed pair must itself be
/// paired (same test videos; same folds).
pub fn compare_by_seed(
    row: &[(i64, &Row)],
    base: &[(i64, &Row)],
    baseline: &str,
    figures: [(&'static str, Figure); 2],
) -> Compare {
    let mut out = Compare { baseline: baseline.to_owned(), ..Compare::default() };
    let pairs: Vec<(&Row, &Row)> = row
        .iter()
        .filter_map(|(s, r)| base.iter().find(|(t, _)| t == s).map(|(_, b)| (*r, *b)))
        .collect();
    for (section, figure) in figures {
        let unpaired = pairs.iter().find_map(|(r, b)| match section {
            "test" => match (&r.evidence.test, &b.evidence.test) {
                (Some(x), Some(y)) => align(x, y).err(),
                _ => Some(missing_test(r, b)),
            },
            _ => same_folds(r, b).err(),
        });
        if let Some(why) = unpaired {
            out.skipped.insert(section.into(), why);
            continue;
        }
        if pairs.len() < 2 {
            out.skipped.insert(
                section.into(),
                format!(
                    "{} seed(s) in common with the baseline: the test over seeds needs two",
                    pairs.len()
                ),
            );
            continue;
        }
        let target = if section == "test" { &mut out.test } else { &mut out.cv };
        for (k, m) in METRICS.iter().enumerate() {
            let d: Vec<f64> =
                pairs.iter().filter_map(|(r, b)| Some(figure(r, k)? - figure(b, k)?)).collect();
            match corrected_t(&d, 0.0) {
                Ok(t) => {
                    target.insert(m.key, delta(t.mean, Some(t.ci), t.p, "seeds_t"));
                }
                Err(e) => {
                    out.skipped.insert(format!("{section}.{}", m.key), e.to_string());
                }
            }
        }
    }
    out
}

/// Fills `p_holm` of every comparison: Holm–Bonferroni within each (section, metric) over
/// the compared rows.
pub fn adjust(compares: &mut [&mut Compare]) {
    for section in ["test", "cv"] {
        for m in &METRICS {
            let at = |c: &mut Compare| -> Option<f64> {
                let s = if section == "test" { &c.test } else { &c.cv };
                s.get(m.key).map(|d| d.p)
            };
            let family: Vec<(usize, f64)> = compares
                .iter_mut()
                .enumerate()
                .filter_map(|(i, c)| at(c).map(|p| (i, p)))
                .collect();
            let adjusted = holm(&family.iter().map(|(_, p)| *p).collect::<Vec<_>>());
            for ((i, _), q) in family.iter().zip(adjusted) {
                let c = &mut compares[*i];
                let s = if section == "test" { &mut c.test } else { &mut c.cv };
                if let Some(d) = s.get_mut(m.key) {
                    d.p_holm = q;
                }
            }
        }
    }
}
