//! The `Experiment`: one value holding every section of an experiment file, and its own
//! `experiment` and `runtime` sections. The other sections are owned by their stages.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::labels::LabelRule;
use crate::data::{AugmentConfig, ClipConfig, DataConfig, NormalizeConfig, SplitConfig};
use crate::model::ModelConfig;
use crate::train::{CvConfig, LossConfig, SamplerConfig, TrainConfig};

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

/// Where and how to run. Nothing here changes a result, so none of it enters the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Compute backend: `cpu` (Burn's flex backend) or `cuda` (needs the `cuda` build feature).
    pub backend: Backend,
    /// Devices to train on, data parallel: CUDA device indices (one node), or on the CPU one
    /// entry per thread, each taking a shard of every batch (`[0, 1]`: two threads).
    #[schemars(length(min = 1, max = 64))]
    pub devices: Vec<u32>,
    /// Data-loading worker threads (0: one per core).
    #[schemars(range(max = 256))]
    pub workers: u32,
    /// Folder holding the result directories, relative to the working directory.
    pub output_root: PathBuf,
    /// Folder for generated synthetic datasets and HDF5 clip caches (default:
    /// `<output_root>/.cache`). Shared by every experiment that uses the same data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Progress display: `auto` (bars on a terminal, log lines otherwise), `bars`, `lines`, `off`.
    pub progress: Progress,
    /// Under SLURM (`runner slurm`): how many times a fold's task may be requeued after it
    /// checkpointed near its time limit, so that a job which never gets done stops requeueing.
    #[schemars(range(max = 1000))]
    pub max_requeues: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Cpu,
            devices: vec![0],
            workers: 0,
            output_root: PathBuf::from("results"),
            cache_dir: None,
            progress: Progress::Auto,
            max_requeues: 10,
        }
    }
}

impl RuntimeConfig {
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.output_root.join(".cache"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    Auto,
    Bars,
    Lines,
    Off,
}
