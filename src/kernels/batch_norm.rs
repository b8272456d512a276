//! BatchNorm, an optional residual and an optional ReLU over plain f32 slices viewed as
//! `[n, c, l]` (`l` positions per image and channel). A channel's sums run lane-wise within
//! each row and in f64 over the images in order, so they do not depend on the number of
//! threads.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::{fresh, lanes};

/// `[n, c, l]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub n: usize,
    pub c: usize,
    pub l: usize,
}

impl Planes {
    /// Values per channel.
    fn m(&self) -> usize {
        self.n * self.l
    }

    /// Channel `ch`'s rows, one per image.
    fn rows<'a>(&self, values: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> {
        let Self { c, l, .. } = *self;
        values.chunks_exact(l).skip(ch).step_by(c)
    }
}

/// How a channel is normalised: `y = (x − mean)·scale + shift`, `scale = γ/√(var + ε)`, and
/// `inv = 1/√(var + ε)` for the gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub inv: Vec<f32>,
}

impl Affine {
    /// From the batch's statistics (biased variance, as Burn's BatchNorm).
    pub fn of_batch(p: &Planes, x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64) -> Self {
        let m = p.m() as f64;
        let (mean, var): (Vec<f32>, Vec<f32>) = (0..p.c)
            .into_par_iter()
            .map(|ch| {
                let mean =
                    (p.rows(x, ch).map(|row| f64::from(row_sum(row))).sum::<f64>() / m) as f32;
                let var = p
                    .rows(x, ch)
                    .map(|row| f64::from(row_squared_deviations(row, mean)))
                    .sum::<f64>()
                    / m;
                (mean, var as f32)
            })
            .unzip();
        let std: Vec<f32> = var.iter().map(|v| (v + epsilon as f32).sqrt()).collect();
        Self::new(mean, var, &std, gamma, beta)
    }

    fn new(mean: Vec<f32>, var: Vec<f32>, std: &[f32], gamma: &[f32], beta: &[f32]) -> Self {
        Self {
            scale: gamma.iter().zip(std).map(|(g, s)| g / s).collect(),
            shift: beta.to_vec(),
            inv: std.iter().map(|s| 1.0 / s).collect(),
            mean,
            var,
        }
    }
}

impl Affine {
    /// From running statistics (inference).
    pub fn of_running(
        mean: Vec<f32>,
        var: Vec<f32>,
        gamma: &[f32],
        beta: &[f32],
        epsilon: f64,
    ) -> Self {
        let std: Vec<f32> = var.iter().map(|v| (v + epsilon as f32).sqrt()).collect();
        Self::new(mean, var, &std, gamma, beta)
    }
}

/// `act((x − mean)·scale + shift + residual)` for every value, `act` ReLU or the identity.
pub fn forward(
    p: &Planes,
    a: &Affine,
    x: &[f32],
    residual: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    let zeros = vec![0.0; p.l];
    fresh::par_zeroed(x.len(), p.l, x.par_chunks(p.l).enumerate(), |out, (row, x)| {
        let r = residual.map_or(&zeros[..], |r| &r[row * p.l..][..p.l]);
        forward_row(out, x, r, a.channel(row % p.c), relu);
    })
}

/// The gradients with respect to `x`, γ, β and the residual (the gradient through the ReLU).
pub struct Gradients {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub residual: Option<Vec<f32>>,
}

/// The gradients from the output's `dz`. The pre-activation is recomputed from `x` (and the
/// residual) exactly as in [`forward`], for the ReLU's mask.
pub fn backward(
    p: &Planes,
    a: &Affine,
    gamma: &[f32],
    x: &[f32],
    residual: Option<&[f32]>,
    relu: bool,
    dz: &[f32],
) -> Gradients {
    let zeros = vec![0.0; p.l];
    let r_row = |row: usize| residual.map_or(&zeros[..], |r| &r[row * p.l..][..p.l]);
    // Per channel: Σ g (β's gradient) and Σ g·x̂ (γ's), over the images in order.
    let (d_beta, d_gamma): (Vec<f32>, Vec<f32>) = (0..p.c)
        .into_par_iter()
        .map(|ch| {
            let rows = p.rows(x, ch).zip(p.rows(dz, ch)).enumerate();
            let (b, g) = rows.fold((0.0f64, 0.0f64), |(sb, sg), (i, (x, dz))| {
                let (b, g) = gate_sums(x, dz, r_row(i * p.c + ch), a.channel(ch), relu);
                (sb + f64::from(b), sg + f64::from(g))
            });
            (b as f32, g as f32)
        })
        .unzip();
    let m = p.m() as f32;
    let mut dr = residual.map(|_| vec![0.0; x.len()]);
    let rows = x.par_chunks(p.l).zip(dz.par_chunks(p.l)).enumerate();
    let write = |dx: &mut [f32],
                 (row, (x, dz)): (usize, (&[f32], &[f32])),
                 dr: Option<&mut [f32]>| {
        let ch = row % p.c;
        let sums = Sums { k: gamma[ch] * a.inv[ch] / m, m, beta: d_beta[ch], gamma: d_gamma[ch] };
        let r = r_row(row);
        grad_row(dx, x, dz, r, a.channel(ch), relu, sums);
        if let Some(dr) = dr {
            gate_row(dr, x, dz, r, a.channel(ch), relu);
        }
    };
    let dx = match dr.as_mut() {
        Some(dr) => {
            fresh::par_zeroed(x.len(), p.l, rows.zip(dr.par_chunks_mut(p.l)), |dx, (row, dr)| {
                write(dx, row, Some(dr))
            })
        }
        None => fresh::par_zeroed(x.len(), p.l, rows, |dx, row| write(dx, row, None)),
    };
    Gradients { x: dx, gamma: d_gamma, beta: d_beta, residual: dr }
}

/// One channel's constants.
#[derive(Clone, Copy)]
struct Channel {
    mean: f32,
    scale: f32,
    shift: f32,
    inv: f32,
}

impl Affine {
    fn channel(&self, ch: usize) -> Channel {
        Channel {
            mean: self.mean[ch],
            scale: self.scale[ch],
            shift: self.shift[ch],
            inv: self.inv[ch],
        }
    }
}

/// A channel's gradient sums, and `k = γ·inv/m`.
#[derive(Clone, Copy)]
struct Sums {
    k: f32,
    m: f32,
    beta: f32,
    gamma: f32,
}

/// The pre-activation, as [`forward`] computes it.
#[inline(always)]
fn pre_activation(v: f32, r: f32, c: Channel) -> f32 {
    (v - c.mean) * c.scale + c.shift + r
}

/// `dz` through the ReLU (as Burn's: zero where the output is ≤ 0, NaN passes).
#[inline(always)]
fn gate(v: f32, d: f32, r: f32, c: Channel, relu: bool) -> f32 {
    if relu && pre_activation(v, r, c) <= 0.0 { 0.0 } else { d }
}

// The loops below run over one row (`l` values of one image and channel); each is compiled for
// the widest vectors the CPU has, with the same arithmetic (the build's baseline is SSE2).

#[multiversion(targets = "simd")]
fn forward_row(out: &mut [f32], x: &[f32], r: &[f32], c: Channel, relu: bool) {
    for ((o, &v), &r) in out.iter_mut().zip(x).zip(r) {
        let y = pre_activation(v, r, c);
        *o = if relu && y <= 0.0 { 0.0 } else { y };
    }
}

#[multiversion(targets = "simd")]
fn grad_row(dx: &mut [f32], x: &[f32], dz: &[f32], r: &[f32], c: Channel, relu: bool, s: Sums) {
    for ((d, &v), (&dz, &r)) in dx.iter_mut().zip(x).zip(dz.iter().zip(r)) {
        let g = gate(v, dz, r, c, relu);
        *d = s.k * (s.m * g - s.beta - (v - c.mean) * c.inv * s.gamma);
    }
}

#[multiversion(targets = "simd")]
fn gate_row(dr: &mut [f32], x: &[f32], dz: &[f32], r: &[f32], c: Channel, relu: bool) {
    for ((d, &v), (&dz, &r)) in dr.iter_mut().zip(x).zip(dz.iter().zip(r)) {
        *d = gate(v, dz, r, c, relu);
    }
}

/// (Σ g, Σ g·x̂) over a row, g the gradient through the ReLU.
#[multiversion(targets = "simd")]
fn gate_sums(x: &[f32], dz: &[f32], r: &[f32], c: Channel, relu: bool) -> (f32, f32) {
    lanes::sums(x, dz, r, |v, d, r| {
        let g = gate(v, d, r, c, relu);
        [g, g * ((v - c.mean) * c.inv)]
    })
}

#[multiversion(targets = "simd")]
fn row_sum(x: &[f32]) -> f32 {
    lanes::sum(x, |v| v)
}

#[multiversion(targets = "simd")]
fn row_squared_deviations(x: &[f32], mean: f32) -> f32 {
    lanes::sum(x, |v| (v - mean) * (v - mean))
}

#[cfg(test)]
mod tests {
    use super::{Affine, Planes, backward};
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// The channel sums are the same on one thread and on three.
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        let planes = Planes { n: 4, c: 3, l: 1000 };
        let (x, r, dz) = (wave(12_000, 0.37), wave(12_000, 0.11), wave(12_000, 0.53));
        assert_same_on_1_and_3_threads(|| {
            let affine = Affine::of_batch(&planes, &x, &[1.0, 2.0, 0.5], &[0.1, -0.2, 0.0], 1e-5);
            let g = backward(&planes, &affine, &[1.0, 2.0, 0.5], &x, Some(&r), true, &dz);
            (affine, g.x, g.gamma, g.beta, g.residual)
        });
    }
}
