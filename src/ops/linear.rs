//! The linear layers on the CPU backend (flex), forward and backward, through the kernels
//! ([`crate::kernels::linear`]): `x·W + b` on `[rows, d_in]`, one node of the autodiff graph
//! ([`super::weighted`]). `Flex` and `Autodiff<Flex, C>` take this path for f32 tensors; every
//! other backend (CUDA) or dtype (bf16 under autocast) goes through Burn's `linear`.
//!
//! A `Linear` layer is applied to the rows of a tensor of any rank as one matrix product
//! ([`super::linear`]). Burn's `Linear` on `[B, …, d_in]` is a batched matmul against a broadcast
//! weight, and its weight gradient is then one small `x_bᵀ · g_b` product per leading index,
//! materialised as `[B, …, d_in, d_out]` and summed: in Swin's MLP at 112 px that is ~130 MB
//! per layer and was 44% of a CPU training step. Flattening the leading dimensions first makes
//! the forward one GEMM and the weight gradient one GEMM as well. Same parameters, same result.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::module::linear as burn_linear;

use super::flex::{flex, values};
use super::weighted::{self, WeightedOp};
use crate::kernels::linear::{self as kernels, Dims};

/// `[…, d_in]` · `weight` `[d_in, d_out]` + `bias` `[d_out]` → `[…, d_out]` on `Flex`, as
/// `burn::tensor::module::linear`.
pub fn plain<const D: usize>(
    x: Tensor<Flex, D>,
    weight: Tensor<Flex, 2>,
    bias: Option<Tensor<Flex, 1>>,
) -> Tensor<Flex, D> {
    let Some(g) = dims(&x, &weight, bias.as_ref()) else {
        return burn_linear(x, weight, bias);
    };
    let mut shape = x.dims();
    let y: Tensor<Flex, 2> = weighted::plain(g, x.reshape([g.rows, g.d_in]), weight, bias);
    shape[D - 1] = g.d_out;
    y.reshape(shape)
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy, const D: usize>(
    x: Tensor<Autodiff<Flex, C>, D>,
    weight: Tensor<Autodiff<Flex, C>, 2>,
    bias: Option<Tensor<Autodiff<Flex, C>, 1>>,
) -> Tensor<Autodiff<Flex, C>, D> {
    let Some(g) = dims(&x, &weight, bias.as_ref()) else {
        return burn_linear(x, weight, bias);
    };
    let mut shape = x.dims();
    let y: Tensor<Autodiff<Flex, C>, 2> =
        weighted::tracked::<C, _, 2, 2, 2>(g, x.reshape([g.rows, g.d_in]), weight, bias);
    shape[D - 1] = g.d_out;
    y.reshape(shape)
}

/// The product's shape, where the kernels can compute it.
fn dims<B: burn::tensor::backend::Backend, const D: usize>(
    x: &Tensor<B, D>,
    weight: &Tensor<B, 2>,
    bias: Option<&Tensor<B, 1>>,
) -> Option<Dims> {
    let f32s = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    let [d_in, d_out] = weight.dims();
    let rows = x.shape().num_elements() / d_in.max(1);
    (f32s && x.dims()[D - 1] == d_in && rows * d_in * d_out > 0).then_some(Dims {
        rows,
        d_in,
        d_out,
    })
}

impl WeightedOp for Dims {
    fn forward(self, x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let bias = bias.map(|b| b.to_contiguous());
        let y = kernels::forward(self, values(&x), values(&weight), bias.as_ref().map(values));
        flex(y, [self.rows, self.d_out])
    }

    fn grad_input(self, weight: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        let dx = kernels::grad_input(self, values(&weight.to_contiguous()), values(dy));
        flex(dx, [self.rows, self.d_in])
    }

    fn grad_weight(self, x: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        let dw = kernels::grad_weight(self, values(&x.to_contiguous()), values(dy));
        flex(dw, [self.d_in, self.d_out])
    }

    fn grad_bias(self, dy: &FlexTensor) -> FlexTensor {
        flex(kernels::grad_bias(self, values(dy)), [self.d_out])
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::linear as burn_linear;

    use crate::kernels::linear as kernels;
    use crate::ops::checks::{assert_close, values};

    /// Through autodiff, the output and the three gradients are the kernels' (bit for bit: this
    /// path was taken) and agree with Burn's `linear`; with and without a bias, on rows of
    /// any rank.
    fn gradients_on<C: CheckpointStrategy>(
        rows: [usize; 2],
        d_in: usize,
        d_out: usize,
        with_bias: bool,
    ) {
        type F = Flex;
        let device = Default::default();
        let x0 = Tensor::<F, 3>::random([rows[0], rows[1], d_in], Distribution::Default, &device);
        let w0 = Tensor::<F, 2>::random([d_in, d_out], Distribution::Default, &device);
        let b0 = Tensor::<F, 1>::random([d_out], Distribution::Default, &device);
        type Linear<C> = fn(
            Tensor<Autodiff<F, C>, 3>,
            Tensor<Autodiff<F, C>, 2>,
            Option<Tensor<Autodiff<F, C>, 1>>,
        ) -> Tensor<Autodiff<F, C>, 3>;
        let run = |linear: Linear<C>| {
            let x = Tensor::<Autodiff<F, C>, 3>::from_inner(x0.clone()).require_grad();
            let w = Tensor::<Autodiff<F, C>, 2>::from_inner(w0.clone()).require_grad();
            let b = Tensor::<Autodiff<F, C>, 1>::from_inner(b0.clone()).require_grad();
            let y = linear(x.clone(), w.clone(), with_bias.then(|| b.clone()));
            // A weighting per output entry, so every gradient entry differs.
            let grads = (y.clone() * Tensor::from_inner(y.clone().inner().cos())).sum().backward();
            (y.inner(), x.grad(&grads).unwrap(), w.grad(&grads).unwrap(), b.grad(&grads))
        };
        let what = format!("{rows:?} × {d_in} → {d_out}, bias {with_bias}");
        let (y, dx, dw, db) = run(crate::ops::Backend::linear);
        let (by, bdx, bdw, bdb) = run(burn_linear);
        let g = kernels::Dims { rows: rows[0] * rows[1], d_in, d_out };
        let dy = values(y.clone().cos());
        assert_eq!(
            values(dx.clone()),
            kernels::grad_input(g, &values(w0.clone()), &dy),
            "{what}: input gradient"
        );
        assert_eq!(
            values(dw.clone()),
            kernels::grad_weight(g, &values(x0.clone()), &dy),
            "{what}: weight gradient"
        );
        assert_close(y, by, &format!("{what}: output"));
        assert_close(dx, bdx, &format!("{what}: input gradient"));
        assert_close(dw, bdw, &format!("{what}: weight gradient"));
        match (db, bdb) {
            (Some(db), Some(bdb)) => {
                assert!(with_bias);
                assert_eq!(values(db.clone()), kernels::grad_bias(g, &dy), "{what}: bias gradient");
                assert_close(db, bdb, &format!("{what}: bias gradient"));
            }
            (db, bdb) => {
                assert!(!with_bias && db.is_none() && bdb.is_none(), "{what}: bias gradient")
            }
        }
        // Inference takes the kernel too.
        let plain =
            crate::ops::Backend::linear(x0.clone(), w0.clone(), with_bias.then(|| b0.clone()));
        assert_close(
            plain,
            burn_linear(x0, w0, with_bias.then_some(b0)),
            &format!("{what}: inference"),
        );
    }

    #[test]
    fn gradients_are_the_kernels_and_agree_with_burns() {
        gradients_on::<BalancedCheckpointing>([3, 5], 7, 4, true);
        gradients_on::<NoCheckpointing>([3, 5], 7, 4, false);
        // Large enough for gemm to split the products over threads, rows not a multiple of the
        // bias chunks.
        gradients_on::<BalancedCheckpointing>([2, 601], 200, 190, true);
    }

    #[test]
    fn same_output_and_gradients_as_burns_linear() {
        type AD = Autodiff<Flex>;
        let device = Default::default();
        let layer = burn::nn::LinearConfig::new(6, 5).init::<AD>(&device);
        let x =
            Tensor::<AD, 4>::random([2, 3, 4, 6], Distribution::Default, &device).require_grad();
        let ours = crate::ops::linear(&layer, x.clone());
        let theirs = layer.forward(x.clone());
        assert_eq!(ours.dims(), [2, 3, 4, 5]);
        let diff = |a: Tensor<Flex, 4>, b: Tensor<Flex, 4>| (a - b).abs().max().into_scalar();
        assert!(diff(ours.clone().inner(), theirs.clone().inner()) < 1e-6);
        let (g1, g2) = (ours.sum().backward(), theirs.sum().backward());
        let w = |g| layer.weight.grad(g).unwrap();
        assert!((w(&g1) - w(&g2)).abs().max().into_scalar() < 1e-5, "weight gradients");
        assert!(diff(x.grad(&g1).unwrap(), x.grad(&g2).unwrap()) < 1e-6, "input gradients");
    }
}
