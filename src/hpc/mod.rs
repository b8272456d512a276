//! HPC: an experiment's folds as a SLURM array job (one task per fold, each checkpointing on
//! a signal near its time limit and requeueing itself), a summary job after it, and the
//! record of which SLURM job each attempt ran in.

mod attempt;

pub use attempt::SlurmAttempt;
