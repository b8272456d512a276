//! The CPU kernels: multi-head attention with an additive bias over plain f32 slices, one
//! window (`n` tokens attending to each other) at a time, one small GEMM per product. The
//! probabilities never leave a window-sized buffer: the backward recomputes them.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::exp::exp;
use crate::kernels::fresh;
use crate::kernels::gemm::{Mat, MatMut, matmul};
use crate::kernels::lanes;
use crate::kernels::scratch::with_scratch;

/// Weight-gradient partial sums per backward (fixed, so sums never depend on the thread count).
const CHUNKS: usize = 32;

/// `windows` independent attention problems of `n` tokens, `heads` heads `hd` wide. Inputs:
/// `qkv` `[windows, n, 3·heads·hd]` (per token: q, k, v, each head after head), `bias`
/// `[heads, n, n]`, and an optional `mask` `[masks, n, n]` of which window `w` adds entry
/// `w % masks`. Output `[windows, n, heads·hd]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub windows: usize,
    pub n: usize,
    pub heads: usize,
    pub hd: usize,
    /// 0: no mask.
    pub masks: usize,
}

impl Shape {
    fn c(&self) -> usize {
        self.heads * self.hd
    }

    /// As the composed path's `mul_scalar(hd^-½)` (an f64 cast to the element type).
    fn scale(&self) -> f32 {
        (self.hd as f64).powf(-0.5) as f32
    }

    /// Head `h`'s queries (`part` 0), keys (1) or values (2) in one window's `qkv`, `[n, hd]`.
    fn part<'a>(&self, window: &'a [f32], part: usize, h: usize) -> Mat<'a> {
        Mat::strided(&window[part * self.c() + h * self.hd..], self.n, self.hd, 3 * self.c(), 1)
    }

    /// `p` `[n, n]` = softmax(scale·q·kᵀ + bias + mask) of window `w`, head `h`, by rows.
    fn probabilities(
        &self,
        window: &[f32],
        bias: &[f32],
        mask: Option<&[f32]>,
        w: usize,
        h: usize,
        p: &mut [f32],
    ) {
        let (n, nn) = (self.n, self.n * self.n);
        matmul(
            MatMut::rows(p, n, n),
            self.part(window, 0, h),
            self.part(window, 1, h).t(),
            self.scale(),
            false,
        );
        softmax_rows(p, n, &bias[h * nn..][..nn], mask.map(|m| &m[(w % self.masks) * nn..][..nn]));
    }
}

/// Adds `bias` and `mask` to `scores` `[rows, n]`, then a softmax along each row. Compiled for
/// the widest vectors the CPU has (the build's baseline is SSE2), with the same arithmetic.
#[multiversion(targets = "simd")]
fn softmax_rows(scores: &mut [f32], n: usize, bias: &[f32], mask: Option<&[f32]>) {
    scores.iter_mut().zip(bias).for_each(|(s, b)| *s += b);
    if let Some(mask) = mask {
        scores.iter_mut().zip(mask).for_each(|(s, m)| *s += m);
    }
    for row in scores.chunks_exact_mut(n) {
        let max = lanes::max(row);
        row.iter_mut().for_each(|v| *v = exp(*v - max));
        let inverse = 1.0 / lanes::sum(row, |v| v);
        row.iter_mut().for_each(|v| *v = flush(*v * inverse));
    }
}

/// Through the softmax: `grad ← p ⊙ (grad − Σⱼ p·grad)`, row by row (`[rows, n]`).
#[multiversion(targets = "simd")]
fn softmax_backward_rows(p: &[f32], grad: &mut [f32], n: usize) {
    for (p_row, d_row) in p.chunks_exact(n).zip(grad.chunks_exact_mut(n)) {
        let dot = lanes::sums(p_row, d_row, p_row, |p, d, _| [p * d, 0.0]).0;
        d_row.iter_mut().zip(p_row).for_each(|(d, p)| *d = flush(p * (*d - dot)));
    }
}

/// `v`, or 0 where it lies below f32's normal range (NaN stays NaN). A masked score's
/// probability (e⁻¹⁰⁰ or less) is subnormal, and subnormal operands slow the products that
/// follow some 60-fold on x86 (measured on a 49×49·49×32 product: 2 against 126 GFLOP/s).
#[inline(always)]
fn flush(v: f32) -> f32 {
    if v.abs() < f32::MIN_POSITIVE { 0.0 } else { v }
}

/// `[windows, n, heads·hd]`: each head's softmax(scale·q·kᵀ + bias + mask)·v, heads side by side.
pub fn forward(s: &Shape, qkv: &[f32], bias: &[f32], mask: Option<&[f32]>) -> Vec<f32> {
    let (n, c) = (s.n, s.c());
    fresh::par_zeroed(
        s.windows * n * c,
        n * c,
        qkv.par_chunks(n * 3 * c).enumerate(),
        |out, (w, window)| {
            with_scratch(n * n, 0, |p, _| {
                for h in 0..s.heads {
                    s.probabilities(window, bias, mask, w, h, p);
                    matmul(
                        MatMut::strided(&mut out[h * s.hd..], n, s.hd, c),
                        Mat::rows(p, n, n),
                        s.part(window, 2, h),
                        1.0,
                        false,
                    );
                }
            });
        },
    )
}

/// The gradients with respect to `qkv` (`[windows, n, 3·heads·hd]`) and `bias`
/// (`[heads, n, n]`), from the output's `dout`.
pub fn backward(
    s: &Shape,
    qkv: &[f32],
    bias: &[f32],
    mask: Option<&[f32]>,
    dout: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let (n, c, nn, hd) = (s.n, s.c(), s.n * s.n, s.hd);
    let per_chunk = s.windows.div_ceil(CHUNKS).max(1);
    let mut dqkv = fresh::zeros(s.windows * n * 3 * c);
    let partials: Vec<Vec<f32>> = dqkv
        .par_chunks_mut(per_chunk * n * 3 * c)
        .zip(qkv.par_chunks(per_chunk * n * 3 * c))
        .zip(dout.par_chunks(per_chunk * n * c))
        .enumerate()
        .map(|(chunk, ((dqkv, qkv), dout))| {
            let mut dbias = vec![0.0; s.heads * nn];
            let (mut p, mut ds) = (vec![0.0; nn], vec![0.0; nn]);
            let windows = dqkv
                .chunks_exact_mut(n * 3 * c)
                .zip(qkv.chunks_exact(n * 3 * c))
                .zip(dout.chunks_exact(n * c));
            for (i, ((dwindow, window), dout)) in windows.enumerate() {
                for h in 0..s.heads {
                    s.probabilities(window, bias, mask, chunk * per_chunk + i, h, &mut p);
                    let dout_h = Mat::strided(&dout[h * hd..], n, hd, c, 1);
                    // dV = Pᵀ·dO, dP = dO·Vᵀ.
                    matmul(
                        MatMut::strided(&mut dwindow[2 * c + h * hd..], n, hd, 3 * c),
                        Mat::rows(&p, n, n).t(),
                        dout_h,
                        1.0,
                        false,
                    );
                    matmul(
                        MatMut::rows(&mut ds, n, n),
                        dout_h,
                        s.part(window, 2, h).t(),
                        1.0,
                        false,
                    );
                    softmax_backward_rows(&p, &mut ds, n);
                    dbias[h * nn..][..nn].iter_mut().zip(&ds).for_each(|(b, d)| *b += d);
                    // dQ = scale·dS·K, dK = scale·dSᵀ·Q.
                    let scores = Mat::rows(&ds, n, n);
                    matmul(
                        MatMut::strided(&mut dwindow[h * hd..], n, hd, 3 * c),
                        scores,
                        s.part(window, 1, h),
                        s.scale(),
                        false,
                    );
                    matmul(
                        MatMut::strided(&mut dwindow[c + h * hd..], n, hd, 3 * c),
                        scores.t(),
                        s.part(window, 0, h),
                        s.scale(),
                        false,
                    );
                }
            }
            dbias
        })
        .collect();
    let dbias = partials
        .into_iter()
        .reduce(|mut sum, part| {
            sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
            sum
        })
        .unwrap_or_else(|| vec![0.0; s.heads * nn]);
    (dqkv, dbias)
}

#[cfg(test)]
mod tests {
    use super::{Shape, backward, forward};
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// The bias gradient sums over windows in chunks fixed by the shape: the same bits on one
    /// thread as on several.
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        let s = Shape { windows: 100, n: 7, heads: 2, hd: 5, masks: 4 };
        let (qkv, bias, mask, dout) = (
            wave(100 * 7 * 30, 0.37),
            wave(2 * 49, 0.11),
            wave(4 * 49, 0.7),
            wave(100 * 7 * 10, 0.53),
        );
        assert_same_on_1_and_3_threads(|| {
            (forward(&s, &qkv, &bias, Some(&mask)), backward(&s, &qkv, &bias, Some(&mask), &dout))
        });
    }

    /// Masked scores (−100, timm's) come out exactly 0, and nothing subnormal comes out of the
    /// softmax or its gradient; the rest of each row still sums to 1.
    #[test]
    fn probabilities_below_the_normal_range_are_zero() {
        let n = 49;
        let scores: Vec<f32> = (0..n * n).map(|i| (i % 11) as f32 * 0.7).collect();
        let mask: Vec<f32> =
            (0..n * n).map(|i| if (i / n + i % n) % 3 == 0 { -100.0 } else { 0.0 }).collect();
        let mut p = scores.clone();
        super::softmax_rows(&mut p, n, &vec![0.0; n * n], Some(&mask));
        for (row, mask) in p.chunks_exact(n).zip(mask.chunks_exact(n)) {
            assert!(
                row.iter().zip(mask).all(|(&p, &m)| (p == 0.0) == (m < 0.0)),
                "masked: exactly 0; else positive"
            );
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let mut grad: Vec<f32> = (0..n * n).map(|i| ((i % 13) as f32 - 6.0) * 1e-36).collect();
        super::softmax_backward_rows(&p, &mut grad, n);
        assert!(p.iter().chain(&grad).all(|v| !v.is_subnormal()), "no subnormal values");
        assert!(grad.iter().any(|&v| v != 0.0), "the gradient is not all flushed");
    }
}
