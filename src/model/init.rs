//! Parameter initialisers shared by the modules (timm-style where timm is the reference).

use burn::module::{Initializer, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;

/// Linear layer with weights ~ N(0, 0.02²) and zero bias (timm's ViT/Swin init; the ±2σ
/// truncation of timm's `trunc_normal_` is left out: pretrained weights replace these).
pub fn linear<B: Backend>(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Linear<B> {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_bias(bias)
        .with_initializer(Initializer::Normal { mean: 0.0, std: 0.02 })
        .init(device);
    if bias {
        layer.bias = Some(Initializer::Zeros.init([d_out], device));
    }
    layer
}

/// A parameter drawn from N(0, std²) truncated to ±2·std (PyTorch's `trunc_normal_(std=…)`
/// with its default cut-offs), by redrawing the values outside the cut-offs.
pub fn trunc_normal<B: Backend, const D: usize>(
    shape: [usize; D],
    std: f64,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let normal = Distribution::Normal(0.0, std);
    let mut x = Tensor::<B, D>::random(shape, normal, device);
    // Each redraw leaves ~4.6% outside; after 6 rounds ~1e-8 remain, which the clamp catches.
    for _ in 0..6 {
        let outside = x.clone().abs().greater_elem(2.0 * std);
        x = x.mask_where(outside, Tensor::random(shape, normal, device));
    }
    Param::from_tensor(x.clamp(-2.0 * std, 2.0 * std))
}
