//! 3-D convolutions of R(2+1)D, whose kernels are spatial only, `(1, kh, kw)`, or temporal
//! only, `(kt, 1, 1)`, as 2-D convolutions over exact reshapes of the same sums, so that they
//! take the backend's 2-D path (on the CPU: the project's kernels, forward and backward):
//!
//! - spatial: the frames side by side, `[B·T', C, H, W]` (T' the frames the temporal stride
//!   keeps), one 2-D convolution with the `[O, C, kh, kw]` kernel;
//! - temporal: `[B, C, T, H'·W']` (H', W' the positions the spatial stride keeps), one 2-D
//!   convolution with the `[O, C, kt, 1]` kernel, stride `(st, 1)` and padding `(pt, 0)`.
//!
//! Flex's own `conv3d` takes a generic path (measured in `model::r2plus1d`'s docs). Other
//! kernels, dilation or groups go through Burn's `conv3d`.

use burn::nn::PaddingConfig3d;
use burn::nn::conv::Conv3d;
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::module::conv3d as burn_conv3d;
use burn::tensor::ops::{ConvOptions, PaddedConvOptions};

use super::Backend;
use super::autocast::cast_around;

/// `layer` on `[B, C, T, H, W]` → `[B, O, T', H', W']`, as `Conv3d::forward`, in the
/// autocast dtype if any.
pub(super) fn forward<B: Backend>(layer: &Conv3d<B>, x: Tensor<B, 5>) -> Tensor<B, 5> {
    let padding = match layer.padding {
        PaddingConfig3d::Valid => [0, 0, 0],
        PaddingConfig3d::Explicit(t, h, w) => [t, h, w],
        PaddingConfig3d::Same => {
            unreachable!("the model's convolutions are built with explicit padding")
        }
    };
    let (stride, plain) = (layer.stride, layer.dilation == [1, 1, 1] && layer.groups == 1);
    let params = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
    cast_around(x, params, |x, (w, b)| match layer.kernel_size {
        [1, _, _] if plain && padding[0] == 0 => spatial(x, w, b, stride, padding),
        [_, 1, 1] if plain && padding[1..] == [0, 0] => temporal(x, w, b, stride, padding),
        _ => burn_conv3d(x, w, b, ConvOptions::new(stride, padding, layer.dilation, layer.groups)),
    })
}

fn options(stride: [usize; 2], padding: [usize; 2]) -> PaddedConvOptions<2> {
    ConvOptions::new(stride, padding, [1, 1], 1).into()
}

/// Every `step`-th index of `dim` (a strided convolution of kernel 1 along it).
fn every<B: Backend>(x: Tensor<B, 5>, dim: usize, step: usize) -> Tensor<B, 5> {
    if step == 1 {
        return x;
    }
    let mut slices = [Slice::full(); 5];
    slices[dim] = Slice::new(0, None, step as isize);
    x.slice(slices)
}

/// Kernel `(1, kh, kw)`: the kept frames as one batch of images.
fn spatial<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 5>,
    bias: Option<Tensor<B, 1>>,
    stride: [usize; 3],
    padding: [usize; 3],
) -> Tensor<B, 5> {
    let x = every(x, 2, stride[0]);
    let [b, c, t, h, w] = x.dims();
    let [o, _, _, kh, kw] = weight.dims();
    let frames = x.permute([0, 2, 1, 3, 4]).reshape([b * t, c, h, w]);
    let y = <B as Backend>::conv2d(
        frames,
        weight.reshape([o, c, kh, kw]),
        bias,
        options([stride[1], stride[2]], [padding[1], padding[2]]),
    );
    let [_, _, h2, w2] = y.dims();
    y.reshape([b, t, o, h2, w2]).permute([0, 2, 1, 3, 4])
}

/// Kernel `(kt, 1, 1)`: time as the height of images `H'·W'` wide.
fn temporal<B: Backend>(
    x: Tensor<B, 5>,
    weight: Tensor<B, 5>,
    bias: Option<Tensor<B, 1>>,
    stride: [usize; 3],
    padding: [usize; 3],
) -> Tensor<B, 5> {
    let x = every(every(x, 3, stride[1]), 4, stride[2]);
    let [b, c, t, h, w] = x.dims();
    let [o, _, kt, _, _] = weight.dims();
    let y = <B as Backend>::conv2d(
        x.reshape([b, c, t, h * w]),
        weight.reshape([o, c, kt, 1]),
        bias,
        options([stride[0], 1], [padding[0], 0]),
    );
    let t2 = y.dims()[2];
    y.reshape([b, o, t2, h, w])
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::PaddingConfig3d;
    use burn::nn::conv::Conv3dConfig;
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use crate::ops::checks::assert_close;

    type AD = Autodiff<Flex>;

    /// Output and input, weight and bias gradients equal Burn's `Conv3d` for R(2+1)D's kernels
    /// (odd sizes, strides in time and space, the 1×1×1 shortcut) and a full 3×3×3 kernel
    /// (Burn's own path).
    #[test]
    fn factored_convolutions_agree_with_burns_conv3d() {
        let device = Default::default();
        let cases: [([usize; 3], [usize; 3], [usize; 3]); 6] = [
            ([1, 3, 3], [1, 1, 1], [0, 1, 1]),
            ([1, 3, 3], [2, 2, 2], [0, 1, 1]),
            ([1, 7, 7], [1, 2, 2], [0, 3, 3]),
            ([3, 1, 1], [1, 1, 1], [1, 0, 0]),
            ([3, 1, 1], [2, 2, 2], [1, 0, 0]),
            ([1, 1, 1], [2, 2, 2], [0, 0, 0]),
        ];
        let full = ([3, 3, 3], [1, 2, 1], [1, 1, 1]);
        for (kernel, stride, [pt, ph, pw]) in cases.into_iter().chain([full]) {
            let conv = Conv3dConfig::new([3, 4], kernel)
                .with_stride(stride)
                .with_padding(PaddingConfig3d::Explicit(pt, ph, pw))
                .init::<AD>(&device);
            let x0 = Tensor::<Flex, 5>::random([2, 3, 5, 9, 7], Distribution::Default, &device);
            let run = |ours: bool| {
                let x = Tensor::<AD, 5>::from_inner(x0.clone()).require_grad();
                let y = if ours {
                    crate::ops::conv3d(&conv, x.clone())
                } else {
                    conv.forward(x.clone())
                };
                let weights = Tensor::<AD, 5>::from_inner(y.clone().inner().cos());
                let grads = (y.clone() * weights).sum().backward();
                let dw = conv.weight.grad(&grads).expect("weight gradient");
                let db = conv.bias.as_ref().and_then(|b| b.grad(&grads)).expect("bias gradient");
                (y.inner(), x.grad(&grads).expect("input gradient"), dw, db)
            };
            let ((y, dx, dw, db), (by, bdx, bdw, bdb)) = (run(true), run(false));
            let case = format!("kernel {kernel:?} stride {stride:?}");
            assert_eq!(y.dims(), by.dims(), "{case}");
            assert_close(y, by, &format!("{case}: output"));
            assert_close(dx, bdx, &format!("{case}: input gradient"));
            assert_close(dw, bdw, &format!("{case}: weight gradient"));
            assert_close(db, bdb, &format!("{case}: bias gradient"));
        }
    }
}
