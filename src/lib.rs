//! echo-runner: a declarative experiment runner for echocardiogram video classification.
//!
//! One module per stage, each importing only the modules listed below it (the test in
//! `import_graph` fails on an import cycle, between these modules or between the files of
//! one of them):
//!
//! - `sweep` (a table's experiments, crossed with a grid, run as one: skip what is done, go on
//!   past a failure, the table at the end) drives `run`, `hpc` and `results`.
//! - `run` (`runner run`: the stages in order into one result directory, under its lock) and
//!   `hpc` (the folds as a SLURM array job) drive the others; `bench` times data loading,
//!   models and training steps.
//! - `track`: the run in TensorBoard event files and in MLflow, fed by `train` (through its
//!   `tracking::Tracker`) and read back from a result directory (`runner track`).
//! - `results`: the result directory and its run records, and what is read back from it
//!   (reports, plots, status, predictions) — it reads what `train` wrote.
//! - `config`: an experiment file → one resolved `Experiment` and its hash. The experiment is
//!   composed of the sections the stages below own; each stage is handed the sections it reads.
//! - `train`: folds, optimisation, checkpoints, metrics; the `sampler`, `loss`, `cv`, `train`
//!   and `runtime` sections.
//! - `model`: the classifier's phases as Burn modules; the `model` section.
//! - `ops`: the layer ops the models call — the backend extension trait that picks each op's
//!   implementation at compile time (Burn's composition, or the project's kernels on the CPU),
//!   the autodiff nodes, autocast.
//! - `kernels`: the CPU kernels on plain slices; imports no Burn and nothing else of the crate.
//! - `data`: EchoNet-Dynamic and synthetic videos, labels, clip caches; the `data` section.
//! - Leaves every stage may use: `atomic` (crash-safe writes), `lock` (a directory's OS
//!   lock), `io_retry` (faults of the machine: which I/O errors, retried how) and `stats`
//!   (the report's intervals and paired tests, on plain numbers).
//!
//! The CLI (`main.rs`, `cli`) is a thin layer on top.

pub mod bench;
pub mod config;
pub mod data;
pub mod hpc;
pub mod io_retry;
pub mod kernels;
pub mod lock;
pub mod model;
pub mod ops;
pub mod results;
pub mod run;
pub mod stats;
pub mod sweep;
pub mod track;
pub mod train;

mod atomic;
#[cfg(test)]
mod import_graph;
