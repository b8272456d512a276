//! The clip classifiers, one per phase, behind one enum: `[B, T, 3, H, W]` clips → logits
//! `[B, 2]` (or the predicted EF `[B, 1]` with a regression head). Frames go through the 2-D
//! backbones as one `[B·T, 3, H, W]` batch; R(2+1)D takes the whole clip.

use std::path::{Path, PathBuf};

use burn::nn::{Lstm, LstmConfig as BurnLstmConfig};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::freeze::{Freeze, ParamCounts, count_params};
use super::head::{Head, HeadConfig};
use super::r2plus1d::{R2plus1d, R2plus1dConfig};
use super::resnet::{ResNet, ResNetConfig};
use super::swin::{Swin, SwinConfig};
use super::temporal::{HybridTemporalConfig, Pooling, TemporalConfig, TemporalEncoder};
use super::violation::ModelViolation;
use super::weights::{LoadReport, WeightsError};
use crate::ops::{self, Backend};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelConfig {
    /// Phase 1: per-frame ResNet features → LSTM → head.
    CnnLstm(CnnLstmConfig),
    /// Phase 2: per-frame Swin features → Transformer encoder over time → pooling → head.
    SwinGlobal(SwinGlobalConfig),
    /// Phase 3: per-frame Swin features → hybrid (MHSA ‖ depth-wise temporal conv) layers →
    /// pooling → head.
    SwinHybrid(SwinHybridConfig),
    /// Whole clips through R(2+1)D-18 (factored 3-D convolutions) → head.
    R2plus1d(R2plus1dConfig),
}

impl ModelConfig {
    /// Width of the per-frame features the temporal part works on.
    pub fn feature_dim(&self) -> u32 {
        match self {
            ModelConfig::CnnLstm(c) => c.backbone.num_features(),
            ModelConfig::SwinGlobal(c) => c.backbone.num_features(),
            ModelConfig::SwinHybrid(c) => c.backbone.num_features(),
            ModelConfig::R2plus1d(c) => c.num_features(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CnnLstmConfig {
    #[serde(default)]
    pub backbone: ResNetConfig,
    #[serde(default)]
    pub lstm: LstmConfig,
    /// Which LSTM output feeds the head: the last step (seed) or the mean over steps.
    #[serde(default)]
    pub readout: Readout,
    #[serde(default)]
    pub head: HeadConfig,
    /// Which parameters train; the rest get no gradients and no optimizer state.
    #[serde(default = "Freeze::none")]
    pub freeze: Freeze,
    /// Local safetensors file with timm/torchvision ResNet weights (never downloaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwinGlobalConfig {
    #[serde(default)]
    pub backbone: SwinConfig,
    #[serde(default)]
    pub temporal: TemporalConfig,
    #[serde(default)]
    pub pooling: Pooling,
    #[serde(default)]
    pub head: HeadConfig,
    #[serde(default)]
    pub freeze: Freeze,
    /// Local safetensors file with timm Swin weights (never downloaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwinHybridConfig {
    #[serde(default)]
    pub backbone: SwinConfig,
    #[serde(default)]
    pub temporal: HybridTemporalConfig,
    #[serde(default)]
    pub pooling: Pooling,
    #[serde(default)]
    pub head: HeadConfig,
    #[serde(default)]
    pub freeze: Freeze,
    /// Local safetensors file with timm Swin weights (never downloaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LstmConfig {
    #[schemars(range(min = 1, max = 8192))]
    pub hidden: u32,
    #[schemars(range(min = 1, max = 8))]
    pub layers: u32,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self { hidden: 512, layers: 1 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readout {
    #[default]
    Last,
    Mean,
}

// One value per run; the variants stay unboxed, as Burn's `Module` derive takes them.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Classifier<B: Backend> {
    /// Phase 1.
    CnnLstm(CnnLstm<B>),
    /// Phases 2 and 3 (the temporal encoder holds global or hybrid layers).
    SwinTemporal(SwinTemporal<B>),
    R2plus1d(R2plus1d<B>),
}

impl<B: Backend> Classifier<B> {
    /// `[B, T, 3, H, W]` → `[B, outputs]` (2 logits, or the EF).
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        match self {
            Classifier::CnnLstm(m) => m.forward(clips),
            Classifier::SwinTemporal(m) => m.forward(clips),
            Classifier::R2plus1d(m) => m.forward(clips),
        }
    }
}

impl ModelConfig {
    /// Builds the classifier with fresh weights for `img`×`img` frames and clips of `frames`
    /// frames (no pretrained weights, nothing frozen; see [`super::build`] for both).
    ///
    /// Panics on a configuration that [`ModelConfig::check`] rejects.
    pub fn init<B: Backend>(&self, img: usize, frames: usize, device: &B::Device) -> Classifier<B> {
        match self {
            ModelConfig::CnnLstm(c) => Classifier::CnnLstm(c.init(device)),
            ModelConfig::SwinGlobal(c) => Classifier::SwinTemporal(c.init(img, frames, device)),
            ModelConfig::SwinHybrid(c) => Classifier::SwinTemporal(c.init(img, frames, device)),
            ModelConfig::R2plus1d(c) => Classifier::R2plus1d(c.init(device)),
        }
    }
}

impl CnnLstmConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> CnnLstm<B> {
        let backbone = self.backbone.init(device);
        CnnLstm::new(self, backbone, device)
    }
}

impl SwinGlobalConfig {
    pub fn init<B: Backend>(
        &self,
        img: usize,
        frames: usize,
        device: &B::Device,
    ) -> SwinTemporal<B> {
        let backbone = self.backbone.init(img, device);
        let d = backbone.num_features;
        let temporal = self.temporal.init(d, frames, self.pooling, device);
        SwinTemporal { backbone, temporal, head: self.head.init(d, device) }
    }
}

impl SwinHybridConfig {
    pub fn init<B: Backend>(
        &self,
        img: usize,
        frames: usize,
        device: &B::Device,
    ) -> SwinTemporal<B> {
        let backbone = self.backbone.init(img, device);
        let d = backbone.num_features;
        let temporal = self.temporal.init(d, frames, self.pooling, device);
        SwinTemporal { backbone, temporal, head: self.head.init(d, device) }
    }
}

/// Phase 1: ResNet per frame → LSTM layers (batch-first) → last step or mean → head.
#[derive(Module, Debug)]
pub struct CnnLstm<B: Backend> {
    pub backbone: ResNet<B>,
    pub lstm: Vec<Lstm<B>>,
    pub head: Head<B>,
    mean_readout: bool,
}

impl<B: Backend> CnnLstm<B> {
    /// Around a given backbone (the parity tests pass a narrow one).
    pub fn new(c: &CnnLstmConfig, backbone: ResNet<B>, device: &B::Device) -> Self {
        let hidden = c.lstm.hidden as usize;
        let lstm = (0..c.lstm.layers as usize)
            .map(|i| {
                let d_in = if i == 0 { backbone.num_features } else { hidden };
                BurnLstmConfig::new(d_in, hidden, true).init(device)
            })
            .collect();
        Self {
            head: c.head.init(hidden, device),
            backbone,
            lstm,
            mean_readout: c.readout == Readout::Mean,
        }
    }

    /// `[B, T, 3, H, W]` → `[B, outputs]` (2 logits, or the EF).
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        let [b, t, c, h, w] = clips.dims();
        let features = self.backbone.forward(clips.reshape([b * t, c, h, w]));
        let mut x = features.reshape([b, t, self.backbone.num_features]);
        for layer in &self.lstm {
            x = ops::lstm(layer, x);
        }
        let [_, _, d] = x.dims();
        let pooled = if self.mean_readout {
            x.mean_dim(1).reshape([b, d])
        } else {
            x.slice([0..b, t - 1..t, 0..d]).reshape([b, d])
        };
        self.head.forward(pooled)
    }
}

/// Phases 2/3: Swin per frame → temporal encoder → head.
#[derive(Module, Debug)]
pub struct SwinTemporal<B: Backend> {
    pub backbone: Swin<B>,
    pub temporal: TemporalEncoder<B>,
    pub head: Head<B>,
}

impl<B: Backend> SwinTemporal<B> {
    /// `[B, T, 3, H, W]` → `[B, outputs]` (2 logits, or the EF).
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        let [b, t, c, h, w] = clips.dims();
        let features = self.backbone.forward(clips.reshape([b * t, c, h, w]));
        let features = features.reshape([b, t, self.backbone.num_features]);
        self.head.forward(self.temporal.forward(features))
    }
}

/// Why a model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model configuration:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<ModelViolation>),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// The model as an experiment asks for it: checked, built, pretrained backbone weights loaded
/// (if `pretrained` is set) and the `freeze` choice applied. Build it on an autodiff backend
/// to train it.
pub fn build<B: Backend>(
    config: &ModelConfig,
    img: usize,
    frames: usize,
    device: &B::Device,
) -> Result<(Classifier<B>, Option<LoadReport>), ModelError> {
    let violations = config.check(img, frames);
    if !violations.is_empty() {
        return Err(ModelError::Invalid(violations));
    }
    let mut model = config.init::<B>(img, frames, device);
    let report = match (&mut model, config.pretrained()) {
        (_, None) => None,
        (Classifier::CnnLstm(m), Some(file)) => Some(m.backbone.load_pretrained(file)?),
        (Classifier::SwinTemporal(m), Some(file)) => Some(m.backbone.load_pretrained(file)?),
        (Classifier::R2plus1d(m), Some(file)) => Some(m.backbone.load_pretrained(file)?),
    };
    Ok((model.freeze(config.freeze()), report))
}

impl ModelConfig {
    /// The head's section.
    pub fn head(&self) -> &HeadConfig {
        match self {
            ModelConfig::CnnLstm(c) => &c.head,
            ModelConfig::SwinGlobal(c) => &c.head,
            ModelConfig::SwinHybrid(c) => &c.head,
            ModelConfig::R2plus1d(c) => &c.head,
        }
    }

    /// The local pretrained-weights file, if any.
    pub fn pretrained(&self) -> Option<&Path> {
        match self {
            ModelConfig::CnnLstm(c) => c.pretrained.as_deref(),
            ModelConfig::SwinGlobal(c) => c.pretrained.as_deref(),
            ModelConfig::SwinHybrid(c) => c.pretrained.as_deref(),
            ModelConfig::R2plus1d(c) => c.pretrained.as_deref(),
        }
    }
}

impl<B: Backend> Classifier<B> {
    /// Stops gradients for the parameters `freeze` names (backbone parts only).
    pub fn freeze(self, freeze: Freeze) -> Self {
        match self {
            Classifier::CnnLstm(mut m) => {
                m.backbone = m.backbone.freeze(freeze);
                Classifier::CnnLstm(m)
            }
            Classifier::SwinTemporal(mut m) => {
                m.backbone = m.backbone.freeze(freeze);
                Classifier::SwinTemporal(m)
            }
            Classifier::R2plus1d(mut m) => {
                m.backbone = m.backbone.freeze(freeze);
                Classifier::R2plus1d(m)
            }
        }
    }

    /// The same model with its output bias set to `value` (see [`Head::set_output_bias`]).
    pub fn with_output_bias(mut self, value: f32) -> Self {
        let head = match &mut self {
            Classifier::CnnLstm(m) => &mut m.head,
            Classifier::SwinTemporal(m) => &mut m.head,
            Classifier::R2plus1d(m) => &mut m.head,
        };
        head.set_output_bias(value);
        self
    }

    /// Total and trainable counts once `freeze` is applied, without initialising anything.
    pub fn param_counts(&self, freeze: Freeze) -> ParamCounts {
        let total = count_params(self);
        let frozen = match self {
            Classifier::CnnLstm(m) => m.backbone.frozen_params(freeze),
            Classifier::SwinTemporal(m) => m.backbone.frozen_params(freeze),
            Classifier::R2plus1d(m) => m.backbone.frozen_params(freeze),
        };
        ParamCounts { total, trainable: total - frozen }
    }
}
