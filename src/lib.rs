//! echo-runner: a declarative experiment runner for echocardiogram video classification.
//!
//! One flow, one module per stage: `config` (file → resolved `Experiment` + hash) →
//! `data` → `model` → `train` → `results` (result directory, lock, run records); `hpc` runs the
//! folds as SLURM jobs. The CLI (`main.rs`, `cli`) is a thin layer on top.

pub mod bench;
pub mod config;
pub mod data;
pub mod hpc;
pub mod lock;
pub mod model;
pub mod results;
pub mod run;
pub mod train;

mod atomic;
