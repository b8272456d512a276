//! The linear layers' op, `x·W + b` on `[rows, d_in]`, on the CPU backend (flex), forward and
//! backward. Burn's composes a matmul and a broadcast bias add, and flex allocates every
//! matmul output as zeroed bytes that it then copies once more to align them: three passes
//! over each output besides the product itself, and in Swin's MLPs the outputs are the largest
//! tensors there are. Here the bias is written into the output and the GEMM adds onto it, and
//! the gradients are written straight into buffers of their own.
//!
//! One node of the autodiff graph ([`super::weighted`]). `Flex` and `Autodiff<Flex>` take this
//! path for f32 tensors; every other backend (CUDA) or
//! dtype (bf16 under autocast) goes through Burn's `linear`.

use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::module::linear as burn_linear;
use rayon::prelude::*;

use super::flex::{OnFlex, flex, values};
use super::fresh;
use super::gemm::{Mat, MatMut, matmul_parallel};
use super::weighted::{self, WeightedOp};

/// Bias-gradient partial sums (fixed, so sums never depend on the thread count).
const CHUNKS: usize = 8;

/// Output rows per task that writes the bias into a fresh output.
const FILL_ROWS: usize = 32;

/// `[…, d_in]` · `weight` `[d_in, d_out]` + `bias` `[d_out]` → `[…, d_out]`, as
/// `burn::tensor::module::linear`.
pub fn linear<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, D> {
    let f32s = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.as_ref().is_none_or(|b| b.dtype() == DType::F32);
    let [d_in, d_out] = weight.dims();
    let mut dims = x.dims();
    let rows = x.shape().num_elements() / d_in.max(1);
    let on = OnFlex::of::<B>().filter(|_| f32s && dims[D - 1] == d_in && rows * d_in * d_out > 0);
    let Some(on) = on else {
        return burn_linear(x, weight, bias);
    };
    let g = Dims { rows, d_in, d_out };
    let x = x.reshape([rows, d_in]);
    let y: Tensor<B, 2> = weighted::apply(g, on, x, weight, bias);
    dims[D - 1] = d_out;
    y.reshape(dims)
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    rows: usize,
    d_in: usize,
    d_out: usize,
}

/// dx = dy·Wᵀ, `[rows, d_in]`.
fn grad_input(g: Dims, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = fresh::zeros(g.rows * g.d_in);
    matmul_parallel(
        MatMut::rows(&mut dx, g.rows, g.d_in),
        Mat::rows(dy, g.rows, g.d_out),
        Mat::rows(weight, g.d_in, g.d_out).t(),
        1.0,
        false,
    );
    dx
}

/// dW = xᵀ·dy, `[d_in, d_out]`.
fn grad_weight(g: Dims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dw = vec![0.0; g.d_in * g.d_out];
    matmul_parallel(
        MatMut::rows(&mut dw, g.d_in, g.d_out),
        Mat::rows(x, g.rows, g.d_in).t(),
        Mat::rows(dy, g.rows, g.d_out),
        1.0,
        false,
    );
    dw
}

/// db = Σ_rows dy, `[d_out]`: partial sums over fixed blocks of rows, added in order.
fn grad_bias(g: Dims, dy: &[f32]) -> Vec<f32> {
    let column_sums = |rows: &[f32]| {
        let mut sum = vec![0.0; g.d_out];
        rows.chunks_exact(g.d_out)
            .for_each(|row| sum.iter_mut().zip(row).for_each(|(s, v)| *s += v));
        sum
    };
    let partials: Vec<Vec<f32>> =
        dy.par_chunks(g.rows.div_ceil(CHUNKS) * g.d_out).map(column_sums).collect();
    partials
        .into_iter()
        .reduce(|mut sum, part| {
            sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
            sum
        })
        .expect("at least one row")
}

impl WeightedOp for Dims {
    fn forward(self, x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        // y = b (or 0), written block by block on all cores, then y += x·W.
        let block = match &bias {
            Some(b) => values(&b.to_contiguous()).repeat(FILL_ROWS),
            None => vec![0.0; FILL_ROWS * self.d_out],
        };
        let size = block.len();
        let blocks = (0..self.rows.div_ceil(FILL_ROWS)).into_par_iter();
        let mut y = fresh::par_init(self.rows * self.d_out, size, blocks, |rows, _| {
            rows.write_copy_of_slice(&block[..rows.len()])
        });
        let (x, w) = (
            Mat::rows(values(&x), self.rows, self.d_in),
            Mat::rows(values(&weight), self.d_in, self.d_out),
        );
        matmul_parallel(MatMut::rows(&mut y, self.rows, self.d_out), x, w, 1.0, bias.is_some());
        flex(y, [self.rows, self.d_out])
    }

    fn grad_input(self, weight: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        flex(grad_input(self, values(&weight.to_contiguous()), values(dy)), [self.rows, self.d_in])
    }

    fn grad_weight(self, x: FlexTensor, dy: &FlexTensor) -> FlexTensor {
        flex(grad_weight(self, values(&x.to_contiguous()), values(dy)), [self.d_in, self.d_out])
    }

    fn grad_bias(self, dy: &FlexTensor) -> FlexTensor {
        flex(grad_bias(self, values(dy)), [self.d_out])
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

    use crate::model::kernel_checks::{assert_close, assert_same_on_1_and_3_threads, values, wave};

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
        let (y, dx, dw, db) = run(super::linear);
        let (by, bdx, bdw, bdb) = run(burn_linear);
        let g = super::Dims { rows: rows[0] * rows[1], d_in, d_out };
        let dy = values(y.clone().cos());
        assert_eq!(
            values(dx.clone()),
            super::grad_input(g, &values(w0.clone()), &dy),
            "{what}: input gradient"
        );
        assert_eq!(
            values(dw.clone()),
            super::grad_weight(g, &values(x0.clone()), &dy),
            "{what}: weight gradient"
        );
        assert_close(y, by, &format!("{what}: output"));
        assert_close(dx, bdx, &format!("{what}: input gradient"));
        assert_close(dw, bdw, &format!("{what}: weight gradient"));
        match (db, bdb) {
            (Some(db), Some(bdb)) => {
                assert!(with_bias);
                assert_eq!(values(db.clone()), super::grad_bias(g, &dy), "{what}: bias gradient");
                assert_close(db, bdb, &format!("{what}: bias gradient"));
            }
            (db, bdb) => {
                assert!(!with_bias && db.is_none() && bdb.is_none(), "{what}: bias gradient")
            }
        }
        // Inference takes the kernel too.
        let plain = super::linear(x0.clone(), w0.clone(), with_bias.then(|| b0.clone()));
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

    /// The bias gradient sums fixed blocks of rows: the same bits on one thread as on several.
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        let g = super::Dims { rows: 1001, d_in: 300, d_out: 250 };
        let (x, w, dy) = (wave(1001 * 300, 0.37), wave(300 * 250, 0.11), wave(1001 * 250, 0.53));
        assert_same_on_1_and_3_threads(|| {
            (
                super::grad_input(g, &w, &dy),
                super::grad_weight(g, &x, &dy),
                super::grad_bias(g, &dy),
            )
        });
    }
}
