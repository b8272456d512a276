//! 2-D convolution on the CPU backend (flex), forward and backward, through the kernels
//! ([`crate::kernels::conv`]: im2col + GEMM, or Winograd's minimal filtering for 3×3
//! convolutions of stride 1).
//!
//! One node of the autodiff graph ([`super::weighted`]). `Flex` and `Autodiff<Flex, C>` take
//! this path for f32 tensors, symmetric padding, one group and no dilation: every convolution
//! of the three models. Every other backend (CUDA), dtype (bf16 under autocast) or shape goes
//! through Burn's `conv2d`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::PaddedConvOptions;

use super::flex::{flex, values};
use super::weighted::{self, WeightedOp};
use crate::kernels::conv::{self as kernels, Geometry};

/// `[n, c_in, h, w]` → `[n, c_out, h', w']` on `Flex`, as `burn::tensor::module::conv2d`.
pub fn plain(
    x: Tensor<Flex, 4>,
    weight: Tensor<Flex, 4>,
    bias: Option<Tensor<Flex, 1>>,
    options: PaddedConvOptions<2>,
) -> Tensor<Flex, 4> {
    match geometry(&x, &weight, bias.as_ref(), &options) {
        Some(g) => weighted::plain(g, x, weight, bias),
        None => burn_conv2d(x, weight, bias, options),
    }
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy>(
    x: Tensor<Autodiff<Flex, C>, 4>,
    weight: Tensor<Autodiff<Flex, C>, 4>,
    bias: Option<Tensor<Autodiff<Flex, C>, 1>>,
    options: PaddedConvOptions<2>,
) -> Tensor<Autodiff<Flex, C>, 4> {
    match geometry(&x, &weight, bias.as_ref(), &options) {
        Some(g) => weighted::tracked::<C, _, 4, 4, 4>(g, x, weight, bias),
        None => burn_conv2d(x, weight, bias, options),
    }
}

/// The convolution's shape, where the kernels can compute it.
fn geometry<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: Option<&Tensor<B, 1>>,
    options: &PaddedConvOptions<2>,
) -> Option<Geometry> {
    let f32s = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    let plain = options.padding_end.is_none()
        && options.options.dilation == [1, 1]
        && options.options.groups == 1;
    let [_, c, _, _] = x.dims();
    let [_, wc, _, _] = weight.dims();
    (f32s && plain && c == wc)
        .then(|| {
            Geometry::new(x.dims(), weight.dims(), options.options.stride, options.options.padding)
        })
        .flatten()
}

impl WeightedOp for Geometry {
    fn forward(self, x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
        let (x, weight, bias) =
            (x.to_contiguous(), weight.to_contiguous(), bias.map(|b| b.to_contiguous()));
        let (x, weight, bias) = (values(&x), values(&weight), bias.as_ref().map(values));
        flex(kernels::forward(&self, x, weight, bias), [self.n, self.o, self.oh, self.ow])
    }

    fn grad_input(self, weight: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        let (weight, dy) = (weight.to_contiguous(), values(dy));
        flex(kernels::grad_input(&self, values(&weight), dy), [self.n, self.c, self.h, self.w])
    }

    fn grad_weight(self, x: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        let (x, dy) = (x.to_contiguous(), values(dy));
        flex(kernels::grad_weight(&self, values(&x), dy), [self.o, self.c, self.kh, self.kw])
    }

    fn grad_bias(self, dy: &FlexTensor) -> FlexTensor {
        flex(kernels::grad_bias(&self, values(dy)), [self.o])
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d as burn_conv2d;
    use burn::tensor::ops::{ConvOptions, PaddedConvOptions};

    use crate::kernels::conv::im2col as kernels;
    use crate::kernels::conv::{Geometry, winograd};
    use crate::ops::checks::{assert_close, values};

    fn options(stride: usize, pad: usize) -> PaddedConvOptions<2> {
        ConvOptions::new([stride, stride], [pad, pad], [1, 1], 1).into()
    }

    /// Through autodiff, the convolution and its three gradients are the kernels' (bit for bit:
    /// this path was taken; Winograd's for the output and the input and weight gradients at
    /// stride 1, F(2×2, 3×3) on 11×11 planes and F(4×4, 3×3) on 12×12) and agree with Burn's
    /// own convolution.
    fn gradients_on<C: CheckpointStrategy>(stride: usize, size: usize) {
        type F = Flex;
        let device = Default::default();
        let x0 = Tensor::<F, 4>::random([3, 4, size, size], Distribution::Default, &device);
        let w0 = Tensor::<F, 4>::random([5, 4, 3, 3], Distribution::Default, &device);
        let b0 = Tensor::<F, 1>::random([5], Distribution::Default, &device);
        let g = Geometry::new([3, 4, size, size], [5, 4, 3, 3], [stride, stride], [1, 1]).unwrap();
        assert_eq!(winograd::fits(&g), stride == 1);
        type Conv<C> = fn(
            Tensor<Autodiff<F, C>, 4>,
            Tensor<Autodiff<F, C>, 4>,
            Option<Tensor<Autodiff<F, C>, 1>>,
            PaddedConvOptions<2>,
        ) -> Tensor<Autodiff<F, C>, 4>;
        let grads = |conv: Conv<C>| {
            let x = Tensor::<Autodiff<F, C>, 4>::from_inner(x0.clone()).require_grad();
            let w = Tensor::<Autodiff<F, C>, 4>::from_inner(w0.clone()).require_grad();
            let b = Tensor::<Autodiff<F, C>, 1>::from_inner(b0.clone()).require_grad();
            let y = conv(x.clone(), w.clone(), Some(b.clone()), options(stride, 1));
            // A weighting per output position, so every gradient entry differs.
            let weights = Tensor::<Autodiff<F, C>, 4>::from_inner(y.clone().inner().cos());
            let grads = (y.clone() * weights).sum().backward();
            (y.inner(), x.grad(&grads).unwrap(), w.grad(&grads).unwrap(), b.grad(&grads).unwrap())
        };
        let (y, dx, dw, db) = grads(crate::ops::Backend::conv2d);
        let (by, bdx, bdw, bdb) = grads(burn_conv2d);
        let dy = values(y.clone().cos());
        let (x, w, b) =
            (values(x0.clone()), values(w0.clone()), b0.to_data().to_vec::<f32>().unwrap());
        let (want_y, want_dx, want_dw) = if stride == 1 {
            (
                winograd::forward(&g, &x, &w, Some(&b)),
                winograd::grad_input(&g, &w, &dy),
                winograd::grad_weight(&g, &x, &dy),
            )
        } else {
            (
                kernels::forward(&g, &x, &w, Some(&b)),
                kernels::grad_input(&g, &w, &dy),
                kernels::grad_weight(&g, &x, &dy),
            )
        };
        assert_eq!(values(y.clone()), want_y);
        assert_eq!(values(dx.clone()), want_dx);
        assert_eq!(values(dw.clone()), want_dw);
        assert_eq!(db.to_data().to_vec::<f32>().unwrap(), kernels::grad_bias(&g, &dy));
        assert_close(y, by, "output");
        assert_close(dx, bdx, "input gradient");
        assert_close(dw, bdw, "weight gradient");
        assert_close(db.unsqueeze::<4>(), bdb.unsqueeze::<4>(), "bias gradient");
    }

    #[test]
    fn gradients_are_the_kernels_and_agree_with_burns() {
        for (stride, size) in [(1, 11), (1, 12), (2, 11)] {
            gradients_on::<BalancedCheckpointing>(stride, size);
            gradients_on::<burn::backend::autodiff::checkpoint::strategy::NoCheckpointing>(
                stride, size,
            );
        }
    }

    #[test]
    fn inference_and_unsupported_shapes() {
        let device = Default::default();
        let x = Tensor::<Flex, 4>::random([2, 3, 8, 8], Distribution::Default, &device);
        let w = Tensor::<Flex, 4>::random([4, 3, 3, 3], Distribution::Default, &device);
        for (stride, pad) in [(1, 1), (1, 0)] {
            let y = crate::ops::Backend::conv2d(x.clone(), w.clone(), None, options(stride, pad));
            let g =
                Geometry::new([2, 3, 8, 8], [4, 3, 3, 3], [stride, stride], [pad, pad]).unwrap();
            let want = if pad == 1 {
                winograd::forward(&g, &values(x.clone()), &values(w.clone()), None)
            } else {
                kernels::forward(&g, &values(x.clone()), &values(w.clone()), None)
            };
            assert_eq!(values(y.clone()), want);
            assert_close(
                y,
                burn_conv2d(x.clone(), w.clone(), None, options(stride, pad)),
                "inference",
            );
        }
        // Asymmetric padding, groups and dilation are Burn's.
        let padded = PaddedConvOptions::asymmetric([1, 1], [0, 0], [1, 1], [1, 1], 1);
        assert_eq!(
            crate::ops::Backend::conv2d(x.clone(), w.clone(), None, padded.clone()).into_data(),
            burn_conv2d(x.clone(), w.clone(), None, padded).into_data()
        );
        let dilated: PaddedConvOptions<2> = ConvOptions::new([1, 1], [2, 2], [2, 2], 1).into();
        assert_eq!(
            crate::ops::Backend::conv2d(x.clone(), w.clone(), None, dilated.clone()).into_data(),
            burn_conv2d(x, w, None, dilated).into_data()
        );
    }
}
