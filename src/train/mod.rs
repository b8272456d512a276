//! Train stage: folds, sampling, loss, optimisation, checkpoints and model selection.

pub mod adamw;
mod batches;
pub mod checkpoint;
pub mod compute;
mod config;
pub mod crash;
pub mod fit;
mod fold;
pub mod grads;
pub mod loss_scale;
pub mod metrics;
pub mod progress;
pub mod sampler;
mod schedule;
pub mod shards;
pub mod split;
pub mod step;
pub mod stop;

pub use config::*;
pub use fold::{BEST, HISTORY};
