//! The data layer's error type: every variant names the file (and line, column or frame) it
//! is about, so a message alone is enough to find the culprit.

use std::path::PathBuf;

use crate::io_retry::{self, Fault, Kind};

/// An error while reading, checking, labelling or generating echocardiogram data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a folder the runner generates into its cache (the synthetic dataset): a
    /// fault of the machine whatever the error.
    #[error("{}: {source}", .path.display())]
    CacheIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a RIFF/AVI file ({detail})", .path.display())]
    NotAvi { path: PathBuf, detail: String },
    #[error("{}: truncated AVI: {detail}", .path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: malformed AVI: {detail}", .path.display())]
    Malformed { path: PathBuf, detail: String },
    #[error("{}: unsupported video codec {fourcc} (only Motion-JPEG, FourCC MJPG, is supported)", .path.display())]
    UnsupportedCodec { path: PathBuf, fourcc: String },
    #[error("{}: the AVI holds no video frames", .path.display())]
    NoFrames { path: PathBuf },
    #[error("{}: frame {frame}: {detail}", .path.display())]
    CorruptFrame { path: PathBuf, frame: usize, detail: String },
    #[error("{}: frame {index} requested but the video has {count} frames", .path.display())]
    FrameOutOfRange { path: PathBuf, index: usize, count: usize },
    #[error("{}: line {line}, column {column}: {detail}", .path.display())]
    Csv { path: PathBuf, line: u64, column: String, detail: String },
    #[error("{}: {detail}", .path.display())]
    Dataset { path: PathBuf, detail: String },
    #[error("video {record}: {detail}")]
    Label { record: String, detail: String },
    #[error("{}: cannot encode video: {detail}", .path.display())]
    Encode { path: PathBuf, detail: String },
    #[error("invalid data config: {0}")]
    Config(String),
}

impl DataError {
    /// The fault of the machine this error is: an I/O error writing the cache, or one
    /// reading the data that is transient (EIO, EBUSY, ESTALE, …) or a full disk. A missing
    /// or unreadable data file is a failure of the data.
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            DataError::Io { path, source } if io_retry::kind(source) != Kind::Other => {
                Some(Fault { path, source: Some(source) })
            }
            DataError::CacheIo { path, source } => Some(Fault { path, source: Some(source) }),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}
