//! What a row's statistics are computed from, read beside its figures: the test predictions
//! by video, each finished fold's validation figures, the fold assignment, the seed; and the
//! row's own intervals (bootstrap on the test set, t over the folds).

use std::collections::BTreeMap;

use serde_json::Value;

use super::METRICS;
use crate::data::labels::Class;
use crate::stats::{Stratified, percentile_interval, t_interval};
use crate::train::metrics::Metrics;

/// The test predictions behind a row's test figures.
#[derive(Debug, Clone)]
pub struct TestSet {
    pub videos: Vec<String>,
    pub labels: Vec<Class>,
    pub prob: Vec<f64>,
    pub threshold: f64,
}

impl TestSet {
    pub fn positives(&self) -> Vec<bool> {
        self.labels.iter().map(|&c| c == Class::Abnormal).collect()
    }

    /// Whether each video is classified right at the threshold.
    pub fn correct(&self) -> Vec<bool> {
        self.labels
            .iter()
            .zip(&self.prob)
            .map(|(&c, &p)| (p >= self.threshold) == (c == Class::Abnormal))
            .collect()
    }

    /// The figures of the videos at `idx` (a resample).
    pub fn metrics_at(&self, idx: &[usize]) -> Option<Metrics> {
        let labels: Vec<Class> = idx.iter().map(|&i| self.labels[i]).collect();
        let prob: Vec<f64> = idx.iter().map(|&i| self.prob[i]).collect();
        Metrics::compute(&labels, &prob, self.threshold).ok()
    }
}

/// A row's material for intervals and comparisons.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The test predictions by video, or why there are none.
    pub test: Option<TestSet>,
    pub no_test: Option<String>,
    /// Each finished fold's index and best-epoch validation figures.
    pub folds: Vec<(usize, Metrics)>,
    /// `folds.json`, where the run wrote it.
    pub fold_plan: Option<Value>,
}

/// An interval of a proportion, clipped to [0, 1] (a t-interval over three folds can reach
/// past 1).
pub fn within_unit((lo, hi): (f64, f64)) -> [f64; 2] {
    [lo.max(0.0), hi.min(1.0)]
}

/// The 95 % t-interval over the folds of each metric (two folds or more).
pub fn cv_intervals(folds: &[(usize, Metrics)]) -> BTreeMap<&'static str, [f64; 2]> {
    METRICS
        .iter()
        .filter_map(|m| {
            let values: Vec<f64> = folds.iter().filter_map(|(_, f)| (m.value)(f)).collect();
            t_interval(&values).ok().map(|ci| (m.key, within_unit(ci)))
        })
        .collect()
}

/// The 95 % percentile bootstrap interval of each test metric, stratified by class.
pub fn test_intervals(
    test: &TestSet,
    resamples: usize,
    seed: u64,
) -> BTreeMap<&'static str, [f64; 2]> {
    if resamples == 0 {
        return BTreeMap::new();
    }
    let plan = Stratified::new(&test.positives(), seed);
    let dist = plan.distribution(resamples, METRICS.len(), |idx| {
        let m = test.metrics_at(idx);
        METRICS.iter().map(|c| m.as_ref().and_then(c.value)).collect()
    });
    METRICS
        .iter()
        .zip(dist)
        .filter_map(|(m, d)| percentile_interval(&d).ok().map(|(lo, hi)| (m.key, [lo, hi])))
        .collect()
}
