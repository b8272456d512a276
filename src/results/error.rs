//! What can go wrong with a result directory.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::HASH_SCHEME;
use crate::io_retry::Fault;
use crate::lock::LockError;

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} holds another experiment (its config.canonical.json differs from this one's); \
         refusing to mix results. Compare the two configs, or move that directory away"
    )]
    Mismatch { path: PathBuf },
    #[error(
        "{path} was made with hash scheme {found} and runner {version}; this runner uses scheme \
         {HASH_SCHEME}: rerun into a fresh output root or use that runner version"
    )]
    OtherScheme { path: PathBuf, found: u32, version: String },
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl ResultsError {
    /// The fault of the machine this error is: an I/O error on the result directory or its
    /// lock (a directory of another experiment or scheme, or a busy lock, is not).
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            ResultsError::Io { path, source } => Some(Fault { path, source: Some(source) }),
            ResultsError::Lock(e) => e.fault(),
            ResultsError::Mismatch { .. } | ResultsError::OtherScheme { .. } => None,
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ResultsError + '_ {
    move |source| ResultsError::Io { path: path.to_path_buf(), source }
}
