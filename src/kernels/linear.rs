//! The linear layers' op, `x·W + b` on `[rows, d_in]`, forward and backward, over f32 slices.
//! Flex's composes a matmul and a broadcast bias add, and allocates every matmul output as
//! zeroed bytes that it then copies once more to align them: three passes over each output
//! besides the product itself, and in Swin's MLPs the outputs are the largest tensors there
//! are. Here the bias is written into the output and the GEMM adds onto it, and the gradients
//! are written straight into buffers of their own.

use rayon::prelude::*;

use crate::kernels::fresh;
use crate::kernels::gemm::{Mat, MatMut, matmul_parallel};

/// Bias-gradient partial sums (fixed, so sums never depend on the thread count).
const CHUNKS: usize = 8;

/// Output rows per task that writes the bias into a fresh output.
const FILL_ROWS: usize = 32;

/// `[rows, d_in]` · `[d_in, d_out]`.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub rows: usize,
    pub d_in: usize,
    pub d_out: usize,
}

/// y = x·W + b, `[rows, d_out]`.
pub fn forward(g: Dims, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    // y = b (or 0), written block by block on all cores, then y += x·W.
    let block = match bias {
        Some(b) => b.repeat(FILL_ROWS),
        None => vec![0.0; FILL_ROWS * g.d_out],
    };
    let size = block.len();
    let blocks = (0..g.rows.div_ceil(FILL_ROWS)).into_par_iter();
    let mut y = fresh::par_init(g.rows * g.d_out, size, blocks, |rows, _| {
        fresh::copied(rows, &block[..rows.len()])
    });
    let (x, w) = (Mat::rows(x, g.rows, g.d_in), Mat::rows(weight, g.d_in, g.d_out));
    matmul_parallel(MatMut::rows(&mut y, g.rows, g.d_out), x, w, 1.0, bias.is_some());
    y
}

/// dx = dy·Wᵀ, `[rows, d_in]`.
pub fn grad_input(g: Dims, weight: &[f32], dy: &[f32]) -> Vec<f32> {
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
pub fn grad_weight(g: Dims, x: &[f32], dy: &[f32]) -> Vec<f32> {
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
pub fn grad_bias(g: Dims, dy: &[f32]) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

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
