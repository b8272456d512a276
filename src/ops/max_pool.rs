//! 2-D max pooling on the CPU backend (flex), forward and backward
//! ([`crate::kernels::max_pool`]). Flex pools one
//! output at a time with a data-dependent branch per window value and keeps an `i64` index per
//! output: about 10% of a ResNet-18 + LSTM training step at 224 px (the stem's 3×3 pooling).
//! Here each window position is one branch-free pass over a whole output row (rows split by
//! column phase, so strided windows read contiguous runs), and each output keeps one byte.
//!
//! One compute-bound node of the autodiff graph that keeps only which value each output took
//! (Burn's keeps its indices). `Flex` and `Autodiff<Flex, C>` take this path for f32 tensors,
//! explicit symmetric padding, no dilation and floor rounding (ResNet's stem); every other
//! backend, dtype or pooling goes through Burn's.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;

use super::flex::{flex, primitive, tensor, values};
use crate::kernels::max_pool::{self as kernels, Window};

/// `[n, c, h, w]` → `[n, c, h', w']`, as `MaxPool2d::forward`, on `Flex`.
pub fn plain(pool: &MaxPool2d, x: Tensor<Flex, 4>) -> Tensor<Flex, 4> {
    match window(pool, &x) {
        Some(g) => tensor(forward(g, primitive(x)).0),
        None => pool.forward(x),
    }
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy>(
    pool: &MaxPool2d,
    x: Tensor<Autodiff<Flex, C>, 4>,
) -> Tensor<Autodiff<Flex, C>, 4> {
    match window(pool, &x) {
        Some(g) => tensor(node::<C>(g, primitive(x))),
        None => pool.forward(x),
    }
}

/// The pooling's shape, where the kernels can compute it.
fn window<B: Backend>(pool: &MaxPool2d, x: &Tensor<B, 4>) -> Option<Window> {
    let pad = match pool.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            (top == bottom && left == right).then_some([top, left])
        }
        PaddingConfig2d::Same => None,
    };
    let plain = pool.dilation == [1, 1] && !pool.ceil_mode && x.dtype() == DType::F32;
    pad.filter(|_| plain).and_then(|pad| Window::new(x.dims(), pool.kernel_size, pool.stride, pad))
}

fn forward(g: Window, x: FlexTensor) -> (FlexTensor, Vec<u8>) {
    let (y, taps) = kernels::forward(&g, values(&x.to_contiguous()));
    (flex(y, [g.n, g.c, g.oh, g.ow]), taps)
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

fn node<C: CheckpointStrategy>(g: Window, x: AdTensor) -> AdTensor {
    let prep = <PoolBackward as Backward<Flex, 1>>::prepare::<C>(PoolBackward, [x.node.clone()]);
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let (y, taps) = forward(g, x.primitive);
            prep.finish(Taken { g, taps }, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(g, x.primitive).0),
    }
}

/// What the gradient needs: the pooling and, per output, the window position it took.
#[derive(Clone, Debug)]
struct Taken {
    g: Window,
    taps: Vec<u8>,
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    type State = Taken;

    fn backward(self, ops: Ops<Taken, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Taken { g, taps } = ops.state;
        let [parent] = ops.parents;
        if let Some(node) = parent {
            grads.register::<Flex>(
                node.id,
                flex(kernels::backward(&g, &taps, values(&dy)), [g.n, g.c, g.h, g.w]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::nn::PaddingConfig2d;
    use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use crate::ops::checks::values;

    fn pool(kernel: usize, stride: usize, pad: usize) -> MaxPool2d {
        MaxPool2dConfig::new([kernel, kernel])
            .with_strides([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .init()
    }

    /// Values on a coarse grid, so that windows hold ties (the first largest must win, as in
    /// Burn's), with a NaN in the middle of the image and one in a corner.
    fn input(shape: [usize; 4]) -> Tensor<Flex, 4> {
        let device = Default::default();
        let x = Tensor::<Flex, 4>::random(shape, Distribution::Uniform(-2.0, 2.0), &device).round();
        let [n, c, h, w] = shape;
        let nan = Tensor::<Flex, 4>::full([1, 1, 1, 1], f32::NAN, &device);
        x.slice_assign([0..1, 0..1, h / 2..h / 2 + 1, w / 2..w / 2 + 1], nan.clone())
            .slice_assign([n - 1..n, c - 1..c, 0..1, 0..1], nan)
    }

    /// Through autodiff, the pooled values and the input gradient are Burn's bit for bit, for the
    /// stem's pooling and for shapes with uneven edges, no padding and overlapping strides.
    fn gradients_on<C: CheckpointStrategy>() {
        for (shape, (k, s, p)) in [
            ([2, 3, 11, 11], (3, 2, 1)),
            ([2, 3, 12, 10], (3, 2, 1)),
            ([1, 2, 9, 7], (2, 2, 0)),
            ([1, 2, 8, 9], (3, 1, 1)),
            ([1, 1, 10, 10], (4, 3, 2)),
        ] {
            let (x0, pool) = (input(shape), pool(k, s, p));
            type Pool<'a, C> =
                dyn Fn(Tensor<Autodiff<Flex, C>, 4>) -> Tensor<Autodiff<Flex, C>, 4> + 'a;
            let grads = |f: &Pool<'_, C>| {
                let x = Tensor::<Autodiff<Flex, C>, 4>::from_inner(x0.clone()).require_grad();
                let y = f(x.clone());
                // A weighting per output position, so every gradient entry differs.
                let weights = Tensor::<Autodiff<Flex, C>, 4>::from_inner(
                    y.clone().inner().cos().mul_scalar(3.0),
                );
                let grads = (y.clone() * weights).sum().backward();
                (values(y.inner()), values(x.grad(&grads).unwrap()))
            };
            let (y, dx) = grads(&|x| crate::ops::max_pool2d(&pool, x));
            let (by, bdx) = grads(&|x| pool.forward(x));
            let what = format!("{shape:?}, kernel {k}, stride {s}, padding {p}");
            // NaN ≠ NaN: compare the bits.
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(bits(y), bits(by), "output, {what}");
            assert_eq!(bits(dx), bits(bdx), "input gradient, {what}");
        }
    }

    #[test]
    fn pooling_and_gradient_are_burns_bit_for_bit() {
        gradients_on::<BalancedCheckpointing>();
        gradients_on::<NoCheckpointing>();
    }

    #[test]
    fn inference_and_unsupported_pooling() {
        let x = input([2, 3, 9, 9]);
        let bits = |t: Tensor<Flex, 4>| values(t).into_iter().map(f32::to_bits).collect::<Vec<_>>();
        let stem = pool(3, 2, 1);
        assert_eq!(bits(crate::ops::max_pool2d(&stem, x.clone())), bits(stem.forward(x.clone())));
        // Dilation, ceil rounding and asymmetric padding are Burn's.
        for other in [
            MaxPool2dConfig::new([3, 3]).with_dilation([2, 2]).init(),
            MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_ceil_mode(true).init(),
            MaxPool2dConfig::new([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 0, 0)).init(),
            MaxPool2dConfig::new([2, 2]).with_padding(PaddingConfig2d::Same).init(),
        ] {
            assert!(super::window(&other, &x).is_none(), "{other:?}");
            assert_eq!(
                bits(crate::ops::max_pool2d(&other, x.clone())),
                bits(other.forward(x.clone()))
            );
        }
    }
}
