//! The `Experiment`: one value holding every section of an experiment file, and its own
//! `experiment` section. The other sections are owned by the stages that read them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::labels::LabelRule;
use crate::data::{AugmentConfig, ClipConfig, DataConfig, NormalizeConfig, SplitConfig};
use crate::model::ModelConfig;
use crate::train::runtime::RuntimeConfig;
use crate::train::{CvConfig, LossConfig, SamplerConfig, Sections, TrainConfig};

/// An echo-runner experiment: data, model, sampling, loss, cross-validation, training and
/// runtime settings. Every key but `runtime`, `experiment.description` and
/// `data.source.root` enters the experiment's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "echo-runner experiment")]
pub struct Experiment {
    /// Another experiment file this one starts from (path relative to this file); this file
    /// then gives only the keys it changes. Resolved away: never part of the resolved config.
    #[serde(default, skip_serializing)]
    pub base: Option<String>,
    pub experiment: ExperimentMeta,
    pub data: DataConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub sampler: SamplerConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub cv: CvConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
}

impl Experiment {
    /// The defaults of every section (and data sub-section) that has one.
    pub fn section_defaults() -> serde_json::Value {
        serde_json::json!({
            "data": {
                "labels": LabelRule::default(),
                "split": SplitConfig::default(),
                "clip": ClipConfig::default(),
                "normalize": NormalizeConfig::default(),
                "augment": AugmentConfig::default(),
            },
            "sampler": SamplerConfig::default(),
            "loss": LossConfig::default(),
            "cv": CvConfig::default(),
            "train": TrainConfig::default(),
            "runtime": RuntimeConfig::default(),
        })
    }

    /// What the train stage reads: the seed and the sections it uses.
    pub fn train_sections(&self) -> Sections<'_> {
        Sections {
            seed: self.experiment.seed,
            data: &self.data,
            model: &self.model,
            sampler: &self.sampler,
            loss: &self.loss,
            cv: &self.cv,
            train: &self.train,
            runtime: &self.runtime,
        }
    }
}

/// Name, seed and description of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentMeta {
    /// Name of the experiment; the result directory is `<name>-<hash>`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    pub name: String,
    /// Seed from which every random stream of the run derives.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Free text; not part of the hash.
    #[serde(default)]
    pub description: String,
}

fn default_seed() -> u64 {
    42
}
