//! Results stage: the content-addressed result directory, its lock and its run records.

mod dir;
mod lock;
mod runs;

pub use dir::{ResultDir, ResultsError, dir_path};
pub use lock::DirLock;
pub use runs::RunRecord;
