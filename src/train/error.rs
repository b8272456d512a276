//! What can stop training: the error every part of the train stage returns. Most variants
//! are failures of the experiment (a fold gets `FAILED`); [`TrainError::fault`] picks out
//! the faults of the machine, which never do.

use std::path::{Path, PathBuf};

use super::checkpoint::CheckpointError;
use crate::data::cache::CacheError;
use crate::io_retry::Fault;
use crate::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("model: {0}")]
    Model(String),
    #[error(
        "the loss is {loss} at epoch {epoch}, batch {batch}: training diverged (lower the learning rate, or clip gradients with train.grad_clip)"
    )]
    Diverged { epoch: u32, batch: usize, loss: f64 },
    #[error(
        "the gradients overflow at every loss scale (it fell to {scale:e}) at epoch {epoch}, batch {batch}: training diverged (lower the learning rate, or train in \"bf16\")"
    )]
    Overflowed { epoch: u32, batch: usize, scale: f64 },
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl TrainError {
    /// The fault of the machine this error is: an I/O error on the result directory, a
    /// checkpoint, the clip cache or a lock. `None` for a failure of the experiment.
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            TrainError::Io { path, source } => Some(Fault { path, source: Some(source) }),
            TrainError::Cache(e) => e.fault(),
            TrainError::Lock(e) => e.fault(),
            TrainError::Plan(_)
            | TrainError::Model(_)
            | TrainError::Diverged { .. }
            | TrainError::Overflowed { .. } => None,
        }
    }
}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        let CheckpointError::Io { path, source } = e;
        TrainError::Io { path, source }
    }
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
