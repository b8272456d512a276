//! The Burn-facing side of the models' ops: the layer ops the model code calls (below), the
//! backend extension trait that says which backend computes each one how ([`Backend`],
//! dispatched at compile time), the autodiff nodes that turn the CPU kernels
//! ([`crate::kernels`]) into ops of Burn's graph, and the dtype products run in ([`autocast`]).
//!
//! Model code names its backend `B: ops::Backend` and calls these functions; everything here
//! keeps Burn's semantics and the modules' parameters (records and checkpoints are Burn's).

mod adamw;
mod attention;
pub mod autocast;
mod backend;
mod batch_norm;
mod conv;
mod conv3d;
mod flex;
mod gelu;
mod layer_norm;
mod linear;
mod lstm;
mod max_pool;
pub mod scoped;
mod weighted;

#[cfg(test)]
mod checks;

use burn::nn::conv::{Conv1d, Conv2d, Conv3d};
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, LayerNorm, Linear, Lstm, PaddingConfig2d};
use burn::prelude::Tensor;
use burn::tensor::ops::PaddedConvOptions;

pub use autocast::scope as autocast;
pub use backend::{AutodiffBackend, Backend};
pub use batch_norm::frozen_statistics;
pub use layer_norm::config as layer_norm_config;

// The calls below name the trait: Burn's own backend traits have methods of the same names
// (`ModuleOps::linear`, `ActivationOps::gelu`, …).

/// `layer` on `[…, d_in]` → `[…, d_out]`, its leading dimensions flattened into rows, in the
/// autocast dtype if any.
pub fn linear<B: Backend, const D: usize>(layer: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = x.shape().num_elements() / d_in.max(1);
    let params = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
    let y = autocast::cast_around(x.reshape([rows, d_in]), params, |x, (w, b)| {
        <B as Backend>::linear(x, w, b)
    });
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

/// `layer` on `[n, c_in, h, w]` → `[n, c_out, h', w']`, in the autocast dtype if any. The
/// model's convolutions have valid or explicit padding (Burn keeps its `Same` arithmetic
/// private).
pub fn conv2d<B: Backend>(layer: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let (top, left, bottom, right) = match layer.padding {
        PaddingConfig2d::Valid => (0, 0, 0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
        PaddingConfig2d::Same => {
            unreachable!("the model's convolutions are built with explicit padding")
        }
    };
    let options = PaddedConvOptions::asymmetric(
        layer.stride,
        [top, left],
        [bottom, right],
        layer.dilation,
        layer.groups,
    );
    let params = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
    autocast::cast_around(x, params, |x, (w, b)| <B as Backend>::conv2d(x, w, b, options))
}

/// `layer` on `[B, C_in, T, H, W]` → `[B, C_out, T', H', W']`, in the autocast dtype if any;
/// R(2+1)D's spatial-only and temporal-only kernels as 2-D convolutions (see `conv3d.rs`).
pub fn conv3d<B: Backend>(layer: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    conv3d::forward(layer, x)
}

/// `layer` on `[n, c_in, l]` → `[n, c_out, l']`, in the autocast dtype if any.
pub fn conv1d<B: Backend>(layer: &Conv1d<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    autocast::conv1d(layer, x)
}

/// `a · b` (batched over leading dimensions), in the autocast dtype if any.
pub fn matmul<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    autocast::matmul(a, b)
}

/// The exact GELU, element-wise.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    <B as Backend>::gelu(x)
}

/// `[…, d]` normalised over the last axis by `ln` (built by [`layer_norm_config`]).
pub fn layer_norm<B: Backend, const D: usize>(ln: &LayerNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    <B as Backend>::layer_norm(ln, x)
}

/// `qkv` `[windows, n, 3·c]` (per token: q, k, v, each `heads` heads of `c / heads`), `bias`
/// `[heads, n, n]`, `mask` `[masks, n, n]` (window `w` adds `mask[w % masks]`; windows of one
/// image consecutive) → `[windows, n, c]`: `softmax(q·kᵀ/√d + bias + mask)·v` per window and
/// head, the heads side by side.
pub fn window_attention<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    bias: Tensor<B, 3>,
    mask: Option<Tensor<B, 3>>,
) -> Tensor<B, 3> {
    <B as Backend>::window_attention(qkv, heads, bias, mask)
}

/// `[N, C, …]` → same shape, normalised per channel by `bn`.
pub fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    <B as Backend>::batch_norm(bn, x, None, false)
}

/// `relu(BN(x) + residual)` on `[N, C, H, W]` (the residual, where given, of the same shape):
/// ResNet's BatchNorm–ReLU pairs.
pub fn batch_norm_relu<B: Backend>(
    bn: &BatchNorm<B>,
    x: Tensor<B, 4>,
    residual: Option<Tensor<B, 4>>,
) -> Tensor<B, 4> {
    <B as Backend>::batch_norm(bn, x, residual, true)
}

/// `[n, c, h, w]` → `[n, c, h', w']`, as `MaxPool2d::forward`.
pub fn max_pool2d<B: Backend>(pool: &MaxPool2d, x: Tensor<B, 4>) -> Tensor<B, 4> {
    <B as Backend>::max_pool2d(pool, x)
}

/// The hidden states `[batch, steps, hidden]` of `lstm` over `x` `[batch, steps, input]`, from
/// zero states: `lstm.forward(x, None).0`.
pub fn lstm<B: Backend>(lstm: &Lstm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    <B as Backend>::lstm(lstm, x)
}
