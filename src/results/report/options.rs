//! What a report computes beyond the figures: which test model, the bootstrap, the baseline
//! of the comparisons, seed grouping. The defaults are the CLI's.

use std::path::PathBuf;

use super::TestModel;

/// Resamples of the test-set bootstrap by default.
pub const DEFAULT_BOOTSTRAP: usize = 2000;

/// The seed of every bootstrap of a report, so that the same inputs give the same report.
pub const BOOTSTRAP_SEED: u64 = 2026;

#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    pub test_model: TestModel,
    /// Resamples of the stratified bootstrap of the test figures and of the paired
    /// differences; 0 turns the bootstrap off.
    pub bootstrap: usize,
    /// The row the others are compared with: a result directory or an experiment file.
    pub baseline: Option<PathBuf>,
    /// Rows that differ only in `experiment.seed` become one row.
    pub group_seeds: bool,
}

impl ReportOptions {
    /// `runner report`'s defaults: the best fold, 2000 resamples, no baseline, seeds grouped.
    pub fn new() -> ReportOptions {
        ReportOptions {
            test_model: TestModel::BestFold,
            bootstrap: DEFAULT_BOOTSTRAP,
            baseline: None,
            group_seeds: true,
        }
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions::new()
    }
}
