//! Swin Transformer V1 backbone in timm's `swin_*_patch4_window7_224` layout (timm ≥ 1.0:
//! NHWC stages, a stage's patch merging at its start). Parameter names follow timm's state
//! dict so that its safetensors files load without renaming.
//!
//! Small inputs behave as in timm 1.0.31: stage sides are ceil-halved (patch merging pads odd
//! sizes); a stage not larger than the window uses a window of its own side and no shift;
//! window attention pads the feature map up to a multiple of the window.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::ops::PadMode;
use burn::tensor::{Int, TensorData};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::init::{linear, trunc_normal};
use super::random;
use crate::ops::{self, Backend};

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

/// Every Swin dimension, resolved from the preset and the explicit fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SwinDims {
    pub embed_dim: usize,
    pub depths: Vec<usize>,
    pub heads: Vec<usize>,
    pub window: usize,
    pub patch: usize,
    pub mlp_ratio: f64,
    pub drop_path: f64,
}

/// Why a Swin configuration cannot run at an image size; `field` names the `backbone` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SwinGeometryError {
    pub field: &'static str,
    pub message: String,
}

/// One stage at a given image size, as timm lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagePlan {
    /// Channels of the stage's blocks.
    pub dim: usize,
    pub heads: usize,
    pub depth: usize,
    /// Side of the (square) feature map the blocks see.
    pub res: usize,
    /// Attention window side after timm's clamping.
    pub window: usize,
    /// Cyclic shift of the odd blocks (0: no shifted windows in this stage).
    pub shift: usize,
}

impl SwinConfig {
    /// The dimensions with the preset filling whatever is not given.
    pub fn dims(&self) -> SwinDims {
        let mut c = self.clone();
        c.resolve();
        let to_usize =
            |v: Option<Vec<u32>>| v.unwrap_or_default().into_iter().map(|x| x as usize).collect();
        SwinDims {
            embed_dim: c.embed_dim.unwrap_or_default() as usize,
            depths: to_usize(c.depths),
            heads: to_usize(c.heads),
            window: c.window.unwrap_or_default() as usize,
            patch: c.patch.unwrap_or_default() as usize,
            mlp_ratio: c.mlp_ratio.unwrap_or_default(),
            drop_path: c.drop_path.unwrap_or_default(),
        }
    }

    /// The stages at image size `img` (square), or why timm would not run this model on it.
    pub fn stages(&self, img: usize) -> Result<Vec<StagePlan>, SwinGeometryError> {
        self.dims().stages(img)
    }

    /// Builds the backbone for `img`×`img` inputs.
    ///
    /// Panics when [`SwinConfig::stages`] rejects the size (check it first).
    pub fn init<B: Backend>(&self, img: usize, device: &B::Device) -> Swin<B> {
        let dims = self.dims();
        let plans = match dims.stages(img) {
            Ok(p) => p,
            Err(e) => panic!("invalid Swin configuration: {e}"),
        };
        let total: usize = dims.depths.iter().sum();
        let rate = |k: usize| {
            if total > 1 { dims.drop_path * k as f64 / (total - 1) as f64 } else { 0.0 }
        };
        let patch_embed = PatchEmbed {
            proj: Conv2dConfig::new([3, dims.embed_dim], [dims.patch, dims.patch])
                .with_stride([dims.patch, dims.patch])
                .init(device),
            norm: ops::layer_norm_config(dims.embed_dim).init(device),
        };
        let mut layers = Vec::with_capacity(plans.len());
        let mut block_index = 0;
        let mut prev_dim = dims.embed_dim;
        for (i, plan) in plans.iter().enumerate() {
            let downsample = (i > 0).then(|| PatchMerging {
                norm: ops::layer_norm_config(4 * prev_dim).init(device),
                reduction: linear(4 * prev_dim, plan.dim, false, device),
            });
            let blocks = (0..plan.depth)
                .map(|j| {
                    let shift = if j % 2 == 1 { plan.shift } else { 0 };
                    let block =
                        SwinBlock::new(plan, shift, dims.mlp_ratio, rate(block_index), device);
                    block_index += 1;
                    block
                })
                .collect();
            layers.push(SwinStage { downsample, blocks });
            prev_dim = plan.dim;
        }
        Swin {
            patch_embed,
            layers,
            norm: ops::layer_norm_config(prev_dim).init(device),
            num_features: prev_dim,
        }
    }
}

impl SwinDims {
    /// See [`SwinConfig::stages`].
    pub fn stages(&self, img: usize) -> Result<Vec<StagePlan>, SwinGeometryError> {
        let fail = |field: &'static str, message: String| -> Result<Vec<StagePlan>, _> {
            Err(SwinGeometryError { field, message })
        };
        if self.depths.is_empty() || self.depths.len() != self.heads.len() {
            let message = format!(
                "depths ({}) and heads ({}) must list the same, non-zero number of stages",
                self.depths.len(),
                self.heads.len()
            );
            return fail("heads", message);
        }
        if self.window == 0 {
            return fail("window", "the window must be at least 1".into());
        }
        if self.patch == 0 || img < self.patch || !img.is_multiple_of(self.patch) {
            let message = format!(
                "image size {img} (data.resize) is not a positive multiple of the patch size {}",
                self.patch
            );
            return fail("patch", message);
        }
        let grid = img / self.patch;
        let mut plans = Vec::with_capacity(self.depths.len());
        let mut res = grid;
        for (i, (&depth, &heads)) in self.depths.iter().zip(&self.heads).enumerate() {
            let dim = self.embed_dim << i;
            if heads == 0 || !dim.is_multiple_of(heads) {
                return fail(
                    "heads",
                    format!("stage {i}: {heads} heads do not divide its width {dim}"),
                );
            }
            if i > 0 {
                res = res.div_ceil(2);
            }
            let window = self.window.min(res);
            let shift = if res <= self.window { 0 } else { self.window / 2 };
            plans.push(StagePlan { dim, heads, depth, res, window, shift });
        }
        Ok(plans)
    }
}

/// `[B, 3, H, W]` → `[B, num_features]`: per-image features after the final norm and average
/// pooling (timm `forward_features` + `forward_head(pre_logits=True)` with `num_classes=0`).
#[derive(Module, Debug)]
pub struct Swin<B: Backend> {
    pub patch_embed: PatchEmbed<B>,
    pub layers: Vec<SwinStage<B>>,
    pub norm: LayerNorm<B>,
    pub num_features: usize,
}

impl<B: Backend> Swin<B> {
    /// `[B, 3, H, W]` → `[B, num_features]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut x = self.patch_embed.forward(images);
        for stage in &self.layers {
            x = stage.forward(x);
        }
        let x = ops::layer_norm(&self.norm, x);
        let [b, h, w, c] = x.dims();
        x.reshape([b, h * w, c]).mean_dim(1).reshape([b, c])
    }
}

/// Stride-`patch` convolution then LayerNorm: `[B, 3, H, W]` → `[B, H/p, W/p, C]`.
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    pub proj: Conv2d<B>,
    pub norm: LayerNorm<B>,
}

impl<B: Backend> PatchEmbed<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        ops::layer_norm(&self.norm, ops::conv2d(&self.proj, images).permute([0, 2, 3, 1]))
    }
}

/// Patch merging (if not the first stage) then the blocks: `[B, H, W, C]` → `[B, H', W', C']`.
#[derive(Module, Debug)]
pub struct SwinStage<B: Backend> {
    pub downsample: Option<PatchMerging<B>>,
    pub blocks: Vec<SwinBlock<B>>,
}

impl<B: Backend> SwinStage<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = match &self.downsample {
            Some(merge) => merge.forward(x),
            None => x,
        };
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }
}

/// 2×2 neighbourhoods concatenated (timm's channel order), LayerNorm, linear reduction:
/// `[B, H, W, C]` → `[B, ⌈H/2⌉, ⌈W/2⌉, C']`.
#[derive(Module, Debug)]
pub struct PatchMerging<B: Backend> {
    pub norm: LayerNorm<B>,
    pub reduction: Linear<B>,
}

impl<B: Backend> PatchMerging<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, h, w, _] = x.dims();
        let x = if h % 2 == 1 || w % 2 == 1 {
            x.pad([(0, h % 2), (0, w % 2), (0, 0)], PadMode::Constant(0.0))
        } else {
            x
        };
        let [b, h, w, c] = x.dims();
        let rows = rows(merge_order(b, h, w), &x.device());
        let x = x.reshape([b * h * w, c]).select(0, rows).reshape([b, h / 2, w / 2, 4 * c]);
        ops::linear(&self.reduction, ops::layer_norm(&self.norm, x))
    }
}

/// The rows of a `[b, h, w]` map (h, w even) in patch merging's order: for each 2×2
/// neighbourhood, (0, 0), (1, 0), (0, 1), (1, 1) (timm's `x0, x1, x2, x3`), so that the gathered
/// `[b·h·w, c]` rows read as `[b, h/2, w/2, 4·c]`. One gather of whole rows: as a 6-D permute
/// it was a strided, element-by-element copy on the CPU, forward and backward.
fn merge_order(b: usize, h: usize, w: usize) -> Vec<i64> {
    let mut order = Vec::with_capacity(b * h * w);
    for i in 0..b {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                for (dy, dx) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    order.push(((i * h + y + dy) * w + x + dx) as i64);
                }
            }
        }
    }
    order
}

/// `x + DropPath(W-MSA(LN(x)))`, then `x + DropPath(MLP(LN(x)))` on `[B, H, W, C]`.
#[derive(Module, Debug)]
pub struct SwinBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: WindowAttention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp: Mlp<B>,
    /// `[windows, N, N]`, 0 or -100 (timm's value); present only when the block shifts.
    attn_mask: Option<Tensor<B, 3>>,
    window: usize,
    shift: usize,
    drop_path: f64,
}

impl<B: Backend> SwinBlock<B> {
    fn new(
        plan: &StagePlan,
        shift: usize,
        mlp_ratio: f64,
        drop_path: f64,
        device: &B::Device,
    ) -> Self {
        let hidden = (plan.dim as f64 * mlp_ratio) as usize;
        Self {
            norm1: ops::layer_norm_config(plan.dim).init(device),
            attn: WindowAttention::new(plan.dim, plan.heads, plan.window, device),
            norm2: ops::layer_norm_config(plan.dim).init(device),
            mlp: Mlp {
                fc1: linear(plan.dim, hidden, true, device),
                fc2: linear(hidden, plan.dim, true, device),
            },
            attn_mask: (shift > 0).then(|| shift_mask(plan.res, plan.window, shift, device)),
            window: plan.window,
            shift,
            drop_path,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let attended = self.windowed_attention(ops::layer_norm(&self.norm1, x.clone()));
        let x = x + random::drop_path(attended, self.drop_path);
        let mlp = self.mlp.forward(ops::layer_norm(&self.norm2, x.clone()));
        x + random::drop_path(mlp, self.drop_path)
    }

    /// Shift, pad to whole windows, attend within windows, undo all three. The shift and the
    /// partition into windows are one gather of rows, and so is their inverse: as a roll and a
    /// permutation, each would be a strided, element-by-element copy of the whole map on the
    /// CPU, forward and backward.
    fn windowed_attention(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, w, c] = x.dims();
        let ws = self.window;
        let (pad_h, pad_w) = ((ws - h % ws) % ws, (ws - w % ws) % ws);
        let x = if pad_h + pad_w > 0 {
            x.pad([(0, pad_h), (0, pad_w), (0, 0)], PadMode::Constant(0.0))
        } else {
            x
        };
        let (hp, wp) = (h + pad_h, w + pad_w);
        let (partition, reverse) = window_order(b, h, w, ws, self.shift);
        let device = x.device();
        let windows = x.reshape([b * hp * wp, c]).select(0, rows(partition, &device)).reshape([
            b * (hp / ws) * (wp / ws),
            ws * ws,
            c,
        ]);
        let attended = self.attn.forward(windows, self.attn_mask.clone());
        attended.reshape([b * hp * wp, c]).select(0, rows(reverse, &device)).reshape([b, h, w, c])
    }
}

/// A row order as the index tensor of a `select`.
fn rows<B: Backend>(order: Vec<i64>, device: &B::Device) -> Tensor<B, 1, Int> {
    let len = order.len();
    Tensor::from_data(TensorData::new(order, [len]), device)
}

/// Row orders between a `[b, h, w]` map and its shifted windows (timm: roll by −`shift`, zero
/// padding to whole `ws`×`ws` windows, windows of an image consecutive, tokens row by row).
/// `partition[t]`: the row of the padded `[b, hp, wp]` map that window token `t` reads;
/// `reverse[r]`: the token that row `r` of the unpadded `[b, h, w]` map comes back from.
fn window_order(b: usize, h: usize, w: usize, ws: usize, shift: usize) -> (Vec<i64>, Vec<i64>) {
    let (hp, wp) = (h.div_ceil(ws) * ws, w.div_ceil(ws) * ws);
    let token = |i: usize, y: usize, x: usize| {
        ((((i * (hp / ws) + y / ws) * (wp / ws) + x / ws) * ws + y % ws) * ws + x % ws) as i64
    };
    let mut partition = vec![0; b * hp * wp];
    let mut reverse = Vec::with_capacity(b * h * w);
    for i in 0..b {
        for y in 0..hp {
            for x in 0..wp {
                // Burn's `roll(k)` moves elements towards lower indices (it is `torch.roll(-k)`).
                let (sy, sx) =
                    if y < h && x < w { ((y + shift) % h, (x + shift) % w) } else { (y, x) };
                partition[token(i, y, x) as usize] = ((i * hp + sy) * wp + sx) as i64;
            }
        }
        for y in 0..h {
            for x in 0..w {
                reverse.push(token(i, (y + h - shift % h) % h, (x + w - shift % w) % w));
            }
        }
    }
    (partition, reverse)
}

/// timm's shifted-window mask for a `res`×`res` map padded to whole windows: tokens from
/// different regions of the rolled map get -100 so they cannot attend to each other.
fn shift_mask<B: Backend>(res: usize, ws: usize, shift: usize, device: &B::Device) -> Tensor<B, 3> {
    let padded = res.div_ceil(ws) * ws;
    let region = |i: usize| {
        if i < padded - ws {
            0
        } else if i < padded - shift {
            1
        } else {
            2
        }
    };
    let per_side = padded / ws;
    let n = ws * ws;
    let mut mask = Vec::with_capacity(per_side * per_side * n * n);
    for wy in 0..per_side {
        for wx in 0..per_side {
            let ids: Vec<usize> =
                (0..n).map(|t| region(wy * ws + t / ws) * 3 + region(wx * ws + t % ws)).collect();
            for &a in &ids {
                for &b in &ids {
                    mask.push(if a == b { 0.0f32 } else { -100.0 });
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(mask, [per_side * per_side, n, n]), device)
}

/// Multi-head self-attention inside windows with a learned relative-position bias:
/// `[windows·B, N, C]` → `[windows·B, N, C]` (N = window²).
#[derive(Module, Debug)]
pub struct WindowAttention<B: Backend> {
    pub qkv: Linear<B>,
    pub proj: Linear<B>,
    /// `[(2w-1)², heads]`.
    pub relative_position_bias_table: Param<Tensor<B, 2>>,
    /// `[N·N]` rows of the table for each (query, key) pair.
    relative_position_index: Tensor<B, 1, Int>,
    heads: usize,
}

impl<B: Backend> WindowAttention<B> {
    fn new(dim: usize, heads: usize, window: usize, device: &B::Device) -> Self {
        let side = 2 * window - 1;
        let n = window * window;
        let mut index = Vec::with_capacity(n * n);
        for a in 0..n {
            for b in 0..n {
                let dy = (a / window) as i64 - (b / window) as i64 + window as i64 - 1;
                let dx = (a % window) as i64 - (b % window) as i64 + window as i64 - 1;
                index.push(dy * side as i64 + dx);
            }
        }
        Self {
            qkv: linear(dim, 3 * dim, true, device),
            proj: linear(dim, dim, true, device),
            relative_position_bias_table: trunc_normal([side * side, heads], 0.02, device),
            relative_position_index: Tensor::from_data(TensorData::new(index, [n * n]), device),
            heads,
        }
    }

    /// `mask`: `[windows, N, N]` additive, windows of one image consecutive in the batch.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 3>>) -> Tensor<B, 3> {
        let n = x.dims()[1];
        let bias = self
            .relative_position_bias_table
            .val()
            .select(0, self.relative_position_index.clone())
            .reshape([n, n, self.heads])
            .permute([2, 0, 1]);
        let out = ops::window_attention(ops::linear(&self.qkv, x), self.heads, bias, mask);
        ops::linear(&self.proj, out)
    }
}

/// Linear → GELU → Linear (timm `Mlp`, dropout 0).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        ops::linear(&self.fc2, ops::gelu(ops::linear(&self.fc1, x)))
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use burn::tensor::ops::PadMode;

    /// The gathers are exactly timm's roll, pad and window partition, and back: with and
    /// without a shift, with and without padding.
    #[test]
    fn window_order_is_roll_pad_partition_and_back() {
        let device = Default::default();
        for (h, w, ws, shift) in
            [(8usize, 8usize, 4usize, 2usize), (8, 8, 4, 0), (10, 7, 4, 2), (7, 7, 7, 3)]
        {
            let (b, c) = (2, 3);
            let x = Tensor::<Flex, 4>::random([b, h, w, c], Distribution::Default, &device);
            let (hp, wp) = (h.div_ceil(ws) * ws, w.div_ceil(ws) * ws);
            let s = shift as i64;
            let rolled = if s > 0 { x.clone().roll(&[s, s], &[1, 2]) } else { x.clone() };
            let padded = rolled.pad([(0, hp - h), (0, wp - w), (0, 0)], PadMode::Constant(0.0));
            let want = padded
                .reshape([b, hp / ws, ws, wp / ws, ws, c])
                .permute([0, 1, 3, 2, 4, 5])
                .reshape([b * hp * wp, c]);
            let (partition, reverse) = super::window_order(b, h, w, ws, shift);
            let rows = |order: Vec<i64>| super::rows::<Flex>(order, &device);
            let x_padded =
                x.clone().pad([(0, hp - h), (0, wp - w), (0, 0)], PadMode::Constant(0.0));
            let windows = x_padded.reshape([b * hp * wp, c]).select(0, rows(partition));
            assert_eq!(
                windows.to_data(),
                want.to_data(),
                "partition {h}×{w}, window {ws}, shift {shift}"
            );
            let back = windows.select(0, rows(reverse)).reshape([b, h, w, c]);
            assert_eq!(
                back.into_data(),
                x.into_data(),
                "reverse {h}×{w}, window {ws}, shift {shift}"
            );
        }
    }

    /// The merge gather is timm's concatenation of the four strided sub-maps.
    #[test]
    fn merge_order_is_timms_concatenation() {
        let device = Default::default();
        let (b, h, w, c) = (2, 6, 4, 3);
        let x = Tensor::<Flex, 4>::random([b, h, w, c], Distribution::Default, &device);
        let every_other = |from: usize, to: usize| {
            super::rows::<Flex>((from..to).step_by(2).map(|i| i as i64).collect(), &device)
        };
        let sub = |dy: usize, dx: usize| {
            x.clone().select(1, every_other(dy, h)).select(2, every_other(dx, w))
        };
        let want = Tensor::cat(vec![sub(0, 0), sub(1, 0), sub(0, 1), sub(1, 1)], 3);
        let got = x
            .clone()
            .reshape([b * h * w, c])
            .select(0, super::rows(super::merge_order(b, h, w), &device))
            .reshape([b, h / 2, w / 2, 4 * c]);
        assert_eq!(got.into_data(), want.into_data());
    }
}
