//! LayerNorm over the last axis of plain f32 rows, forward and backward. A row's mean and
//! variance are recomputed wherever needed (a row is a few hundred values), so nothing but the
//! input is kept. γ's and β's gradients are summed over fixed
//! chunks of rows, then in order, so they do not depend on the number of threads.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::{fresh, lanes};

/// Partial sums of γ's and β's gradients (fixed, so sums never depend on the thread count).
const CHUNKS: usize = 32;

/// `(x − mean)/√(var + ε)·γ + β` along each row of `d` values (biased variance, as Burn's).
pub fn forward(d: usize, x: &[f32], gamma: &[f32], beta: Option<&[f32]>, epsilon: f32) -> Vec<f32> {
    let task = d * rows_per_task(x.len() / d);
    fresh::par_zeroed(x.len(), task, x.par_chunks(task), |out, x| {
        for (out, x) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
            let (mean, inv) = moments(x, epsilon);
            normalise_row(out, x, mean, inv, gamma, beta);
        }
    })
}

/// Rows per parallel task in the forward: enough values for the task to outweigh its cost.
fn rows_per_task(rows: usize) -> usize {
    rows.div_ceil(64).max(1)
}

/// The gradients with respect to `x`, γ and β from the output's `dy`:
/// `dx = inv·(g − mean(g) − x̂·mean(g·x̂))` with `g = dy·γ`, `dγ = Σ dy·x̂`, `dβ = Σ dy`.
pub fn backward(
    d: usize,
    x: &[f32],
    gamma: &[f32],
    epsilon: f32,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = x.len() / d;
    let per_chunk = rows.div_ceil(CHUNKS).max(1);
    let mut dx = fresh::zeros(x.len());
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(d * per_chunk)
        .zip(x.par_chunks(d * per_chunk).zip(dy.par_chunks(d * per_chunk)))
        .map(|(dx, (x, dy))| {
            let (mut d_gamma, mut d_beta) = (vec![0.0; d], vec![0.0; d]);
            for (dx, (x, dy)) in
                dx.chunks_exact_mut(d).zip(x.chunks_exact(d).zip(dy.chunks_exact(d)))
            {
                let (mean, inv) = moments(x, epsilon);
                gradient_row(dx, x, dy, mean, inv, gamma, &mut d_gamma, &mut d_beta);
            }
            (d_gamma, d_beta)
        })
        .collect();
    let (mut d_gamma, mut d_beta) = (vec![0.0; d], vec![0.0; d]);
    for (g, b) in partials {
        d_gamma.iter_mut().zip(g).for_each(|(s, v)| *s += v);
        d_beta.iter_mut().zip(b).for_each(|(s, v)| *s += v);
    }
    (dx, d_gamma, d_beta)
}

/// A row's mean and `1/√(var + ε)`.
#[multiversion(targets = "simd")]
fn moments(x: &[f32], epsilon: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = lanes::sum(x, |v| v) / n;
    let var = lanes::sum(x, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + epsilon).sqrt())
}

#[multiversion(targets = "simd")]
fn normalise_row(
    out: &mut [f32],
    x: &[f32],
    mean: f32,
    inv: f32,
    gamma: &[f32],
    beta: Option<&[f32]>,
) {
    match beta {
        Some(beta) => out
            .iter_mut()
            .zip(x)
            .zip(gamma.iter().zip(beta))
            .for_each(|((o, &v), (&g, &b))| *o = (v - mean) * inv * g + b),
        None => {
            out.iter_mut().zip(x).zip(gamma).for_each(|((o, &v), &g)| *o = (v - mean) * inv * g)
        }
    }
}

/// One row's input gradient, and its terms added to γ's and β's.
#[multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
fn gradient_row(
    dx: &mut [f32],
    x: &[f32],
    dy: &[f32],
    mean: f32,
    inv: f32,
    gamma: &[f32],
    d_gamma: &mut [f32],
    d_beta: &mut [f32],
) {
    let n = x.len() as f32;
    let (sum_g, sum_gx) = lanes::sums(x, dy, gamma, |v, dy, g| {
        let (x_hat, g) = ((v - mean) * inv, dy * g);
        [g, g * x_hat]
    });
    let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
    for (i, (d, (&v, &dy))) in dx.iter_mut().zip(x.iter().zip(dy)).enumerate() {
        let x_hat = (v - mean) * inv;
        *d = inv * (dy * gamma[i] - mean_g - x_hat * mean_gx);
        d_gamma[i] += dy * x_hat;
        d_beta[i] += dy;
    }
}

#[cfg(test)]
mod tests {
    use super::{backward, forward};
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// More rows than the backward's chunks; the same sums on one thread and on three.
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        let (x, dy, gamma) = (wave(100 * 48, 0.37), wave(100 * 48, 0.53), wave(48, 0.11));
        assert_same_on_1_and_3_threads(|| {
            (forward(48, &x, &gamma, None, 1e-5), backward(48, &x, &gamma, 1e-5, &dy))
        });
    }
}
