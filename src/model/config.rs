//! The `model` section, tagged by `kind`: one variant per phase of the results table.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
}

impl ModelConfig {
    /// Width of the per-frame features the temporal part works on.
    pub fn feature_dim(&self) -> u32 {
        match self {
            ModelConfig::CnnLstm(c) => c.backbone.num_features(),
            ModelConfig::SwinGlobal(c) => c.backbone.num_features(),
            ModelConfig::SwinHybrid(c) => c.backbone.num_features(),
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

/// ResNet backbone in torchvision/timm layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResNetConfig {
    /// 18 or 34 layers (basic blocks).
    pub depth: ResNetDepth,
    /// Channels of the stem and the first stage; the later stages double it (torchvision:
    /// 64, so 512 features). Narrower nets are for CPU demos; pretrained weights need 64.
    #[serde(default = "default_resnet_width")]
    #[schemars(range(min = 4, max = 256))]
    pub width: u32,
}

fn default_resnet_width() -> u32 {
    64
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self { depth: ResNetDepth::R18, width: default_resnet_width() }
    }
}

impl ResNetConfig {
    pub fn num_features(&self) -> u32 {
        8 * self.width
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ResNetDepth {
    #[serde(rename = "18")]
    R18,
    #[serde(rename = "34")]
    R34,
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

/// Swin Transformer V1 backbone (timm `swin_*_patch4_window7_224`). `preset` fills every
/// dimension not given explicitly; the resolved config always lists them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SwinConfig {
    pub preset: SwinPreset,
    /// Channels of the first stage (doubled by each patch merging).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 1024))]
    pub embed_dim: Option<u32>,
    /// Blocks per stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 6), inner(range(min = 1, max = 64)))]
    pub depths: Option<Vec<u32>>,
    /// Attention heads per stage; each must divide its stage's width.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 6), inner(range(min = 1, max = 128)))]
    pub heads: Option<Vec<u32>>,
    /// Attention window (in patches).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub window: Option<u32>,
    /// Patch size of the stem (a stride-`patch` convolution).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub patch: Option<u32>,
    /// MLP hidden width as a multiple of the block width.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.25, max = 16.0))]
    pub mlp_ratio: Option<f64>,
    /// Stochastic depth rate, increasing linearly to this value over the blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub drop_path: Option<f64>,
}

impl Default for SwinConfig {
    /// The base preset, dimensions left to `resolve` (so a file giving only `preset`
    /// gets that preset's dimensions, not the default's).
    fn default() -> Self {
        Self {
            preset: SwinPreset::Base,
            embed_dim: None,
            depths: None,
            heads: None,
            window: None,
            patch: None,
            mlp_ratio: None,
            drop_path: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SwinPreset {
    /// A small Swin for CPU demos (embed 32, depths 1-1-2-1).
    Micro,
    Tiny,
    Small,
    Base,
}

impl SwinConfig {
    pub fn from_preset(preset: SwinPreset) -> Self {
        let (embed_dim, depths, heads, drop_path): (u32, &[u32], &[u32], f64) = match preset {
            SwinPreset::Micro => (32, &[1, 1, 2, 1], &[1, 2, 4, 8], 0.0),
            SwinPreset::Tiny => (96, &[2, 2, 6, 2], &[3, 6, 12, 24], 0.2),
            SwinPreset::Small => (96, &[2, 2, 18, 2], &[3, 6, 12, 24], 0.3),
            SwinPreset::Base => (128, &[2, 2, 18, 2], &[4, 8, 16, 32], 0.5),
        };
        Self {
            preset,
            embed_dim: Some(embed_dim),
            depths: Some(depths.to_vec()),
            heads: Some(heads.to_vec()),
            window: Some(7),
            patch: Some(4),
            mlp_ratio: Some(4.0),
            drop_path: Some(drop_path),
        }
    }

    /// Fills every dimension not given explicitly from the preset.
    pub fn resolve(&mut self) {
        let p = Self::from_preset(self.preset);
        self.embed_dim = self.embed_dim.or(p.embed_dim);
        self.depths = self.depths.take().or(p.depths);
        self.heads = self.heads.take().or(p.heads);
        self.window = self.window.or(p.window);
        self.patch = self.patch.or(p.patch);
        self.mlp_ratio = self.mlp_ratio.or(p.mlp_ratio);
        self.drop_path = self.drop_path.or(p.drop_path);
    }

    /// Width of the last stage: `embed_dim · 2^(stages-1)`.
    pub fn num_features(&self) -> u32 {
        let p = Self::from_preset(self.preset);
        let embed = self.embed_dim.or(p.embed_dim).unwrap_or(0);
        let stages = self.depths.as_ref().or(p.depths.as_ref()).map_or(1, Vec::len);
        embed << (stages.saturating_sub(1))
    }
}

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

/// Classification head: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    #[schemars(range(min = 1, max = 65536))]
    pub hidden: u32,
    #[schemars(range(min = 0.0, max = 0.95))]
    pub dropout: f64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self { hidden: 512, dropout: 0.4 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freeze {
    /// Backbone frozen except its last stage and final norm (seed).
    #[default]
    AllButLastStage,
    /// Everything trains.
    None,
    /// The whole backbone is frozen; temporal part and head train.
    Backbone,
}

impl Freeze {
    fn none() -> Self {
        Freeze::None
    }
}
