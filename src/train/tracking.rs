//! What the training loop tells the trackers that show a run where researchers already look
//! (TensorBoard, MLflow: the `track` module). The loop calls them; they never stop or slow
//! it, short of an I/O error on the result directory (`TrainError::Io`), which is a fault
//! like any other.

use std::path::Path;

use super::TrainError;
use super::checkpoint::EpochRecord;
use super::metrics::Metrics;

/// Where a fold (re)starts: everything tracked up to here is kept, anything later (written
/// after the last checkpoint by a process that was killed) is dropped, to be tracked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Epochs done (`history.json`'s entries).
    pub epoch: u32,
    /// Optimizer steps done, counted across epochs from 1.
    pub step: u64,
}

pub trait Tracker {
    /// Fold `k` starts, or resumes at `at`, in `fold_dir`.
    fn fold_started(&mut self, k: usize, fold_dir: &Path, at: Resume) -> Result<(), TrainError>;
    /// Optimizer step `step` (from 1) of the fold took a batch whose mean loss was `loss`.
    fn step(&mut self, step: u64, loss: f64, lr: f64) -> Result<(), TrainError>;
    /// An epoch ended; `history.json` holds it.
    fn epoch(&mut self, record: &EpochRecord) -> Result<(), TrainError>;
    /// A checkpoint was written: what was tracked so far must survive a crash.
    fn checkpointed(&mut self) -> Result<(), TrainError>;
    /// The fold is trained, and its best epoch's model tested (`None`: no test set).
    fn fold_finished(&mut self, best_epoch: u32, test: Option<&Metrics>) -> Result<(), TrainError>;
    /// The fold's turn is over (done, failed, stopped or skipped).
    fn fold_ended(&mut self, k: usize);
    /// Lines for `train.log` the trackers have to say (a server that cannot be reached).
    fn notes(&mut self) -> Vec<String>;
}
