//! Train stage: folds, sampling, loss, optimisation and model selection.

mod config;
pub mod metrics;
pub mod sampler;
pub mod split;

pub use config::*;
