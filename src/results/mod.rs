//! Results stage: the content-addressed result directory and its run records (with the SLURM
//! job each attempt ran in); and what is read back from it: reports, plots, status and
//! predictions.

mod attempt;
mod dir;
mod error;
mod runs;

pub mod plots;
pub mod predict;
pub mod report;
pub mod status;
pub mod view;

pub use attempt::SlurmAttempt;
pub use dir::{DIGEST, RESOLVED, ResultDir, SLURM, dir_path};
pub use error::ResultsError;
pub use plots::{write_fold_plots, write_run_plots};
pub use runs::RunRecord;
