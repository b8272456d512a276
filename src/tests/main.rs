//! End-to-end tests of the `runner` binary: what a user types, what they see, what is
//! written.

mod aggregation;
mod bad_configs;
mod bench;
mod browser;
mod command_line;
mod data_stage;
mod editor_schema;
mod faults;
mod fetch;
mod layering;
mod learning;
mod preflight;
mod regression;
mod reports;
mod result_dirs;
mod resume;
mod slurm;
mod statistics;
mod status_predict;
mod support;
mod sweeps;
mod tracking;
mod trained;
#[cfg(feature = "wgpu")]
mod wgpu;
