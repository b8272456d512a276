//! Sweeps: a list of experiment files, optionally crossed with a grid of key values, run as
//! one table. Each member is an ordinary experiment (its file plus the grid's values as the
//! topmost layers), with the hash and result directory it would have alone; the sweep adds
//! only its own record, `<output_root>/sweeps/<name>-<hash12>/`, and the table at the end.

mod expand;
mod file;
mod record;
mod run;
mod slurm;
mod state;

pub use expand::{Member, Sweep, is_sweep_file};
pub use file::{GridAxis, SweepFile, SweepSection, schema, schema_text};
pub use record::{REPORT_HTML, REPORT_MD, SWEEP_RECORD};
pub use run::{MemberEnd, SweepOptions, SweepOutcome, run};
pub use state::MemberState;

#[cfg(test)]
mod tests;
