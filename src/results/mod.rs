//! Results stage: the content-addressed result directory, its lock and its run records; and
//! what is read back from it: reports, plots, status and predictions.

mod dir;
mod lock;
mod runs;

pub mod plots;
pub mod predict;
pub mod report;
pub mod status;
pub mod view;

pub use dir::{ResultDir, ResultsError, SLURM, dir_path};
pub use lock::{DirLock, LockProbe, probe as probe_lock};
pub use plots::{write_fold_plots, write_run_plots};
pub use runs::RunRecord;
