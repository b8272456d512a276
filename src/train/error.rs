//! What can stop training: the error every part of the train stage returns.

use std::path::{Path, PathBuf};

use crate::data::cache::CacheError;
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

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}
