//! Model stage: the three phases of the results table as Burn modules, built from the
//! `model` section of an experiment.

mod attention;
pub(crate) mod autocast;
mod check;
mod classifier;
mod config;
mod conv;
mod dense;
mod exp;
mod flat;
pub(crate) mod flex;
mod freeze;
mod fresh;
mod fused_attention;
mod gelu;
mod gemm;
mod head;
mod init;
#[cfg(test)]
mod kernel_checks;
mod lanes;
mod layer_norm;
mod lstm;
mod max_pool;
mod norm;
mod random;
mod resnet;
mod scoped;
mod scratch;
mod summary;
mod swin;
mod temporal;
mod weighted;
mod weights;

#[cfg(test)]
mod tests;

pub use autocast::scope as autocast;
pub use check::ModelViolation;
pub use classifier::{Classifier, CnnLstm, ModelError, SwinTemporal, build};
pub use config::*;
pub use freeze::{ParamCounts, count_params};
pub use head::Head;
pub use norm::frozen_statistics;
pub use random::scope as random_streams;
pub use resnet::{BasicBlock, Downsample, ResNet};
pub use summary::{ModelSummary, summary};
pub use swin::{StagePlan, Swin, SwinDims, SwinGeometryError};
pub use temporal::{FramePool, HybridLayer, PreNormLayer, TemporalEncoder};
pub use weights::{LoadReport, WeightsError};
