//! DeLong's test of two correlated AUROCs (DeLong, DeLong & Clarke-Pearson 1988), with the
//! fast midrank algorithm of Sun & Xu (IEEE Signal Processing Letters 21, 2014): three
//! sorts per model instead of every positive–negative pair.

use statrs::distribution::{ContinuousCDF, Normal};

use super::{LEVEL, StatsError, class_counts};

/// The two AUROCs, their difference `a − b` with its variance, 95 % normal interval and
/// two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeLong {
    pub auc_a: f64,
    pub auc_b: f64,
    pub delta: f64,
    pub var: f64,
    pub ci: (f64, f64),
    pub z: f64,
    pub p: f64,
}

/// 1-based midranks of `x`: tied values share the mean of their ranks.
fn midranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && x[order[j]] == x[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mid = (i + j + 1) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = mid;
        }
        i = j;
    }
    ranks
}

/// One model's AUROC and its structural components: per positive, the share of negatives it
/// outscores (ties ½); per negative, the share of positives that outscore it.
fn components(pos: &[f64], neg: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let (m, n) = (pos.len() as f64, neg.len() as f64);
    let all: Vec<f64> = pos.iter().chain(neg).copied().collect();
    let (tz, tx, ty) = (midranks(&all), midranks(pos), midranks(neg));
    let auc = (tz[..pos.len()].iter().sum::<f64>() - m * (m + 1.0) / 2.0) / (m * n);
    let v_pos = tx.iter().zip(&tz).map(|(x, z)| (z - x) / n).collect();
    let v_neg = ty.iter().zip(&tz[pos.len()..]).map(|(y, z)| 1.0 - (z - y) / m).collect();
    (auc, v_pos, v_neg)
}

/// Sample covariance (ddof = 1).
fn cov(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (n - 1.0)
}

/// DeLong's test of `AUROC(a) − AUROC(b)`, both scoring the same items with `labels`. Needs
/// two items of each class. Two identical rankings give p = 1; a difference with zero
/// variance is an error.
pub fn delong(labels: &[bool], a: &[f64], b: &[f64]) -> Result<DeLong, StatsError> {
    for other in [a, b] {
        if other.len() != labels.len() {
            return Err(StatsError::LengthMismatch { a: labels.len(), b: other.len() });
        }
    }
    let (m, n) = class_counts(labels, "DeLong's test")?;
    if m < 2 || n < 2 {
        return Err(StatsError::TooFew {
            what: "DeLong's test (videos of each class)",
            need: 2,
            have: m.min(n),
        });
    }
    let split = |s: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let pos = labels.iter().zip(s).filter(|(l, _)| **l).map(|(_, &v)| v).collect();
        let neg = labels.iter().zip(s).filter(|(l, _)| !**l).map(|(_, &v)| v).collect();
        (pos, neg)
    };
    let ((pa, na), (pb, nb)) = (split(a), split(b));
    let (auc_a, xa, ya) = components(&pa, &na);
    let (auc_b, xb, yb) = components(&pb, &nb);
    let (m, n) = (m as f64, n as f64);
    let var_x = cov(&xa, &xa) + cov(&xb, &xb) - 2.0 * cov(&xa, &xb);
    let var_y = cov(&ya, &ya) + cov(&yb, &yb) - 2.0 * cov(&ya, &yb);
    // Rounding can leave a tiny negative variance for two near-identical rankings.
    let var = (var_x / m + var_y / n).max(0.0);
    let delta = auc_a - auc_b;
    if var == 0.0 {
        return if delta == 0.0 {
            Ok(DeLong { auc_a, auc_b, delta, var, ci: (0.0, 0.0), z: 0.0, p: 1.0 })
        } else {
            Err(StatsError::NoSpread(
                "the AUROC difference has zero variance: DeLong's test is undefined",
            ))
        };
    }
    let normal = Normal::new(0.0, 1.0).expect("the standard normal");
    let se = var.sqrt();
    let z = delta / se;
    let half = normal.inverse_cdf(0.5 + LEVEL / 2.0) * se;
    let p = (2.0 * normal.sf(z.abs())).min(1.0);
    Ok(DeLong { auc_a, auc_b, delta, var, ci: (delta - half, delta + half), z, p })
}
