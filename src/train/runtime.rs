//! The `runtime` section: where and how a run computes (backend, devices, data-loading
//! workers, progress display) and where it writes (and tracks). Train owns it: the backend, the devices
//! and the progress display are the training loop's; `run`, `results` and `hpc` read its
//! folders and its requeue limit from the resolved experiment.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where and how to run. Nothing here changes a result, so none of it enters the hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Compute backend: `cpu` (Burn's flex backend), `cuda` (NVIDIA; needs the `cuda` build
    /// feature) or `wgpu` (Metal, Vulkan, DirectX 12; needs the `wgpu` build feature).
    pub backend: Backend,
    /// Devices to train on, data parallel: CUDA device indices (one node), wgpu adapter indices
    /// (in the order `runner` lists them when it starts), or on the CPU one entry per thread,
    /// each taking a shard of every batch (`[0, 1]`: two threads).
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
    /// Where the run is tracked besides its own files: TensorBoard event files (always) and
    /// an MLflow server (on request).
    pub tracking: TrackingConfig,
}

/// `runtime.tracking`: TensorBoard event files are written into every fold's
/// `tensorboard/` folder; an MLflow server gets the run when one is named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// Write the training loss and learning rate to TensorBoard every this many steps.
    #[schemars(range(min = 1))]
    pub tensorboard_every: u32,
    /// MLflow tracking server (`http://host:5000`) to send the run to; else the environment
    /// variable MLFLOW_TRACKING_URI, if set. Its token comes from MLFLOW_TRACKING_TOKEN only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^@/]+(/.*)?$"))]
    pub mlflow: Option<String>,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self { tensorboard_every: 10, mlflow: None }
    }
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
            tracking: TrackingConfig::default(),
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
    Wgpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    Auto,
    Bars,
    Lines,
    Off,
}
