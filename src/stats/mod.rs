//! The report's statistics on plain numbers: intervals (percentile bootstrap stratified by
//! class, Student-t over folds or seeds) and paired tests of two models (DeLong for AUROC,
//! exact McNemar for proportions, the corrected resampled t-test of Nadeau & Bengio over
//! cross-validation folds, the paired bootstrap), with Holm–Bonferroni adjustment.
//!
//! Labels are `bool` (true: the positive class, abnormal); nothing here knows the rest of the
//! crate. A statistic that is undefined for its input (one class only, too few values, no
//! spread) is an error naming why, never NaN. Distributions come from `statrs`.

mod bootstrap;
mod delong;
mod holm;
mod mcnemar;
mod t;

#[cfg(test)]
mod tests;

pub use bootstrap::{Stratified, bootstrap_p, percentile_interval};
pub use delong::{DeLong, delong};
pub use holm::holm;
pub use mcnemar::{McNemar, mcnemar, mcnemar_exact};
pub use t::{TTest, corrected_t, t_interval};

/// The confidence level of every interval: 95 %.
pub const LEVEL: f64 = 0.95;

/// Why a statistic is undefined for its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("only {present} videos: {what} needs both classes")]
    OneClass { present: &'static str, what: &'static str },
    #[error("{what} needs at least {need}, got {have}")]
    TooFew { what: &'static str, need: usize, have: usize },
    #[error("{0}")]
    NoSpread(&'static str),
    #[error("{a} values against {b}")]
    LengthMismatch { a: usize, b: usize },
}

/// Both classes' counts, or why one is missing.
pub(crate) fn class_counts(
    labels: &[bool],
    what: &'static str,
) -> Result<(usize, usize), StatsError> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    match (pos, neg) {
        (0, 0) => Err(StatsError::TooFew { what, need: 2, have: 0 }),
        (0, _) => Err(StatsError::OneClass { present: "negative (normal)", what }),
        (_, 0) => Err(StatsError::OneClass { present: "positive (abnormal)", what }),
        counts => Ok(counts),
    }
}
