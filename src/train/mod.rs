//! Train stage: folds, sampling, loss, optimisation and model selection.

mod config;
pub mod fit;
pub mod metrics;
pub mod progress;
pub mod sampler;
pub mod split;
pub mod stop;

pub use config::*;
