//! The CPU kernels: multi-head attention with an additive bias over plain f32 slices, one
//! window (`n` tokens attending to each other) at a time, one small GEMM per product. The
//! probabilities never leave a window-sized buffer: the backward recomputes them.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::model::exp::exp;
use crate::model::gemm::{Mat, MatMut, matmul};

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
    fn probabilities(&self, window: &[f32], bias: &[f32], mask: Option<&[f32]>, w: usize, h: usize, p: &mut [f32]) {
        let (n, nn) = (self.n, self.n * self.n);
        matmul(MatMut::rows(p, n, n), self.part(window, 0, h), self.part(window, 1, h).t(), self.scale(), false);
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
        let max = lane_max(row);
        row.iter_mut().for_each(|v| *v = exp(*v - max));
        let inverse = 1.0 / lane_sum(row);
        row.iter_mut().for_each(|v| *v *= inverse);
    }
}

/// Through the softmax: `grad ← p ⊙ (grad − Σⱼ p·grad)`, row by row (`[rows, n]`).
#[multiversion(targets = "simd")]
fn softmax_backward_rows(p: &[f32], grad: &mut [f32], n: usize) {
    for (p_row, d_row) in p.chunks_exact(n).zip(grad.chunks_exact_mut(n)) {
        let dot = lane_dot(p_row, d_row);
        d_row.iter_mut().zip(p_row).for_each(|(d, p)| *d = p * (*d - dot));
    }
}

// The row reductions below run lane-wise: value `i` goes to lane `i % LANES`, then the lanes
// are reduced in order. A plain fold over a row is one long chain of dependent operations (the
// compiler does not reassociate f32 arithmetic); this is `LANES` short chains in one vector.
// The order depends on the row's length alone.

/// Vector width of the reductions: 16 f32 (one AVX-512 register, two AVX2 ones).
const LANES: usize = 16;

/// The largest value (NaNs ignored, as `f32::max`); −∞ for an empty row.
#[inline(always)]
fn lane_max(row: &[f32]) -> f32 {
    let larger = |m: f32, v: f32| if v > m { v } else { m };
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    acc.iter_mut().zip(chunks.remainder()).for_each(|(a, &v)| *a = larger(*a, v));
    for chunk in chunks {
        acc.iter_mut().zip(chunk).for_each(|(a, &v)| *a = larger(*a, v));
    }
    acc.into_iter().fold(f32::NEG_INFINITY, larger)
}

/// Σ row.
#[inline(always)]
fn lane_sum(row: &[f32]) -> f32 {
    let mut acc = [0.0; LANES];
    let chunks = row.chunks_exact(LANES);
    acc.iter_mut().zip(chunks.remainder()).for_each(|(a, &v)| *a = v);
    for chunk in chunks {
        acc.iter_mut().zip(chunk).for_each(|(a, &v)| *a += v);
    }
    acc.into_iter().sum()
}

/// Σ a·b.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    acc.iter_mut().zip(ca.remainder().iter().zip(cb.remainder())).for_each(|(s, (x, y))| *s = x * y);
    for (x, y) in ca.zip(cb) {
        acc.iter_mut().zip(x.iter().zip(y)).for_each(|(s, (x, y))| *s += x * y);
    }
    acc.into_iter().sum()
}

/// `[windows, n, heads·hd]`: each head's softmax(scale·q·kᵀ + bias + mask)·v, heads side by side.
pub fn forward(s: &Shape, qkv: &[f32], bias: &[f32], mask: Option<&[f32]>) -> Vec<f32> {
    let (n, c) = (s.n, s.c());
    let mut out = vec![0.0; s.windows * n * c];
    out.par_chunks_mut(n * c).zip(qkv.par_chunks(n * 3 * c)).enumerate().for_each_init(
        || vec![0.0; n * n],
        |p, (w, (out, window))| {
            for h in 0..s.heads {
                s.probabilities(window, bias, mask, w, h, p);
                matmul(MatMut::strided(&mut out[h * s.hd..], n, s.hd, c), Mat::rows(p, n, n), s.part(window, 2, h), 1.0, false);
            }
        },
    );
    out
}

/// The gradients with respect to `qkv` (`[windows, n, 3·heads·hd]`) and `bias`
/// (`[heads, n, n]`), from the output's `dout`.
pub fn backward(s: &Shape, qkv: &[f32], bias: &[f32], mask: Option<&[f32]>, dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (n, c, nn, hd) = (s.n, s.c(), s.n * s.n, s.hd);
    let per_chunk = s.windows.div_ceil(CHUNKS).max(1);
    let mut dqkv = vec![0.0; s.windows * n * 3 * c];
    let partials: Vec<Vec<f32>> = dqkv
        .par_chunks_mut(per_chunk * n * 3 * c)
        .zip(qkv.par_chunks(per_chunk * n * 3 * c))
        .zip(dout.par_chunks(per_chunk * n * c))
        .enumerate()
        .map(|(chunk, ((dqkv, qkv), dout))| {
            let mut dbias = vec![0.0; s.heads * nn];
            let (mut p, mut ds) = (vec![0.0; nn], vec![0.0; nn]);
            let windows = dqkv.chunks_exact_mut(n * 3 * c).zip(qkv.chunks_exact(n * 3 * c)).zip(dout.chunks_exact(n * c));
            for (i, ((dwindow, window), dout)) in windows.enumerate() {
                for h in 0..s.heads {
                    s.probabilities(window, bias, mask, chunk * per_chunk + i, h, &mut p);
                    let dout_h = Mat::strided(&dout[h * hd..], n, hd, c, 1);
                    // dV = Pᵀ·dO, dP = dO·Vᵀ.
                    matmul(MatMut::strided(&mut dwindow[2 * c + h * hd..], n, hd, 3 * c), Mat::rows(&p, n, n).t(), dout_h, 1.0, false);
                    matmul(MatMut::rows(&mut ds, n, n), dout_h, s.part(window, 2, h).t(), 1.0, false);
                    softmax_backward_rows(&p, &mut ds, n);
                    dbias[h * nn..][..nn].iter_mut().zip(&ds).for_each(|(b, d)| *b += d);
                    // dQ = scale·dS·K, dK = scale·dSᵀ·Q.
                    let scores = Mat::rows(&ds, n, n);
                    matmul(MatMut::strided(&mut dwindow[h * hd..], n, hd, 3 * c), scores, s.part(window, 1, h), s.scale(), false);
                    matmul(MatMut::strided(&mut dwindow[c + h * hd..], n, hd, 3 * c), scores.t(), s.part(window, 0, h), s.scale(), false);
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
    use super::{lane_dot, lane_max, lane_sum};

    /// Rows shorter than, equal to and between multiples of the lane count.
    #[test]
    fn lane_reductions_are_the_row_reductions() {
        for len in [0, 1, 7, 16, 17, 49, 64, 100] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 53 % 89) as f32 - 44.0) / 9.0).collect();
            assert_eq!(lane_max(&a), a.iter().copied().fold(f32::NEG_INFINITY, f32::max), "max of {len}");
            let sum: f64 = a.iter().map(|&v| f64::from(v)).sum();
            let dot: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
            let scale = 1.0 + a.iter().map(|&v| f64::from(v.abs())).sum::<f64>() * 10.0;
            assert!((f64::from(lane_sum(&a)) - sum).abs() < 1e-6 * scale, "sum of {len}");
            assert!((f64::from(lane_dot(&a, &b)) - dot).abs() < 1e-6 * scale, "dot of {len}");
        }
        // NaNs are passed over, as by `f32::max`, wherever they fall: here in the largest
        // value's lane, among the last values.
        let mut row = vec![1.0; 20];
        row[3] = f32::NAN;
        row[18] = f32::NAN;
        row[2] = 4.0;
        assert_eq!(lane_max(&row), 4.0);
    }
}
