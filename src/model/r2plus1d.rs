//! R(2+1)D-18 (torchvision's `r2plus1d_18`, Tran et al. 2018): a ResNet-18 of video blocks
//! whose 3×3×3 convolutions are factored into a spatial `(1, 3, 3)` convolution to `mid`
//! channels, BatchNorm, ReLU and a temporal `(3, 1, 1)` one, `mid` chosen so that the pair has
//! as many parameters as the full kernel. Clips → global average over time and space → the
//! project's head. Parameter names follow torchvision's state dict, its `nn.Sequential`
//! indices renamed (see [`super::weights`]).
//!
//! The convolutions run as 2-D ones over exact reshapes ([`crate::ops::conv3d`]); BatchNorm3d
//! is BatchNorm over `[B, C, T, H·W]` (the same statistics per channel).

use std::path::PathBuf;

use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig3d};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::freeze::{Freeze, count_params};
use super::head::{Head, HeadConfig};
use crate::ops::{self, Backend};

/// `kind = "r2plus1d"`: R(2+1)D-18 over the whole clip → head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct R2plus1dConfig {
    /// Channels of the stem's output and the first stage; the later stages double it
    /// (torchvision: 64, so 512 features; the stem's spatial convolution has 45·width/64).
    /// Narrower nets are for CPU demos; pretrained weights need 64.
    #[serde(default = "default_width")]
    #[schemars(range(min = 4, max = 256))]
    pub width: u32,
    #[serde(default)]
    pub head: HeadConfig,
    /// Which parameters train; the rest get no gradients and no optimizer state.
    #[serde(default = "Freeze::none")]
    pub freeze: Freeze,
    /// Local safetensors file with torchvision `r2plus1d_18` weights (never downloaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

fn default_width() -> u32 {
    64
}

impl Default for R2plus1dConfig {
    fn default() -> Self {
        Self {
            width: default_width(),
            head: HeadConfig::default(),
            freeze: Freeze::None,
            pretrained: None,
        }
    }
}

impl R2plus1dConfig {
    pub fn num_features(&self) -> u32 {
        8 * self.width
    }

    /// Stem and stage widths: torchvision's 45, 64-128-256-512 at width 64.
    pub fn widths(&self) -> (usize, [usize; 4]) {
        let w = self.width as usize;
        ((45 * w / 64).max(1), [w, 2 * w, 4 * w, 8 * w])
    }

    /// The classifier with fresh weights (torchvision's init for the backbone).
    pub fn init<B: Backend>(&self, device: &B::Device) -> R2plus1d<B> {
        let backbone = self.init_backbone(device);
        R2plus1d { head: self.head.init(backbone.num_features, device), backbone }
    }

    pub fn init_backbone<B: Backend>(&self, device: &B::Device) -> VideoResNet<B> {
        let (stem, widths) = self.widths();
        let mut c_in = widths[0];
        let mut stage = |i: usize| -> Vec<VideoBlock<B>> {
            (0..2)
                .map(|j| {
                    let stride = if i > 0 && j == 0 { 2 } else { 1 };
                    let block = VideoBlock::new(c_in, widths[i], stride, device);
                    c_in = widths[i];
                    block
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        VideoResNet {
            stem: Stem {
                spatial: conv(3, stem, [1, 7, 7], [1, 2, 2], device),
                bn_spatial: BatchNormConfig::new(stem).init(device),
                temporal: conv(stem, widths[0], [3, 1, 1], [1, 1, 1], device),
                bn: BatchNormConfig::new(widths[0]).init(device),
            },
            layer1,
            layer2,
            layer3,
            layer4,
            num_features: widths[3],
        }
    }
}

/// Middle width of a block's factored convolutions (both use the block's own):
/// `⌊c_in·c_out·27 / (9·c_in + 3·c_out)⌋`.
pub fn midplanes(c_in: usize, c_out: usize) -> usize {
    c_in * c_out * 27 / (9 * c_in + 3 * c_out)
}

/// Bias-free, kernel padded to keep the size at stride 1, Kaiming-normal fan-out (torchvision).
fn conv<B: Backend>(
    c_in: usize,
    c_out: usize,
    kernel: [usize; 3],
    stride: [usize; 3],
    device: &B::Device,
) -> Conv3d<B> {
    let [kt, kh, kw] = kernel;
    Conv3dConfig::new([c_in, c_out], kernel)
        .with_stride(stride)
        .with_padding(PaddingConfig3d::Explicit(kt / 2, kh / 2, kw / 2))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal { gain: 2f64.sqrt(), fan_out_only: true })
        .init(device)
}

/// BatchNorm (and ReLU, and a residual added before it) on `[B, C, T, H, W]`.
fn bn<B: Backend>(
    bn: &BatchNorm<B>,
    x: Tensor<B, 5>,
    relu: bool,
    residual: Option<Tensor<B, 5>>,
) -> Tensor<B, 5> {
    let dims = x.dims();
    let [b, c, t, h, w] = dims;
    let flat = |x: Tensor<B, 5>| x.reshape([b, c, t, h * w]);
    let x = flat(x);
    let y =
        if relu { ops::batch_norm_relu(bn, x, residual.map(flat)) } else { ops::batch_norm(bn, x) };
    y.reshape(dims)
}

/// Whole clip → head: `[B, T, 3, H, W]` (the clips' layout) → logits `[B, 2]`.
#[derive(Module, Debug)]
pub struct R2plus1d<B: Backend> {
    pub backbone: VideoResNet<B>,
    pub head: Head<B>,
}

impl<B: Backend> R2plus1d<B> {
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        self.head.forward(self.backbone.forward(clips.permute([0, 2, 1, 3, 4])))
    }
}

/// `[B, 3, T, H, W]` (torchvision's layout) → `[B, num_features]`: stem (T, H/2, W/2), four
/// stages (the last three halve T, H and W, rounding up), mean over time and space.
#[derive(Module, Debug)]
pub struct VideoResNet<B: Backend> {
    pub stem: Stem<B>,
    pub layer1: Vec<VideoBlock<B>>,
    pub layer2: Vec<VideoBlock<B>>,
    pub layer3: Vec<VideoBlock<B>>,
    pub layer4: Vec<VideoBlock<B>>,
    pub num_features: usize,
}

impl<B: Backend> VideoResNet<B> {
    pub fn forward(&self, clips: Tensor<B, 5>) -> Tensor<B, 2> {
        let mut x = self.stem.forward(clips);
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4)
        {
            x = block.forward(x);
        }
        let [b, c, t, h, w] = x.dims();
        x.reshape([b, c, t * h * w]).mean_dim(2).reshape([b, c])
    }
}

/// torchvision's `R2Plus1dStem`: `(1, 7, 7)` stride `(1, 2, 2)` to 45·width/64 channels,
/// BN, ReLU, `(3, 1, 1)` to `width`, BN, ReLU.
#[derive(Module, Debug)]
pub struct Stem<B: Backend> {
    pub spatial: Conv3d<B>,
    pub bn_spatial: BatchNorm<B>,
    pub temporal: Conv3d<B>,
    pub bn: BatchNorm<B>,
}

impl<B: Backend> Stem<B> {
    /// `[B, 3, T, H, W]` → `[B, width, T, ⌈H/2⌉, ⌈W/2⌉]`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let x = bn(&self.bn_spatial, ops::conv3d(&self.spatial, x), true, None);
        bn(&self.bn, ops::conv3d(&self.temporal, x), true, None)
    }
}

/// torchvision's `Conv2Plus1D`: spatial `(1, 3, 3)` stride `(1, s, s)` to `mid` channels,
/// BN, ReLU, temporal `(3, 1, 1)` stride `(s, 1, 1)`.
#[derive(Module, Debug)]
pub struct Conv2Plus1d<B: Backend> {
    pub spatial: Conv3d<B>,
    pub bn: BatchNorm<B>,
    pub temporal: Conv3d<B>,
}

impl<B: Backend> Conv2Plus1d<B> {
    fn new(c_in: usize, c_out: usize, mid: usize, stride: usize, device: &B::Device) -> Self {
        Self {
            spatial: conv(c_in, mid, [1, 3, 3], [1, stride, stride], device),
            bn: BatchNormConfig::new(mid).init(device),
            temporal: conv(mid, c_out, [3, 1, 1], [stride, 1, 1], device),
        }
    }

    /// `[B, c_in, T, H, W]` → `[B, c_out, ⌈T/s⌉, ⌈H/s⌉, ⌈W/s⌉]`.
    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let x = bn(&self.bn, ops::conv3d(&self.spatial, x), true, None);
        ops::conv3d(&self.temporal, x)
    }
}

/// torchvision's video `BasicBlock` with `Conv2Plus1D`: two factored conv–BN pairs and an
/// identity (or 1×1×1 conv–BN of stride `s` in time and space) shortcut.
#[derive(Module, Debug)]
pub struct VideoBlock<B: Backend> {
    pub conv1: Conv2Plus1d<B>,
    pub bn1: BatchNorm<B>,
    pub conv2: Conv2Plus1d<B>,
    pub bn2: BatchNorm<B>,
    pub downsample: Option<Downsample3d<B>>,
}

/// The projection shortcut of a block that changes width or stride.
#[derive(Module, Debug)]
pub struct Downsample3d<B: Backend> {
    pub conv: Conv3d<B>,
    pub bn: BatchNorm<B>,
}

impl<B: Backend> VideoBlock<B> {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &B::Device) -> Self {
        let mid = midplanes(c_in, c_out);
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample3d {
            conv: conv(c_in, c_out, [1, 1, 1], [stride; 3], device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        Self {
            conv1: Conv2Plus1d::new(c_in, c_out, mid, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: Conv2Plus1d::new(c_out, c_out, mid, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            downsample,
        }
    }

    pub fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let shortcut = match &self.downsample {
            Some(d) => bn(&d.bn, ops::conv3d(&d.conv, x.clone()), false, None),
            None => x.clone(),
        };
        let y = bn(&self.bn1, self.conv1.forward(x), true, None);
        bn(&self.bn2, self.conv2.forward(y), true, Some(shortcut))
    }
}

impl<B: Backend> VideoResNet<B> {
    /// `all_but_last_stage`: only `layer4` trains.
    pub fn freeze(mut self, freeze: Freeze) -> Self {
        match freeze {
            Freeze::None => self,
            Freeze::Backbone => self.no_grad(),
            Freeze::AllButLastStage => {
                self.stem = self.stem.no_grad();
                self.layer1 = self.layer1.no_grad();
                self.layer2 = self.layer2.no_grad();
                self.layer3 = self.layer3.no_grad();
                self
            }
        }
    }

    pub(super) fn frozen_params(&self, freeze: Freeze) -> usize {
        match freeze {
            Freeze::None => 0,
            Freeze::Backbone => count_params(self),
            Freeze::AllButLastStage => {
                count_params(&self.stem)
                    + count_params(&self.layer1)
                    + count_params(&self.layer2)
                    + count_params(&self.layer3)
            }
        }
    }
}
