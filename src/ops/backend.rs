//! Which backend takes which kernel, decided at compile time: [`Backend`]'s methods are Burn's
//! compositions, and the CPU backends (`Flex`, `Autodiff<Flex, C>`) replace them with the
//! kernels. Each CPU method still checks what only the values tell (dtype, shape, an autocast
//! scope) and falls back to Burn's op where the kernels do not cover it.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::{Autodiff, Flex};
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, LayerNorm, Lstm};
use burn::optim::{AdamW, AdamWState, LearningRate, SimpleOptimizer};
use burn::prelude::Tensor;
use burn::tensor::activation;
use burn::tensor::module::{conv2d as burn_conv2d, linear as burn_linear};
use burn::tensor::ops::PaddedConvOptions;

use super::{adamw, attention, batch_norm, conv, gelu, layer_norm, linear, lstm, max_pool};
use crate::kernels::adamw::Settings;

/// A Burn backend with the ops the models and the optimizer use, each Burn's own unless the
/// backend has a faster one (as Burn's custom-kernel examples extend a backend).
pub trait Backend: burn::tensor::backend::Backend {
    /// Whether this backend's random draws are the CPU's (its generator is Flex's): a model
    /// initialised here from a seed has the CPU's weights for that seed.
    const DRAWS_AS_CPU: bool = false;

    /// `[n, c_in, h, w]` → `[n, c_out, h', w']`, as `burn::tensor::module::conv2d`.
    fn conv2d(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        bias: Option<Tensor<Self, 1>>,
        options: PaddedConvOptions<2>,
    ) -> Tensor<Self, 4> {
        burn_conv2d(x, weight, bias, options)
    }

    /// `[…, d_in]` · `weight` `[d_in, d_out]` + `bias` → `[…, d_out]`, as
    /// `burn::tensor::module::linear`.
    fn linear<const D: usize>(
        x: Tensor<Self, D>,
        weight: Tensor<Self, 2>,
        bias: Option<Tensor<Self, 1>>,
    ) -> Tensor<Self, D> {
        burn_linear(x, weight, bias)
    }

    /// The exact GELU, element-wise.
    fn gelu<const D: usize>(x: Tensor<Self, D>) -> Tensor<Self, D> {
        activation::gelu(x)
    }

    /// `[…, d]` normalised over the last axis, as `LayerNorm::forward`.
    fn layer_norm<const D: usize>(ln: &LayerNorm<Self>, x: Tensor<Self, D>) -> Tensor<Self, D> {
        ln.forward(x)
    }

    /// Multi-head attention with an additive bias and mask per window
    /// ([`super::window_attention`]).
    fn window_attention(
        qkv: Tensor<Self, 3>,
        heads: usize,
        bias: Tensor<Self, 3>,
        mask: Option<Tensor<Self, 3>>,
    ) -> Tensor<Self, 3> {
        attention::composed(qkv, heads, bias, mask)
    }

    /// `act(BN(x) + residual)` on `[n, c, …]`, `act` the ReLU where `relu`, else the identity
    /// (Burn's semantics: batch statistics and a running-average update when training on an
    /// autodiff backend, the running statistics otherwise).
    fn batch_norm<const D: usize>(
        bn: &BatchNorm<Self>,
        x: Tensor<Self, D>,
        residual: Option<Tensor<Self, D>>,
        relu: bool,
    ) -> Tensor<Self, D> {
        batch_norm::composed_with(bn, x, residual, relu)
    }

    /// `[n, c, h, w]` → `[n, c, h', w']`, as `MaxPool2d::forward`.
    fn max_pool2d(pool: &MaxPool2d, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        pool.forward(x)
    }

    /// The hidden states `[batch, steps, hidden]` of `lstm` over `x` from zero states:
    /// `lstm.forward(x, None).0`.
    fn lstm(lstm: &Lstm<Self>, x: Tensor<Self, 3>) -> Tensor<Self, 3> {
        lstm.forward(x, None).0
    }

    /// One step of `adamw` (Burn's AdamW, built with `settings`) on one parameter.
    fn adamw_step<const D: usize>(
        adamw: &AdamW,
        _settings: &Settings,
        lr: LearningRate,
        param: Tensor<Self, D>,
        grad: Tensor<Self, D>,
        state: Option<AdamWState<Self, D>>,
    ) -> (Tensor<Self, D>, Option<AdamWState<Self, D>>) {
        adamw.step(lr, param, grad, state)
    }
}

/// An autodiff backend whose inner backend is a [`Backend`] too (the optimizer steps there).
pub trait AutodiffBackend:
    Backend + burn::tensor::backend::AutodiffBackend<InnerBackend: Backend>
{
}

impl<B> AutodiffBackend for B where
    B: Backend + burn::tensor::backend::AutodiffBackend<InnerBackend: Backend>
{
}

/// Inference on the CPU: the kernels.
impl Backend for Flex {
    const DRAWS_AS_CPU: bool = true;

    fn conv2d(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        bias: Option<Tensor<Self, 1>>,
        options: PaddedConvOptions<2>,
    ) -> Tensor<Self, 4> {
        conv::plain(x, weight, bias, options)
    }

    fn linear<const D: usize>(
        x: Tensor<Self, D>,
        weight: Tensor<Self, 2>,
        bias: Option<Tensor<Self, 1>>,
    ) -> Tensor<Self, D> {
        linear::plain(x, weight, bias)
    }

    fn gelu<const D: usize>(x: Tensor<Self, D>) -> Tensor<Self, D> {
        gelu::plain(x)
    }

    fn layer_norm<const D: usize>(ln: &LayerNorm<Self>, x: Tensor<Self, D>) -> Tensor<Self, D> {
        layer_norm::plain(ln, x)
    }

    fn window_attention(
        qkv: Tensor<Self, 3>,
        heads: usize,
        bias: Tensor<Self, 3>,
        mask: Option<Tensor<Self, 3>>,
    ) -> Tensor<Self, 3> {
        attention::plain(qkv, heads, bias, mask)
    }

    fn batch_norm<const D: usize>(
        bn: &BatchNorm<Self>,
        x: Tensor<Self, D>,
        residual: Option<Tensor<Self, D>>,
        relu: bool,
    ) -> Tensor<Self, D> {
        batch_norm::plain(bn, x, residual, relu)
    }

    fn max_pool2d(pool: &MaxPool2d, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        max_pool::plain(pool, x)
    }

    fn lstm(lstm: &Lstm<Self>, x: Tensor<Self, 3>) -> Tensor<Self, 3> {
        lstm::plain(lstm, x)
    }

    fn adamw_step<const D: usize>(
        adamw: &AdamW,
        settings: &Settings,
        lr: LearningRate,
        param: Tensor<Self, D>,
        grad: Tensor<Self, D>,
        state: Option<AdamWState<Self, D>>,
    ) -> (Tensor<Self, D>, Option<AdamWState<Self, D>>) {
        adamw::plain(adamw, settings, lr, param, grad, state)
    }
}

/// Training on the CPU, under any checkpointing strategy: the kernels, each one node of the
/// autodiff graph. The optimizer steps on the inner backend (`Flex`).
impl<C: CheckpointStrategy> Backend for Autodiff<Flex, C> {
    const DRAWS_AS_CPU: bool = true;

    fn conv2d(
        x: Tensor<Self, 4>,
        weight: Tensor<Self, 4>,
        bias: Option<Tensor<Self, 1>>,
        options: PaddedConvOptions<2>,
    ) -> Tensor<Self, 4> {
        conv::tracked(x, weight, bias, options)
    }

    fn linear<const D: usize>(
        x: Tensor<Self, D>,
        weight: Tensor<Self, 2>,
        bias: Option<Tensor<Self, 1>>,
    ) -> Tensor<Self, D> {
        linear::tracked(x, weight, bias)
    }

    fn gelu<const D: usize>(x: Tensor<Self, D>) -> Tensor<Self, D> {
        gelu::tracked(x)
    }

    fn layer_norm<const D: usize>(ln: &LayerNorm<Self>, x: Tensor<Self, D>) -> Tensor<Self, D> {
        layer_norm::tracked(ln, x)
    }

    fn window_attention(
        qkv: Tensor<Self, 3>,
        heads: usize,
        bias: Tensor<Self, 3>,
        mask: Option<Tensor<Self, 3>>,
    ) -> Tensor<Self, 3> {
        attention::tracked(qkv, heads, bias, mask)
    }

    fn batch_norm<const D: usize>(
        bn: &BatchNorm<Self>,
        x: Tensor<Self, D>,
        residual: Option<Tensor<Self, D>>,
        relu: bool,
    ) -> Tensor<Self, D> {
        batch_norm::tracked(bn, x, residual, relu)
    }

    fn max_pool2d(pool: &MaxPool2d, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        max_pool::tracked(pool, x)
    }

    fn lstm(lstm: &Lstm<Self>, x: Tensor<Self, 3>) -> Tensor<Self, 3> {
        lstm::tracked(lstm, x)
    }
}

/// NVIDIA GPUs: Burn's ops throughout.
#[cfg(feature = "cuda")]
mod cuda {
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::{Autodiff, Cuda};

    impl super::Backend for Cuda<f32> {}

    impl<C: CheckpointStrategy> super::Backend for Autodiff<Cuda<f32>, C> {}
}

/// GPUs through wgpu (Metal, Vulkan, DirectX 12): Burn's ops throughout.
#[cfg(feature = "wgpu")]
mod wgpu {
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::{Autodiff, Wgpu};

    impl super::Backend for Wgpu<f32> {}

    impl<C: CheckpointStrategy> super::Backend for Autodiff<Wgpu<f32>, C> {}
}
