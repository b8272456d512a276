//! `runner bench`: throughput measurements, printed as one JSON line each. Targets live here
//! and in BENCHMARKS.md, never in timed tests.

pub mod data;
pub mod models;
pub mod steps;

pub use data::{DataBench, data};
pub use models::{BenchModel, ModelBench, models};
pub use steps::steps;
