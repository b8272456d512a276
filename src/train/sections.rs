//! What the train stage reads of a resolved experiment.

use super::runtime::RuntimeConfig;
use super::{CvConfig, LossConfig, SamplerConfig, TrainConfig};
use crate::data::DataConfig;
use crate::model::ModelConfig;

/// The experiment's seed and the sections training reads: the data (how clips are drawn),
/// the model to build, and train's own sections. `config` lends them from its resolved
/// `Experiment`, which training never sees whole.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    /// The seed every random stream of the run derives from.
    pub seed: u64,
    pub data: &'a DataConfig,
    pub model: &'a ModelConfig,
    pub sampler: &'a SamplerConfig,
    pub loss: &'a LossConfig,
    pub cv: &'a CvConfig,
    pub train: &'a TrainConfig,
    pub runtime: &'a RuntimeConfig,
}
