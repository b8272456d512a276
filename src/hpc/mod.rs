//! HPC: an experiment's folds as a SLURM array job (one task per fold, each checkpointing on
//! a signal near its time limit and requeueing itself), and a summary job after it.

mod options;
mod script;
mod slurm;
mod sweep;

pub use options::{OptionsError, SlurmOptions, parse_extra, parse_mem, parse_name, parse_time};
pub use script::{Job, ScriptError, Scripts, scripts};
pub use slurm::{SlurmError, Written, runner_path, submit, write};
pub use sweep::{SweepJob, SweepMember, SweepWritten, write_sweep};

#[cfg(test)]
mod tests;
