//! echo-runner: a declarative experiment runner for echocardiogram video classification.
//!
//! One flow, one module per stage: `config` (file → resolved `Experiment` + hash) →
//! `data` → `model` → `train` → `results` (result directory, lock, run records); `hpc` runs the
//! folds as SLURM jobs. The CLI (`main.rs`, `cli`) is a thin layer on top.
//!
//! Under the models: `ops` (the layer ops the models call, the backend extension trait that
//! picks each op's implementation at compile time, the autodiff nodes, autocast) and, at the
//! bottom, `kernels` (the CPU kernels on plain slices, importing nothing else of the crate).

pub mod bench;
pub mod config;
pub mod data;
pub mod hpc;
pub mod kernels;
pub mod model;
pub mod ops;
pub mod results;
pub mod run;
pub mod train;

mod atomic;
