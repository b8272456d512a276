//! The clip classifiers, one per phase, behind one enum: `[B, T, 3, H, W]` clips → logits
//! `[B, 2]`. Frames go through the backbone as one `[B·T, 3, H, W]` batch.

use std::path::Path;

use burn::nn::{Lstm, LstmConfig};
use burn::prelude::*;

use super::check::ModelViolation;
use super::weights::{LoadReport, WeightsError};

use super::config::{CnnLstmConfig, ModelConfig, Readout, SwinGlobalConfig, SwinHybridConfig};
use super::head::Head;
use super::lstm;
use super::resnet::ResNet;
use super::swin::Swin;
use super::temporal::TemporalEncoder;

#[derive(Module, Debug)]
pub enum Classifier<B: Backend> {
    /// Phase 1.
    CnnLstm(CnnLstm<B>),
    /// Phases 2 and 3 (the temporal encoder holds global or hybrid layers).
    SwinTemporal(SwinTemporal<B>),
}

impl<B: Backend> Classifier<B> {
    /// `[B, T, 3, H, W]` → `[B, 2]`.
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        match self {
            Classifier::CnnLstm(m) => m.forward(clips),
            Classifier::SwinTemporal(m) => m.forward(clips),
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
                LstmConfig::new(d_in, hidden, true).init(device)
            })
            .collect();
        Self {
            head: c.head.init(hidden, device),
            backbone,
            lstm,
            mean_readout: c.readout == Readout::Mean,
        }
    }

    /// `[B, T, 3, H, W]` → `[B, 2]`.
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        let [b, t, c, h, w] = clips.dims();
        let features = self.backbone.forward(clips.reshape([b * t, c, h, w]));
        let mut x = features.reshape([b, t, self.backbone.num_features]);
        for layer in &self.lstm {
            x = lstm::sequence(layer, x);
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
    /// `[B, T, 3, H, W]` → `[B, 2]`.
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
    };
    Ok((model.freeze(config.freeze()), report))
}

impl ModelConfig {
    /// The local pretrained-weights file, if any.
    pub fn pretrained(&self) -> Option<&Path> {
        match self {
            ModelConfig::CnnLstm(c) => c.pretrained.as_deref(),
            ModelConfig::SwinGlobal(c) => c.pretrained.as_deref(),
            ModelConfig::SwinHybrid(c) => c.pretrained.as_deref(),
        }
    }
}
