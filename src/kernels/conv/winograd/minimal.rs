//! Winograd's minimal filtering algorithms F(m×m, 3×3) (Lavin & Gray, 2016): the transforms'
//! matrices, and the one step every transform here is made of, a weighted sum of runs.
//!
//! With Bᵀ (t×t, t = m + 2), G (t×3) and Aᵀ (m×t), an m×m output tile is Aᵀ·[(G·g·Gᵀ) ⊙
//! (Bᵀ·d·B)]·A for the t×t input tile d and the 3×3 kernel g: t² products where the
//! definition takes 9·m².

/// One algorithm's tile sizes and transforms (row-major).
pub struct Minimal {
    /// Output tile side.
    pub m: usize,
    bt: &'static [f32],
    g: &'static [f32],
    at: &'static [f32],
}

/// F(2×2, 3×3): 16 products per 4 outputs (2.25× fewer multiplications than the definition).
/// Coefficients 0, ±1 and ½: nearly no rounding of its own.
pub const F2: Minimal = Minimal {
    m: 2,
    bt: &[
        1.0, 0.0, -1.0, 0.0, //
        0.0, 1.0, 1.0, 0.0, //
        0.0, -1.0, 1.0, 0.0, //
        0.0, 1.0, 0.0, -1.0,
    ],
    g: &[
        1.0, 0.0, 0.0, //
        0.5, 0.5, 0.5, //
        0.5, -0.5, 0.5, //
        0.0, 0.0, 1.0,
    ],
    at: &[
        1.0, 1.0, 1.0, 0.0, //
        0.0, 1.0, -1.0, -1.0,
    ],
};

/// F(4×4, 3×3): 36 products per 16 outputs (4×), from the points 0, ±1, ±2 and ∞. Its larger
/// coefficients round more: over ResNet's 576-term sums, errors of 1–3·10⁻⁵ of the result's
/// largest value, against about 10⁻⁶ for F(2×2) and im2col (measured in the tests).
pub const F4: Minimal = Minimal {
    m: 4,
    bt: &[
        4.0, 0.0, -5.0, 0.0, 1.0, 0.0, //
        0.0, -4.0, -4.0, 1.0, 1.0, 0.0, //
        0.0, 4.0, -4.0, -1.0, 1.0, 0.0, //
        0.0, -2.0, -1.0, 2.0, 1.0, 0.0, //
        0.0, 2.0, -1.0, -2.0, 1.0, 0.0, //
        0.0, 4.0, 0.0, -5.0, 0.0, 1.0,
    ],
    g: &[
        1.0 / 4.0,
        0.0,
        0.0, //
        -1.0 / 6.0,
        -1.0 / 6.0,
        -1.0 / 6.0, //
        -1.0 / 6.0,
        1.0 / 6.0,
        -1.0 / 6.0, //
        1.0 / 24.0,
        1.0 / 12.0,
        1.0 / 6.0, //
        1.0 / 24.0,
        -1.0 / 12.0,
        1.0 / 6.0, //
        0.0,
        0.0,
        1.0,
    ],
    at: &[
        1.0, 1.0, 1.0, 1.0, 1.0, 0.0, //
        0.0, 1.0, -1.0, 2.0, -2.0, 0.0, //
        0.0, 1.0, 1.0, 4.0, 4.0, 0.0, //
        0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
    ],
};

impl Minimal {
    /// Input tile side.
    pub const fn t(&self) -> usize {
        self.m + 2
    }

    /// Entries of a transformed tile (products per tile and channel pair).
    pub const fn entries(&self) -> usize {
        self.t() * self.t()
    }

    /// Bᵀ[i][j].
    pub fn bt(&self, i: usize, j: usize) -> f32 {
        self.bt[i * self.t() + j]
    }

    /// G[i][k].
    pub fn g(&self, i: usize, k: usize) -> f32 {
        self.g[i * 3 + k]
    }

    /// Aᵀ[i][j].
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.at[i * self.t() + j]
    }
}

/// `out[i] = Σₖ coef(k)·input(k)[i]` for k < `terms`, terms with a zero coefficient left out,
/// in one pass over `out` (each input at least `out.len()` long). Inlined into the callers'
/// AVX-512 and AVX2 versions, where the pass is vectorised.
#[inline(always)]
pub fn combine<'a>(
    out: &mut [f32],
    terms: usize,
    coef: impl Fn(usize) -> f32,
    input: impl Fn(usize) -> &'a [f32],
) {
    let mut picked = [(0.0f32, &[][..]); 6];
    let mut count = 0;
    for k in 0..terms {
        let c = coef(k);
        if c != 0.0 {
            picked[count] = (c, &input(k)[..out.len()]);
            count += 1;
        }
    }
    match count {
        1 => sum::<1>(out, &picked),
        2 => sum::<2>(out, &picked),
        3 => sum::<3>(out, &picked),
        4 => sum::<4>(out, &picked),
        5 => sum::<5>(out, &picked),
        6 => sum::<6>(out, &picked),
        _ => unreachable!("a transform's row has 1 to 6 nonzero coefficients"),
    }
}

#[inline(always)]
fn sum<const K: usize>(out: &mut [f32], terms: &[(f32, &[f32]); 6]) {
    let coefs: [f32; K] = std::array::from_fn(|k| terms[k].0);
    let inputs: [&[f32]; K] = std::array::from_fn(|k| &terms[k].1[..out.len()]);
    for (i, v) in out.iter_mut().enumerate() {
        let mut s = coefs[0] * inputs[0][i];
        for k in 1..K {
            s += coefs[k] * inputs[k][i];
        }
        *v = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One output tile of each algorithm, in f64, against the definition.
    #[test]
    fn each_algorithm_computes_the_correlation() {
        for f in [&F2, &F4] {
            let (t, m) = (f.t(), f.m);
            let d: Vec<f64> = (0..t * t).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
            let g: Vec<f64> = (0..9).map(|i| ((i * 5 % 7) as f64 - 3.0) / 2.0).collect();
            let u = |i: usize, j: usize| -> f64 {
                (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| f.g(i, a) as f64 * g[3 * a + b] * f.g(j, b) as f64)
                    .sum()
            };
            let v = |i: usize, j: usize| -> f64 {
                (0..t)
                    .flat_map(|a| (0..t).map(move |b| (a, b)))
                    .map(|(a, b)| f.bt(i, a) as f64 * d[t * a + b] * f.bt(j, b) as f64)
                    .sum()
            };
            for (y, x) in (0..m).flat_map(|y| (0..m).map(move |x| (y, x))) {
                let got: f64 = (0..t)
                    .flat_map(|i| (0..t).map(move |j| (i, j)))
                    .map(|(i, j)| f.at(y, i) as f64 * u(i, j) * v(i, j) * f.at(x, j) as f64)
                    .sum();
                let want: f64 = (0..3)
                    .flat_map(|a| (0..3).map(move |b| (a, b)))
                    .map(|(a, b)| d[t * (y + a) + x + b] * g[3 * a + b])
                    .sum();
                assert!((got - want).abs() < 1e-5, "F({m}) at ({y}, {x}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn combine_skips_zero_coefficients_and_sums_the_rest() {
        let runs = [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]];
        let mut out = [0.0; 3];
        combine(&mut out, 3, |k| [2.0, 0.0, -1.0][k], |k| &runs[k][..]);
        assert_eq!(out, [-98.0, -196.0, -294.0]);
        combine(&mut out[..2], 3, |k| [0.0, 0.5, 0.0][k], |k| &runs[k][..]);
        assert_eq!(out, [5.0, 10.0, -294.0]);
    }
}
