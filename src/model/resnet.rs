//! ResNet-18/34 backbone in torchvision/timm layout (BasicBlock, BatchNorm); parameter names
//! follow their state dicts except `downsample.0/1`, which are `downsample.conv/bn` here.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ops::{self, Backend};

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

impl ResNetDepth {
    /// Basic blocks per stage.
    pub fn blocks(self) -> [usize; 4] {
        match self {
            ResNetDepth::R18 => [2, 2, 2, 2],
            ResNetDepth::R34 => [3, 4, 6, 3],
        }
    }
}

impl ResNetConfig {
    /// Builds the backbone (torchvision init: Kaiming-normal fan-out convs, BN 1/0).
    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet<B> {
        let w = self.width as usize;
        self.init_with_widths(w, [w, 2 * w, 4 * w, 8 * w], device)
    }

    /// The same layout with any stem and stage widths (timm's `channels`; the parity
    /// fixtures use narrow stages after a 64-channel stem).
    pub fn init_with_widths<B: Backend>(
        &self,
        stem: usize,
        widths: [usize; 4],
        device: &B::Device,
    ) -> ResNet<B> {
        let blocks = self.depth.blocks();
        let mut in_ch = stem;
        let mut stage = |i: usize| -> Vec<BasicBlock<B>> {
            (0..blocks[i])
                .map(|j| {
                    let stride = if i > 0 && j == 0 { 2 } else { 1 };
                    let block = BasicBlock::new(in_ch, widths[i], stride, device);
                    in_ch = widths[i];
                    block
                })
                .collect()
        };
        let (layer1, layer2, layer3, layer4) = (stage(0), stage(1), stage(2), stage(3));
        ResNet {
            conv1: conv(3, stem, 7, 2, device),
            bn1: BatchNormConfig::new(stem).init(device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1,
            layer2,
            layer3,
            layer4,
            num_features: widths[3],
        }
    }
}

fn conv<B: Backend>(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    device: &B::Device,
) -> Conv2d<B> {
    let p = k / 2;
    Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal { gain: 2f64.sqrt(), fan_out_only: true })
        .init(device)
}

/// `[B, 3, H, W]` → `[B, num_features]` (global average pooling, no classifier).
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub maxpool: MaxPool2d,
    pub layer1: Vec<BasicBlock<B>>,
    pub layer2: Vec<BasicBlock<B>>,
    pub layer3: Vec<BasicBlock<B>>,
    pub layer4: Vec<BasicBlock<B>>,
    pub num_features: usize,
}

impl<B: Backend> ResNet<B> {
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = ops::batch_norm_relu(&self.bn1, ops::conv2d(&self.conv1, images), None);
        let mut x = ops::max_pool2d(&self.maxpool, x);
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4)
        {
            x = block.forward(x);
        }
        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
    }
}

/// Two 3×3 conv-BN pairs with an identity (or 1×1 conv-BN) shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub conv2: Conv2d<B>,
    pub bn2: BatchNorm<B>,
    pub downsample: Option<Downsample<B>>,
}

/// The projection shortcut of a block that changes width or stride.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm<B>,
}

impl<B: Backend> BasicBlock<B> {
    fn new(c_in: usize, c_out: usize, stride: usize, device: &B::Device) -> Self {
        let downsample = (stride != 1 || c_in != c_out).then(|| Downsample {
            conv: conv(c_in, c_out, 1, stride, device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        Self {
            conv1: conv(c_in, c_out, 3, stride, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv(c_out, c_out, 3, 1, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            downsample,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = match &self.downsample {
            Some(d) => ops::batch_norm(&d.bn, ops::conv2d(&d.conv, x.clone())),
            None => x.clone(),
        };
        let y = ops::batch_norm_relu(&self.bn1, ops::conv2d(&self.conv1, x), None);
        ops::batch_norm_relu(&self.bn2, ops::conv2d(&self.conv2, y), Some(shortcut))
    }
}
