//! Train stage: folds, sampling, loss, optimisation and model selection.

mod config;

pub use config::*;
