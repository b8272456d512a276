//! The bootstrap stratified by class: each resample draws, within each class, as many items
//! as the class has, with replacement, so every resample keeps the test set's class balance
//! (and AUROC stays defined). Resample `r` is a function of (seed, r) alone, so the
//! distribution does not depend on the number of threads, and two models scored on the same
//! items see the same resamples (the paired bootstrap).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{LEVEL, StatsError};

/// The resampling plan of one set of labelled items.
#[derive(Debug, Clone)]
pub struct Stratified {
    /// The items of each class (negative, positive), in input order.
    classes: [Vec<usize>; 2],
    seed: u64,
}

fn resample_rng(seed: u64, r: usize) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"echo-runner/bootstrap/v1");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&(r as u64).to_le_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

impl Stratified {
    pub fn new(labels: &[bool], seed: u64) -> Stratified {
        let of = |class: bool| (0..labels.len()).filter(|&i| labels[i] == class).collect();
        Stratified { classes: [of(false), of(true)], seed }
    }

    /// Resample `r`: the items' indices, negatives' draws first.
    pub fn resample(&self, r: usize) -> Vec<usize> {
        let mut rng = resample_rng(self.seed, r);
        let mut out = Vec::with_capacity(self.classes[0].len() + self.classes[1].len());
        for items in &self.classes {
            out.extend((0..items.len()).map(|_| items[rng.random_range(0..items.len())]));
        }
        out
    }

    /// `statistic` (several values at once) on each of `resamples` resamples: per value, the
    /// resamples where it is defined, in resample order.
    pub fn distribution<F>(&self, resamples: usize, values: usize, statistic: F) -> Vec<Vec<f64>>
    where
        F: Fn(&[usize]) -> Vec<Option<f64>> + Sync,
    {
        let each: Vec<Vec<Option<f64>>> =
            (0..resamples).into_par_iter().map(|r| statistic(&self.resample(r))).collect();
        (0..values)
            .map(|k| each.iter().filter_map(|v| v.get(k).copied().flatten()).collect())
            .collect()
    }
}

/// The 95 % percentile interval of a bootstrap distribution: its 2.5th and 97.5th
/// percentiles, interpolated linearly between order statistics (numpy's default
/// `percentile`).
pub fn percentile_interval(values: &[f64]) -> Result<(f64, f64), StatsError> {
    if values.is_empty() {
        return Err(StatsError::TooFew {
            what: "a bootstrap interval (resamples)",
            need: 1,
            have: 0,
        });
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let h = (v.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(v.len() - 1);
        v[lo] + (h - lo as f64) * (v[hi] - v[lo])
    };
    let tail = (1.0 - LEVEL) / 2.0;
    Ok((at(tail), at(1.0 - tail)))
}

/// The two-sided bootstrap p-value of "the difference is zero" from the distribution of a
/// paired difference: twice the smaller share of resamples on either side of zero (zero
/// counts on both), each share `(count + 1) / (B + 1)` so that it is never 0; capped at 1.
pub fn bootstrap_p(deltas: &[f64]) -> Result<f64, StatsError> {
    if deltas.is_empty() {
        return Err(StatsError::TooFew {
            what: "a bootstrap p-value (resamples)",
            need: 1,
            have: 0,
        });
    }
    let b = deltas.len() as f64;
    let below = deltas.iter().filter(|&&d| d <= 0.0).count() as f64;
    let above = deltas.iter().filter(|&&d| d >= 0.0).count() as f64;
    Ok((2.0 * (below.min(above) + 1.0) / (b + 1.0)).min(1.0))
}
