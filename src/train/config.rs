//! The `sampler`, `loss`, `cv` and `train` sections.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::loss_scale::LossScaleConfig;

/// How training batches are drawn from a fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SamplerConfig {
    /// Every training video once per epoch, in a seeded shuffle.
    None,
    /// Weighted random sampling with replacement, as many draws per epoch as the fold has
    /// videos (the seed's WeightedRandomSampler).
    Weighted { weights: ClassWeights },
}

impl Default for SamplerConfig {
    /// The seed's sampler: the minority class weighted by the fold count (7).
    fn default() -> Self {
        SamplerConfig::Weighted { weights: ClassWeights::MinorityTimes { factor: 7.0 } }
    }
}

/// Per-class weights for the sampler or the loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClassWeights {
    /// The minority class of the fold gets `factor`, the majority 1.
    MinorityTimes {
        #[schemars(range(min = 0.0, max = 1000.0))]
        factor: f64,
    },
    /// Each class weighted by 1 / its count in the fold.
    InverseFrequency,
    /// Fixed weights for normal (class 0) and abnormal (class 1).
    Explicit {
        #[schemars(range(min = 0.0, max = 1000.0))]
        normal: f64,
        #[schemars(range(min = 0.0, max = 1000.0))]
        abnormal: f64,
    },
}

/// Training loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Class weights of the cross-entropy (none: plain cross-entropy, the seed's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_weights: Option<ClassWeights>,
    /// Label smoothing of the cross-entropy.
    #[schemars(range(min = 0.0, max = 0.5))]
    pub label_smoothing: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self { class_weights: None, label_smoothing: 0.0 }
    }
}

/// Cross-validation and model selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CvConfig {
    /// `kfold`: stratified K-fold over train+val, test held out; `single`: train on train,
    /// select on val, report on test (the seed's fast test).
    pub mode: CvMode,
    /// Number of folds (kfold only); at least 2 and at most the smallest class.
    #[schemars(range(min = 2, max = 100))]
    pub folds: u32,
    /// Shuffle videos before assigning folds.
    pub shuffle: bool,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Validation metric that picks each fold's best epoch and the best fold overall.
    pub select_by: SelectionMetric,
}

impl Default for CvConfig {
    fn default() -> Self {
        Self {
            mode: CvMode::Kfold,
            folds: 7,
            shuffle: true,
            seed: 42,
            select_by: SelectionMetric::Accuracy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CvMode {
    Kfold,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMetric {
    Accuracy,
    BalancedAccuracy,
    Auroc,
    AbnormalRecall,
    /// The lowest validation loss (echonet/dynamic's choice).
    ValLoss,
}

/// Optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    #[schemars(range(min = 1, max = 10000))]
    pub epochs: u32,
    /// Clips per batch.
    #[schemars(range(min = 1, max = 4096))]
    pub batch_size: u32,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    /// Numeric precision: `fp32`, or mixed precision as PyTorch's autocast (fp32 weights;
    /// products and convolutions in `bf16` or `f16`). `f16` trains with dynamic loss scaling.
    pub precision: Precision,
    /// Dynamic loss scaling (PyTorch's `GradScaler`); `f16` only, which resolves it to these
    /// defaults when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "LossScaleConfig")]
    pub loss_scale: Option<LossScaleConfig>,
    /// Clip the gradients' L2 norm to this value (after f16's unscaling), the norm
    /// `grad_clip_norm` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub grad_clip: Option<f64>,
    /// Whose norm `grad_clip` bounds: `global` (all gradients as one vector, as PyTorch's
    /// `clip_grad_norm_`; the default) or `per_parameter` (each parameter's gradient by its own
    /// norm: Burn's clipping, which versions before this key had). Only with `grad_clip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ClipNorm")]
    pub grad_clip_norm: Option<ClipNorm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClipNorm {
    Global,
    PerParameter,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 8,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            precision: Precision::Fp32,
            loss_scale: None,
            grad_clip: None,
            grad_clip_norm: None,
        }
    }
}

/// Optimizer over the trainable parameters. Defaults are PyTorch's (Burn's differ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Adamw {
        #[serde(default = "default_lr")]
        #[schemars(extend("exclusiveMinimum" = 0), range(max = 10.0))]
        lr: f64,
        #[serde(default = "default_beta1")]
        #[schemars(range(min = 0.0, max = 0.999999))]
        beta1: f64,
        #[serde(default = "default_beta2")]
        #[schemars(range(min = 0.0, max = 0.999999))]
        beta2: f64,
        #[serde(default = "default_eps")]
        #[schemars(extend("exclusiveMinimum" = 0), range(max = 1.0))]
        eps: f64,
        #[serde(default = "default_adamw_decay")]
        #[schemars(range(min = 0.0, max = 1.0))]
        weight_decay: f64,
    },
    Sgd {
        #[serde(default = "default_lr")]
        #[schemars(extend("exclusiveMinimum" = 0), range(max = 10.0))]
        lr: f64,
        #[serde(default)]
        #[schemars(range(min = 0.0, max = 0.999999))]
        momentum: f64,
        #[serde(default)]
        #[schemars(range(min = 0.0, max = 1.0))]
        weight_decay: f64,
        #[serde(default)]
        nesterov: bool,
    },
}

fn default_lr() -> f64 {
    1e-4
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_adamw_decay() -> f64 {
    0.01
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adamw {
            lr: default_lr(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: default_adamw_decay(),
        }
    }
}

/// Learning-rate schedule, stepped once per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// Cosine annealing from the optimizer's lr to `eta_min` over `t_max` epochs
    /// (PyTorch's CosineAnnealingLR), after `warmup_epochs` of linear warm-up.
    Cosine {
        /// Epochs of one half cosine period; defaults to `train.epochs`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 10000))]
        t_max: Option<u32>,
        #[serde(default = "default_eta_min")]
        #[schemars(range(min = 0.0, max = 10.0))]
        eta_min: f64,
        #[serde(default)]
        #[schemars(range(max = 10000))]
        warmup_epochs: u32,
    },
    /// A constant learning rate after `warmup_epochs` of linear warm-up.
    Constant {
        #[serde(default)]
        #[schemars(range(max = 10000))]
        warmup_epochs: u32,
    },
    /// The rate times `gamma` every `step_size` epochs (PyTorch's StepLR; echonet/dynamic:
    /// ×0.1 every 15 epochs), after `warmup_epochs` of linear warm-up.
    Step {
        #[schemars(range(min = 1, max = 10000))]
        step_size: u32,
        #[serde(default = "default_gamma")]
        #[schemars(range(min = 0.0, max = 1.0))]
        gamma: f64,
        #[serde(default)]
        #[schemars(range(max = 10000))]
        warmup_epochs: u32,
    },
}

fn default_gamma() -> f64 {
    0.1
}

fn default_eta_min() -> f64 {
    1e-6
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig::Cosine { t_max: None, eta_min: default_eta_min(), warmup_epochs: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Fp32,
    Bf16,
    F16,
}
