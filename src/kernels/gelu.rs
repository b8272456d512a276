//! The exact GELU, `x·Φ(x)`, forward and backward, over f32 slices. Flex computes it one
//! element at a time through libm's scalar `erff` (8% of a Swin training step on the CPU); here
//! `erf` and `exp` are branch-free polynomials that the compiler vectorises over whole slices.
//! Absolute error within 2.5·10⁻⁷ of the exact function (Abramowitz & Stegun's erf, in f32).

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::exp::exp;
use crate::kernels::fresh;

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;

/// `x·Φ(x)` for each value, in place.
pub fn forward_in_place(values: &mut [f32]) {
    values.par_chunks_mut(CHUNK).for_each(gelu_in_place);
}

/// `x·Φ(x)` for each value, into a fresh output.
pub fn forward(x: &[f32]) -> Vec<f32> {
    fresh::par_init(x.len(), CHUNK, x.par_chunks(CHUNK), |y, x| {
        let y = fresh::copied(y, x);
        gelu_in_place(y);
        y
    })
}

/// `dy · (Φ(x) + x·φ(x))`.
pub fn backward(x: &[f32], dy: &[f32]) -> Vec<f32> {
    let chunks = dy.par_chunks(CHUNK).zip(x.par_chunks(CHUNK));
    fresh::par_init(x.len(), CHUNK, chunks, |dx, (dy, x)| {
        let dx = fresh::copied(dx, dy);
        chain_in_place(dx, x);
        dx
    })
}

/// `x·Φ(x)` for each value. Like the other element-wise loops of the CPU kernels, compiled for
/// the widest vectors the CPU has (the build's baseline is SSE2); the arithmetic is the same,
/// so the values are too.
#[multiversion(targets = "simd")]
fn gelu_in_place(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v *= cdf_pdf(*v).0);
}

/// `dy ← dy·(Φ(x) + x·φ(x))` for each pair.
#[multiversion(targets = "simd")]
fn chain_in_place(dy: &mut [f32], x: &[f32]) {
    dy.iter_mut().zip(x).for_each(|(d, &x)| {
        let (cdf, pdf) = cdf_pdf(x);
        *d *= cdf + x * pdf;
    });
}

/// Φ(x) and φ(x), the standard normal's distribution and density.
#[inline(always)]
fn cdf_pdf(x: f32) -> (f32, f32) {
    // erf(z), z = |x|/√2 ≥ 0. Below ½ its Maclaurin series to z¹¹ (truncation < 2·10⁻⁸);
    // above, Abramowitz & Stegun 7.1.26, 1 − t·P(t)·e^(−z²) with t = 1/(1 + p·z) (absolute
    // error ≤ 1.5·10⁻⁷; near 0 it would lose digits to cancellation). Both are computed and
    // one picked, which keeps the loop branch-free.
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    const S: [f32; 6] = [1.0, -1.0 / 3.0, 1.0 / 10.0, -1.0 / 42.0, 1.0 / 216.0, -1.0 / 1320.0];
    let z = x.abs() * FRAC_1_SQRT_2;
    let z2 = z * z;
    let e = exp(-z2);
    let t = 1.0 / (1.0 + P * z);
    let tail = 1.0 - t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4])))) * e;
    let series = FRAC_2_SQRT_PI
        * z
        * (S[0] + z2 * (S[1] + z2 * (S[2] + z2 * (S[3] + z2 * (S[4] + z2 * S[5])))));
    let erf = if z < 0.5 { series } else { tail }.copysign(x);
    (0.5 * (1.0 + erf), e * (0.5 / PI).sqrt())
}

#[cfg(test)]
mod tests {
    /// Against f64's definition (erf from its series, exact enough here) over the range
    /// activations take, and the tails.
    #[test]
    fn values_and_derivatives_are_within_2_5e7_of_the_exact_function() {
        fn erf(x: f64) -> f64 {
            // Maclaurin series; converges for |x| ≤ 6 in f64 with 200 terms.
            let (mut term, mut sum) = (x, x);
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        }
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let (cdf, pdf) = super::cdf_pdf(x);
            let xd = f64::from(x);
            let want_cdf = 0.5 * (1.0 + erf(xd / 2f64.sqrt()));
            let want_pdf = (-xd * xd / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((f64::from(cdf) - want_cdf).abs() < 2.5e-7, "Φ({x}): {cdf} vs {want_cdf}");
            assert!((f64::from(pdf) - want_pdf).abs() < 2.5e-7, "φ({x}): {pdf} vs {want_pdf}");
        }
        assert_eq!(super::cdf_pdf(-200.0).0, 0.0);
        let (cdf, pdf) = super::cdf_pdf(200.0);
        assert!(cdf == 1.0 && pdf < 1e-37, "far tail: Φ {cdf}, φ {pdf}");
    }

    /// In place and into a fresh output, the same values, over several tasks.
    #[test]
    fn in_place_and_fresh_outputs_are_alike() {
        let x = crate::kernels::checks::wave(150_001, 0.37);
        let mut in_place = x.clone();
        super::forward_in_place(&mut in_place);
        assert_eq!(in_place, super::forward(&x));
    }
}
