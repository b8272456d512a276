//! Mixed precision the way PyTorch's autocast does it, which is how the seed trained (AMP):
//! weights, optimizer state and the activations between layers stay fp32; the matrix products
//! (linear layers, the attention products) and the convolutions multiply copies of their
//! operands cast to the compute dtype, and hand back fp32. Each parameter's gradient flows back
//! through its cast, so gradients are fp32 too. Norms, softmax, activations and the loss stay
//! fp32, as autocast keeps them. Phase 1's LSTM (a few percent of its FLOPs) also stays fp32:
//! under autocast it runs Burn's `Lstm`, whose products are inside Burn ([`super::lstm`]).
//!
//! As in PyTorch, the compute dtype is a scope around the forward ([`scope`]), per thread.

use std::cell::Cell;

use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::module::conv1d as conv1d_op;
use burn::tensor::ops::PaddedConvOptions;

use super::scoped::{self, Guard};

thread_local! {
    static COMPUTE: Cell<Option<FloatDType>> = const { Cell::new(None) };
}

/// While the guard lives, the products and convolutions of forwards on this thread compute in
/// `dtype` (`None`: in the tensors' own dtype).
pub fn scope(dtype: Option<FloatDType>) -> Guard<Option<FloatDType>> {
    scoped::set(&COMPUTE, dtype)
}

/// The compute dtype of this thread's current scope, if any.
pub fn compute_dtype() -> Option<FloatDType> {
    COMPUTE.with(Cell::get)
}

/// `f(operands cast down)`, cast back to the first operand's dtype; just `f(operands)` outside
/// a scope.
pub(super) fn cast_around<B: Backend, const D: usize, T>(
    x: Tensor<B, D>,
    rest: T,
    f: impl FnOnce(Tensor<B, D>, T) -> Tensor<B, D>,
) -> Tensor<B, D>
where
    T: CastAll<B>,
{
    match compute_dtype() {
        None => f(x, rest),
        Some(dtype) => {
            let back = FloatDType::from(x.dtype());
            f(x.cast(dtype), rest.cast_all(dtype)).cast(back)
        }
    }
}

/// The other operands of a product: cast together with the input.
pub(super) trait CastAll<B: Backend> {
    fn cast_all(self, dtype: FloatDType) -> Self;
}

impl<B: Backend, const D: usize> CastAll<B> for Tensor<B, D> {
    fn cast_all(self, dtype: FloatDType) -> Self {
        self.cast(dtype)
    }
}

impl<B: Backend, const D: usize, const E: usize> CastAll<B>
    for (Tensor<B, D>, Option<Tensor<B, E>>)
{
    fn cast_all(self, dtype: FloatDType) -> Self {
        (self.0.cast(dtype), self.1.map(|b| b.cast(dtype)))
    }
}

/// `a · b` (batched over leading dimensions, as `Tensor::matmul`).
pub fn matmul<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    cast_around(a, b, |a, b| a.matmul(b))
}

/// Burn's `Conv1d::forward`: `[B, C_in, L]` → `[B, C_out, L']` (valid or explicit padding).
pub fn conv1d<B: Backend>(layer: &Conv1d<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let (left, right) = match layer.padding {
        PaddingConfig1d::Valid => (0, 0),
        PaddingConfig1d::Explicit(left, right) => (left, right),
        PaddingConfig1d::Same => {
            unreachable!("the model's convolutions are built with explicit padding")
        }
    };
    let options = PaddedConvOptions::asymmetric(
        [layer.stride],
        [left],
        [right],
        [layer.dilation],
        layer.groups,
    );
    let params = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
    cast_around(x, params, |x, (w, b)| conv1d_op(x, w, b, options))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;
    use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
    use burn::nn::{PaddingConfig1d, PaddingConfig2d};
    use burn::prelude::*;
    use burn::tensor::{DType, Distribution, FloatDType};

    type AD = Autodiff<Flex>;

    fn rel_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
        let scale = b.clone().abs().max().into_scalar();
        (a - b).abs().max().into_scalar() / scale
    }

    #[test]
    fn layers_match_burns_outside_a_scope_and_compute_in_bf16_inside() {
        let device = Default::default();
        let lin = LinearConfig::new(24, 8).init::<AD>(&device);
        let conv = Conv2dConfig::new([3, 4], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init::<AD>(&device);
        let dw = Conv1dConfig::new(6, 6, 3)
            .with_groups(6)
            .with_padding(PaddingConfig1d::Explicit(1, 1))
            .init::<AD>(&device);
        let x = Tensor::<AD, 3>::random([2, 5, 24], Distribution::Default, &device).require_grad();
        let img = Tensor::<AD, 4>::random([2, 3, 9, 9], Distribution::Default, &device);
        let seq = Tensor::<AD, 3>::random([2, 6, 7], Distribution::Default, &device);

        // Outside a scope: Burn's layers (the 2-D convolution through the project's CPU kernels,
        // which sum in another order).
        assert_eq!(
            crate::ops::linear(&lin, x.clone()).into_data(),
            lin.forward(x.clone()).into_data()
        );
        let d = rel_diff(
            crate::ops::conv2d(&conv, img.clone()).inner(),
            conv.forward(img.clone()).inner(),
        );
        assert!(d < 1e-6, "conv2d: relative difference {d}");
        assert_eq!(
            super::conv1d(&dw, seq.clone()).into_data(),
            dw.forward(seq.clone()).into_data()
        );

        let fp32 = lin.forward(x.clone());
        let g32 = fp32.clone().sum().backward();
        let (mixed, g16) = {
            let _bf16 = super::scope(Some(FloatDType::BF16));
            let y = crate::ops::linear(&lin, x.clone());
            let conv_y = crate::ops::conv2d(&conv, img.clone());
            let dw_y = super::conv1d(&dw, seq.clone());
            // fp32 out, bf16 inside: close to fp32 (bf16 keeps 8 bits of mantissa), not equal.
            assert_eq!(conv_y.dtype(), DType::F32);
            let d = rel_diff(conv_y.inner(), conv.forward(img.clone()).inner());
            assert!(d > 0.0 && d < 2e-2, "conv2d: relative difference {d}");
            let d = rel_diff(dw_y.inner(), dw.forward(seq.clone()).inner());
            assert!(d > 0.0 && d < 2e-2, "conv1d: relative difference {d}");
            let g = y.clone().sum().backward();
            (y, g)
        };
        assert_eq!(mixed.dtype(), DType::F32);
        let d = rel_diff(mixed.inner(), fp32.inner());
        assert!(d > 0.0 && d < 2e-2, "linear: relative difference {d}");
        // The weight's gradient comes back through the cast: fp32, near the fp32 gradient.
        let (w16, w32) = (lin.weight.grad(&g16).unwrap(), lin.weight.grad(&g32).unwrap());
        assert_eq!(w16.dtype(), DType::F32);
        let d = rel_diff(w16, w32);
        assert!(d > 0.0 && d < 2e-2, "weight gradient: relative difference {d}");
        assert_eq!(x.grad(&g16).unwrap().dtype(), DType::F32);

        // The scope ended: fp32 again, bit for bit.
        assert_eq!(crate::ops::linear(&lin, x.clone()).into_data(), lin.forward(x).into_data());
    }

    #[test]
    fn scopes_nest_and_are_per_thread() {
        let outer = super::scope(Some(FloatDType::BF16));
        {
            let _inner = super::scope(None);
            assert_eq!(super::COMPUTE.with(std::cell::Cell::get), None);
        }
        assert_eq!(super::COMPUTE.with(std::cell::Cell::get), Some(FloatDType::BF16));
        std::thread::spawn(|| assert_eq!(super::COMPUTE.with(std::cell::Cell::get), None))
            .join()
            .unwrap();
        drop(outer);
        assert_eq!(super::COMPUTE.with(std::cell::Cell::get), None);
    }
}
