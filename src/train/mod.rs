//! Train stage: folds, sampling, loss, optimisation, checkpoints and model selection; and the
//! sections of an experiment file that configure them (`sampler`, `loss`, `cv`, `train`,
//! `runtime`).

pub mod adamw;
mod batches;
pub mod checkpoint;
pub mod compute;
mod config;
pub mod crash;
mod error;
pub mod fit;
mod fold;
mod grad_pass;
pub mod grads;
pub mod loss_scale;
pub mod metrics;
pub mod objective;
pub mod progress;
pub mod runtime;
pub mod sampler;
mod schedule;
mod sections;
mod sgd;
pub mod shards;
pub mod split;
pub mod step;
pub mod stop;
#[cfg(test)]
mod torch_parity;
pub mod tracking;

pub use config::*;
pub use error::TrainError;
pub use fold::{BEST, HISTORY};
pub use sections::Sections;
