//! Temporal encoders over per-frame features `[B, T, d]`: a learnable position embedding,
//! pre-norm Transformer layers (phase 2) or the seed's hybrid MHSA ‖ depth-wise-conv layers
//! (phase 3), a final LayerNorm and pooling over frames to `[B, d]`.

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, LayerNorm, Linear, LinearConfig,
    PaddingConfig1d,
};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::attention::SelfAttention;
use super::init::trunc_normal;
use super::random;
use crate::ops::{self, Backend};

/// Pre-norm Transformer encoder over the per-frame features (phase 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalConfig {
    #[schemars(range(min = 1, max = 48))]
    pub layers: u32,
    /// Attention heads; must divide the feature width.
    #[schemars(range(min = 1, max = 128))]
    pub heads: u32,
    /// Hidden width of the feed-forward block.
    #[schemars(range(min = 1, max = 65536))]
    pub ffn: u32,
    #[schemars(range(min = 0.0, max = 0.9))]
    pub dropout: f64,
    /// Size of the learnable temporal position embedding (one per frame); defaults to
    /// `data.clip.frames` and must be at least that.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub positions: Option<u32>,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self { layers: 2, heads: 8, ffn: 512, dropout: 0.1, positions: None }
    }
}

/// The seed's hybrid temporal layer (phase 3):
/// `x + MHSA(LN1(x)) + DWConv(x)`, then `x + FFN(LN2(x))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HybridTemporalConfig {
    #[schemars(range(min = 1, max = 48))]
    pub layers: u32,
    /// Attention heads; must divide the feature width.
    #[schemars(range(min = 1, max = 128))]
    pub heads: u32,
    /// Hidden width of the feed-forward block.
    #[schemars(range(min = 1, max = 65536))]
    pub ffn: u32,
    #[schemars(range(min = 0.0, max = 0.9))]
    pub dropout: f64,
    /// Kernel of the depth-wise temporal convolution ('same' padding); odd.
    #[schemars(range(min = 1, max = 63))]
    pub dwconv_kernel: u32,
    /// Which paths of the layer are kept (an ablation switch).
    pub paths: HybridPaths,
    /// Size of the learnable temporal position embedding; defaults to `data.clip.frames`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub positions: Option<u32>,
}

impl Default for HybridTemporalConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 8,
            ffn: 512,
            dropout: 0.1,
            dwconv_kernel: 3,
            paths: HybridPaths::Both,
            positions: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HybridPaths {
    Both,
    AttentionOnly,
    ConvOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over frames (seed).
    #[default]
    Mean,
    Max,
    /// Learned attention weights over frames.
    Attention,
}

impl TemporalConfig {
    /// Phase 2 encoder for `d`-wide features of clips of `frames` frames.
    pub fn init<B: Backend>(
        &self,
        d: usize,
        frames: usize,
        pooling: Pooling,
        device: &B::Device,
    ) -> TemporalEncoder<B> {
        let positions = self.positions.map_or(frames, |p| p as usize);
        let pos = trunc_normal([1, positions, d], 0.02, device);
        let global = (0..self.layers)
            .map(|_| {
                PreNormLayer::new(d, self.heads as usize, self.ffn as usize, self.dropout, device)
            })
            .collect();
        TemporalEncoder::new(pos, global, Vec::new(), d, pooling, device)
    }
}

impl HybridTemporalConfig {
    /// Phase 3 encoder for `d`-wide features of clips of `frames` frames.
    pub fn init<B: Backend>(
        &self,
        d: usize,
        frames: usize,
        pooling: Pooling,
        device: &B::Device,
    ) -> TemporalEncoder<B> {
        let positions = self.positions.map_or(frames, |p| p as usize);
        let pos = trunc_normal([1, positions, d], 0.02, device);
        let hybrid = (0..self.layers).map(|_| HybridLayer::new(self, d, device)).collect();
        TemporalEncoder::new(pos, Vec::new(), hybrid, d, pooling, device)
    }
}

/// `[B, T, d]` → `[B, d]`. Exactly one of `global` / `hybrid` holds layers.
#[derive(Module, Debug)]
pub struct TemporalEncoder<B: Backend> {
    /// `[1, positions, d]`, sliced to the first T.
    pub pos: Param<Tensor<B, 3>>,
    pub global: Vec<PreNormLayer<B>>,
    pub hybrid: Vec<HybridLayer<B>>,
    pub norm: LayerNorm<B>,
    pub pool: FramePool<B>,
}

impl<B: Backend> TemporalEncoder<B> {
    fn new(
        pos: Param<Tensor<B, 3>>,
        global: Vec<PreNormLayer<B>>,
        hybrid: Vec<HybridLayer<B>>,
        d: usize,
        pooling: Pooling,
        device: &B::Device,
    ) -> Self {
        Self {
            pos,
            global,
            hybrid,
            norm: ops::layer_norm_config(d).init(device),
            pool: FramePool::new(pooling, d, device),
        }
    }

    /// Clips longer than the embedding are rejected before training (`ModelConfig::check`);
    /// here they panic.
    pub fn forward(&self, features: Tensor<B, 3>) -> Tensor<B, 2> {
        let [_, t, d] = features.dims();
        let mut x = features + self.pos.val().slice([0..1, 0..t, 0..d]);
        for layer in &self.global {
            x = layer.forward(x);
        }
        for layer in &self.hybrid {
            x = layer.forward(x);
        }
        self.pool.forward(ops::layer_norm(&self.norm, x))
    }
}

/// PyTorch `nn.TransformerEncoderLayer(d, heads, ffn, dropout, norm_first=True)` (ReLU):
/// `x + Drop(MHSA(LN1(x)))`, then `x + Drop(W2 Drop(ReLU(W1 LN2(x))))`. `[B, T, d]` → same.
#[derive(Module, Debug)]
pub struct PreNormLayer<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: SelfAttention<B>,
    pub norm2: LayerNorm<B>,
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    pub dropout: Dropout,
}

impl<B: Backend> PreNormLayer<B> {
    fn new(d: usize, heads: usize, ffn: usize, dropout: f64, device: &B::Device) -> Self {
        Self {
            norm1: ops::layer_norm_config(d).init(device),
            attn: SelfAttention::new(d, heads, dropout, device),
            norm2: ops::layer_norm_config(d).init(device),
            linear1: LinearConfig::new(d, ffn).init(device),
            linear2: LinearConfig::new(ffn, d).init(device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = ops::layer_norm(&self.norm1, x.clone());
        let x = x + random::dropout(&self.dropout, self.attn.forward(h));
        let h = relu(ops::linear(&self.linear1, ops::layer_norm(&self.norm2, x.clone())));
        let h = ops::linear(&self.linear2, random::dropout(&self.dropout, h));
        x + random::dropout(&self.dropout, h)
    }
}

/// The seed's hybrid layer, `[B, T, d]` → same:
/// `x + MHSA(LN1(x)) + DWConv(x)`, then `x + FFN(LN2(x))`, with
/// `DWConv(x) = Conv1d_depthwise(BN(GELU(x)))` over time ('same' padding) and
/// `FFN = Linear GELU Dropout Linear Dropout`. `paths` drops the attention or the conv path.
#[derive(Module, Debug)]
pub struct HybridLayer<B: Backend> {
    pub norm1: Option<LayerNorm<B>>,
    pub attn: Option<SelfAttention<B>>,
    pub dw: Option<DwConv<B>>,
    pub norm2: LayerNorm<B>,
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    pub dropout: Dropout,
}

impl<B: Backend> HybridLayer<B> {
    fn new(c: &HybridTemporalConfig, d: usize, device: &B::Device) -> Self {
        let attention = c.paths != HybridPaths::ConvOnly;
        let conv = c.paths != HybridPaths::AttentionOnly;
        let k = c.dwconv_kernel as usize;
        Self {
            norm1: attention.then(|| ops::layer_norm_config(d).init(device)),
            attn: attention.then(|| SelfAttention::new(d, c.heads as usize, c.dropout, device)),
            dw: conv.then(|| DwConv {
                bn: BatchNormConfig::new(d).init(device),
                conv: Conv1dConfig::new(d, d, k)
                    .with_groups(d)
                    .with_padding(PaddingConfig1d::Explicit((k - 1) / 2, (k - 1) / 2))
                    .init(device),
            }),
            norm2: ops::layer_norm_config(d).init(device),
            linear1: LinearConfig::new(d, c.ffn as usize).init(device),
            linear2: LinearConfig::new(c.ffn as usize, d).init(device),
            dropout: DropoutConfig::new(c.dropout).init(),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let mut y = x.clone();
        if let (Some(norm1), Some(attn)) = (&self.norm1, &self.attn) {
            y = y + attn.forward(ops::layer_norm(norm1, x.clone()));
        }
        if let Some(dw) = &self.dw {
            y = y + dw.forward(x);
        }
        let h = ops::gelu(ops::linear(&self.linear1, ops::layer_norm(&self.norm2, y.clone())));
        let h = ops::linear(&self.linear2, random::dropout(&self.dropout, h));
        y + random::dropout(&self.dropout, h)
    }
}

/// `Conv1d_depthwise(BN(GELU(x)))` over time: `[B, T, d]` → `[B, T, d]`.
#[derive(Module, Debug)]
pub struct DwConv<B: Backend> {
    pub bn: BatchNorm<B>,
    pub conv: Conv1d<B>,
}

impl<B: Backend> DwConv<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = ops::gelu(x).swap_dims(1, 2);
        ops::conv1d(&self.conv, ops::batch_norm(&self.bn, x)).swap_dims(1, 2)
    }
}

/// Pooling over frames, `[B, T, d]` → `[B, d]`: mean, max, or a softmax over a learned
/// per-frame score (`score`: Linear(d, 1), present only for attention pooling).
#[derive(Module, Debug)]
pub struct FramePool<B: Backend> {
    pub score: Option<Linear<B>>,
    max: bool,
}

impl<B: Backend> FramePool<B> {
    fn new(pooling: Pooling, d: usize, device: &B::Device) -> Self {
        Self {
            score: (pooling == Pooling::Attention).then(|| LinearConfig::new(d, 1).init(device)),
            max: pooling == Pooling::Max,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, _, d] = x.dims();
        let pooled = match &self.score {
            Some(score) => (softmax(ops::linear(score, x.clone()), 1) * x).sum_dim(1),
            None if self.max => x.max_dim(1),
            None => x.mean_dim(1),
        };
        pooled.reshape([b, d])
    }
}
