//! Model summary for `runner validate --print-model`: parameter counts (from the built, not
//! initialised, module) and analytic GFLOPs per clip (2 × multiply-adds of convolutions,
//! linear layers, attention matmuls and LSTM gates; norms, activations and softmax left out).

use burn::backend::Flex;

use super::classifier::ModelConfig;
use super::head::HeadConfig;
use super::r2plus1d::{R2plus1dConfig, midplanes};
use super::swin::StagePlan;
use super::swin::SwinConfig;
use super::temporal::{HybridPaths, Pooling};
use super::violation::ModelViolation;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSummary {
    pub total_params: usize,
    pub trainable_params: usize,
    pub gflops_per_clip: f64,
}

/// Summary of the model `config` describes for `img`×`img` frames and `frames`-frame clips.
/// Fails with the violations of [`ModelConfig::check_dims`] (the pretrained file is not read).
pub fn summary(
    config: &ModelConfig,
    img: usize,
    frames: usize,
) -> Result<ModelSummary, Vec<ModelViolation>> {
    let violations = config.check_dims(img, frames);
    if !violations.is_empty() {
        return Err(violations);
    }
    let model = config.init::<Flex>(img, frames, &Default::default());
    let counts = model.param_counts(config.freeze());
    Ok(ModelSummary {
        total_params: counts.total,
        trainable_params: counts.trainable,
        gflops_per_clip: flops(config, img, frames) / 1e9,
    })
}

/// FLOPs per clip (checked configuration).
fn flops(config: &ModelConfig, img: usize, t: usize) -> f64 {
    let d = config.feature_dim() as f64;
    let t_f = t as f64;
    match config {
        ModelConfig::CnnLstm(c) => {
            let h = c.lstm.hidden as f64;
            let lstm: f64 = (0..c.lstm.layers)
                .map(|i| {
                    let d_in = if i == 0 { d } else { h };
                    2.0 * t_f * 4.0 * h * (d_in + h)
                })
                .sum();
            t_f * resnet_flops(c.backbone.depth.blocks(), c.backbone.width as usize, img)
                + lstm
                + head_flops(&c.head, h)
        }
        ModelConfig::SwinGlobal(c) => {
            let backbone =
                swin_flops(&c.backbone.stages(img).unwrap_or_default(), &c.backbone, img);
            let ffn = c.temporal.ffn as f64;
            let layer = attention_flops(t_f, d) + 4.0 * t_f * d * ffn;
            t_f * backbone
                + c.temporal.layers as f64 * layer
                + pool_flops(c.pooling, t_f, d)
                + head_flops(&c.head, d)
        }
        ModelConfig::SwinHybrid(c) => {
            let backbone =
                swin_flops(&c.backbone.stages(img).unwrap_or_default(), &c.backbone, img);
            let tc = &c.temporal;
            let attn =
                if tc.paths != HybridPaths::ConvOnly { attention_flops(t_f, d) } else { 0.0 };
            let conv = if tc.paths != HybridPaths::AttentionOnly {
                2.0 * t_f * d * tc.dwconv_kernel as f64
            } else {
                0.0
            };
            let layer = attn + conv + 4.0 * t_f * d * tc.ffn as f64;
            t_f * backbone
                + tc.layers as f64 * layer
                + pool_flops(c.pooling, t_f, d)
                + head_flops(&c.head, d)
        }
        ModelConfig::R2plus1d(c) => r2plus1d_flops(c, img, t) + head_flops(&c.head, d),
    }
}

/// Multi-head self-attention over `n` tokens of width `d`: projections and both matmuls.
fn attention_flops(n: f64, d: f64) -> f64 {
    2.0 * n * d * 4.0 * d + 4.0 * n * n * d
}

fn pool_flops(pooling: Pooling, t: f64, d: f64) -> f64 {
    if pooling == Pooling::Attention { 4.0 * t * d } else { 0.0 }
}

fn head_flops(head: &HeadConfig, d: f64) -> f64 {
    let outputs = head.task.outputs() as f64;
    match head.hidden {
        0 => 2.0 * d * outputs,
        hidden => 2.0 * (d * f64::from(hidden) + f64::from(hidden) * outputs),
    }
}

fn swin_flops(stages: &[StagePlan], c: &SwinConfig, img: usize) -> f64 {
    let dims = c.dims();
    let grid = (img / dims.patch.max(1)) as f64;
    let mut total =
        2.0 * grid * grid * dims.embed_dim as f64 * 3.0 * (dims.patch * dims.patch) as f64;
    let mut prev_dim: Option<f64> = None;
    for s in stages {
        let dim = s.dim as f64;
        let tokens = (s.res * s.res) as f64;
        if let Some(prev_dim) = prev_dim {
            total += 2.0 * tokens * 4.0 * prev_dim * dim;
        }
        // Attention runs on the map padded to whole windows.
        let padded = (s.res.div_ceil(s.window) * s.window).pow(2) as f64;
        let window_area = (s.window * s.window) as f64;
        let attn = 2.0 * padded * dim * 4.0 * dim + 4.0 * padded * window_area * dim;
        let mlp = 4.0 * tokens * dim * (dim * dims.mlp_ratio).floor();
        total += s.depth as f64 * (attn + mlp);
        prev_dim = Some(dim);
    }
    total
}

/// Output size of a convolution along one axis.
fn conv_out(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

/// The whole clip: each convolution at its output's `t × h × w` positions.
fn r2plus1d_flops(c: &R2plus1dConfig, img: usize, t: usize) -> f64 {
    let conv = |positions: usize, c_in: usize, c_out: usize, taps: usize| {
        2.0 * positions as f64 * (c_in * c_out * taps) as f64
    };
    let (stem, widths) = c.widths();
    let mut size = conv_out(img, 7, 2, 3);
    let mut t = t;
    let mut total = conv(t * size * size, 3, stem, 49) + conv(t * size * size, stem, widths[0], 3);
    let mut c_in = widths[0];
    for (i, &c_out) in widths.iter().enumerate() {
        for j in 0..2 {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            let mid = midplanes(c_in, c_out);
            let (s_out, t_out) = (conv_out(size, 3, stride, 1), conv_out(t, 3, stride, 1));
            let plane = s_out * s_out;
            total += conv(t * plane, c_in, mid, 9) + conv(t_out * plane, mid, c_out, 3);
            total += conv(t_out * plane, c_out, mid, 9) + conv(t_out * plane, mid, c_out, 3);
            if stride != 1 || c_in != c_out {
                total += conv(t_out * plane, c_in, c_out, 1);
            }
            (size, t, c_in) = (s_out, t_out, c_out);
        }
    }
    total
}

fn resnet_flops(blocks: [usize; 4], width: usize, img: usize) -> f64 {
    let out = |size: usize, k: usize, stride: usize, pad: usize| (size + 2 * pad - k) / stride + 1;
    let conv = |size_out: usize, c_in: usize, c_out: usize, k: usize| {
        2.0 * (size_out * size_out) as f64 * (c_in * c_out * k * k) as f64
    };
    let mut size = out(img, 7, 2, 3);
    let mut total = conv(size, 3, width, 7);
    size = out(size, 3, 2, 1);
    let mut c_in = width;
    for (i, (&n, c_out)) in blocks.iter().zip([width, 2 * width, 4 * width, 8 * width]).enumerate()
    {
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            let s_out = out(size, 3, stride, 1);
            total += conv(s_out, c_in, c_out, 3) + conv(s_out, c_out, c_out, 3);
            if stride != 1 || c_in != c_out {
                total += conv(s_out, c_in, c_out, 1);
            }
            size = s_out;
            c_in = c_out;
        }
    }
    total
}
