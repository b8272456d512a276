//! The CPU kernels of an LSTM layer over whole sequences, on plain f32 slices: the input's
//! products for every step in one GEMM, then the recurrence step by step; backward, the
//! pre-activation gradients of every step first, then the weight and input gradients each in
//! one GEMM over all steps. Rows are `(batch, step)` in batch-first order; the gates, side by
//! side in each row of `4·hidden`, in Burn's order: input, forget, output, cell.

use crate::kernels::gemm::{Mat, MatMut, matmul, matmul_parallel};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub steps: usize,
    pub input: usize,
    pub hidden: usize,
}

impl Shape {
    fn rows(&self) -> usize {
        self.batch * self.steps
    }

    /// Values per row of the gates: four gates of `hidden`.
    fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// Values per row of the cache: the four gates' activations, then the cell.
    fn cached(&self) -> usize {
        5 * self.hidden
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Hidden states `[batch, steps, hidden]` of `x` `[batch, steps, input]` from zero states, with
/// `w_ih` `[input, 4·hidden]`, `w_hh` `[hidden, 4·hidden]` and `bias` `[4·hidden]` (each gate's
/// two biases summed); and the cache the backward reads, `[batch, steps, 5·hidden]`.
pub fn forward(
    s: &Shape,
    x: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    bias: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let (rows, g, hd) = (s.rows(), s.gates(), s.hidden);
    // z[r] = x[r]·W_ih for every row at once; the recurrence adds h[r − 1]·W_hh step by step.
    let mut z = vec![0.0; rows * g];
    matmul_parallel(
        MatMut::rows(&mut z, rows, g),
        Mat::rows(x, rows, s.input),
        Mat::rows(w_ih, s.input, g),
        1.0,
        false,
    );
    let (mut h, mut cache) = (vec![0.0; rows * hd], vec![0.0; rows * s.cached()]);
    for t in 0..s.steps {
        if t > 0 {
            let prev = Mat::strided(&h[(t - 1) * hd..], s.batch, hd, s.steps * hd, 1);
            matmul(
                MatMut::strided(&mut z[t * g..], s.batch, g, s.steps * g),
                prev,
                Mat::rows(w_hh, hd, g),
                1.0,
                true,
            );
        }
        for b in 0..s.batch {
            let r = b * s.steps + t;
            let (done, row) = cache.split_at_mut(r * s.cached());
            let c_prev = (t > 0).then(|| &done[(r - 1) * s.cached() + 4 * hd..][..hd]);
            step(&z[r * g..][..g], bias, c_prev, &mut row[..s.cached()], &mut h[r * hd..][..hd]);
        }
    }
    (h, cache)
}

/// One row's gates from its pre-activations `z` + `bias`, into `cache` (i, f, o, g, c) and `h`.
fn step(z: &[f32], bias: &[f32], c_prev: Option<&[f32]>, cache: &mut [f32], h: &mut [f32]) {
    let hd = h.len();
    for (v, (z, b)) in cache[..4 * hd].iter_mut().zip(z.iter().zip(bias)) {
        *v = z + b;
    }
    let (gates, c) = cache.split_at_mut(4 * hd);
    let (ifo, g) = gates.split_at_mut(3 * hd);
    ifo.iter_mut().for_each(|v| *v = sigmoid(*v));
    g.iter_mut().for_each(|v| *v = v.tanh());
    for j in 0..hd {
        let (i, f, o) = (ifo[j], ifo[hd + j], ifo[2 * hd + j]);
        c[j] = f * c_prev.map_or(0.0, |c| c[j]) + i * g[j];
        h[j] = o * c[j].tanh();
    }
}

/// The gradients with respect to `x`, `w_ih`, `w_hh` and `bias` from the hidden states'
/// gradient `dh` `[batch, steps, hidden]`, with the forward's `cache`.
pub fn backward(
    s: &Shape,
    x: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    cache: &[f32],
    dh: &[f32],
) -> [Vec<f32>; 4] {
    let (rows, g, hd, cw) = (s.rows(), s.gates(), s.hidden, s.cached());
    let mut dz = vec![0.0; rows * g];
    // Per batch row: the gradient reaching step t's hidden state from step t + 1, and its cell's.
    let (mut dh_next, mut dc_next) = (vec![0.0; s.batch * hd], vec![0.0; s.batch * hd]);
    for t in (0..s.steps).rev() {
        for b in 0..s.batch {
            let r = b * s.steps + t;
            let c_prev = (t > 0).then(|| &cache[(r - 1) * cw + 4 * hd..][..hd]);
            let (dh_next, dc_next) = (&dh_next[b * hd..][..hd], &mut dc_next[b * hd..][..hd]);
            step_back(
                &cache[r * cw..][..cw],
                c_prev,
                &dh[r * hd..][..hd],
                dh_next,
                dc_next,
                &mut dz[r * g..][..g],
            );
        }
        if t > 0 {
            // dh_next[b] = dz[b, t]·W_hhᵀ
            let dz_t = Mat::strided(&dz[t * g..], s.batch, g, s.steps * g, 1);
            matmul(
                MatMut::rows(&mut dh_next, s.batch, hd),
                dz_t,
                Mat::rows(w_hh, hd, g).t(),
                1.0,
                false,
            );
        }
    }
    let dz_all = Mat::rows(&dz, rows, g);
    let mut dx = vec![0.0; rows * s.input];
    matmul_parallel(
        MatMut::rows(&mut dx, rows, s.input),
        dz_all,
        Mat::rows(w_ih, s.input, g).t(),
        1.0,
        false,
    );
    let mut dw_ih = vec![0.0; s.input * g];
    matmul_parallel(
        MatMut::rows(&mut dw_ih, s.input, g),
        Mat::rows(x, rows, s.input).t(),
        dz_all,
        1.0,
        false,
    );
    // Row r's previous hidden state (zero at each sequence's first step), read back from the cache.
    let mut h_prev = vec![0.0; rows * hd];
    for (r, prev) in h_prev.chunks_exact_mut(hd).enumerate().filter(|(r, _)| r % s.steps > 0) {
        let row = &cache[(r - 1) * cw..][..cw];
        for (j, v) in prev.iter_mut().enumerate() {
            *v = row[2 * hd + j] * row[4 * hd + j].tanh();
        }
    }
    let mut dw_hh = vec![0.0; hd * g];
    matmul_parallel(
        MatMut::rows(&mut dw_hh, hd, g),
        Mat::rows(&h_prev, rows, hd).t(),
        dz_all,
        1.0,
        false,
    );
    let mut dbias = vec![0.0; g];
    for row in dz.chunks_exact(g) {
        dbias.iter_mut().zip(row).for_each(|(d, v)| *d += v);
    }
    [dx, dw_ih, dw_hh, dbias]
}

/// One row backward: its pre-activation gradients `dz` from the gradient reaching its hidden
/// state (`dh` from the output, `dh_next` from the next step) and its cell (`dc_next`, which
/// becomes the previous step's).
fn step_back(
    cache: &[f32],
    c_prev: Option<&[f32]>,
    dh: &[f32],
    dh_next: &[f32],
    dc_next: &mut [f32],
    dz: &mut [f32],
) {
    let hd = dh.len();
    for j in 0..hd {
        let (i, f, o, g, c) =
            (cache[j], cache[hd + j], cache[2 * hd + j], cache[3 * hd + j], cache[4 * hd + j]);
        let tc = c.tanh();
        let dh = dh[j] + dh_next[j];
        let dc = dc_next[j] + dh * o * (1.0 - tc * tc);
        dz[j] = dc * g * i * (1.0 - i);
        dz[hd + j] = dc * c_prev.map_or(0.0, |c| c[j]) * f * (1.0 - f);
        dz[2 * hd + j] = dh * tc * o * (1.0 - o);
        dz[3 * hd + j] = dc * i * (1.0 - g * g);
        dc_next[j] = dc * f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// The layer by its definition, in f64: hidden states, then ⟨dh, h⟩ for a weighting `dh`.
    fn direct(s: &Shape, x: &[f32], w_ih: &[f32], w_hh: &[f32], bias: &[f32]) -> Vec<f64> {
        let (hd, g) = (s.hidden, s.gates());
        let mut out = vec![0.0; s.rows() * hd];
        for b in 0..s.batch {
            let (mut h, mut c) = (vec![0.0f64; hd], vec![0.0f64; hd]);
            for t in 0..s.steps {
                let r = b * s.steps + t;
                let z: Vec<f64> = (0..g)
                    .map(|k| {
                        let from_x: f64 = (0..s.input)
                            .map(|d| x[r * s.input + d] as f64 * w_ih[d * g + k] as f64)
                            .sum();
                        let from_h: f64 = (0..hd).map(|d| h[d] * w_hh[d * g + k] as f64).sum();
                        from_x + from_h + bias[k] as f64
                    })
                    .collect();
                let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
                for j in 0..hd {
                    let (i, f, o, gg) =
                        (sig(z[j]), sig(z[hd + j]), sig(z[2 * hd + j]), z[3 * hd + j].tanh());
                    c[j] = f * c[j] + i * gg;
                    h[j] = o * c[j].tanh();
                }
                out[r * hd..][..hd].copy_from_slice(&h);
            }
        }
        out
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
            assert!((a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
        }
    }

    /// A shape, then `x`, `w_ih`, `w_hh`, `bias` and a weighting `dh` of the hidden states.
    type Case = (Shape, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

    fn case() -> Case {
        let s = Shape { batch: 2, steps: 4, input: 3, hidden: 5 };
        let (g, rows) = (s.gates(), s.rows());
        let x = wave(rows * s.input, 0.7);
        let (w_ih, w_hh, bias) = (
            wave(s.input * g, 0.31).iter().map(|v| v * 0.8).collect(),
            wave(s.hidden * g, 0.53).iter().map(|v| v * 0.6).collect(),
            wave(g, 1.1),
        );
        let dh = wave(rows * s.hidden, 0.23);
        (s, x, w_ih, w_hh, bias, dh)
    }

    #[test]
    fn forward_matches_the_definition() {
        let (s, x, w_ih, w_hh, bias, _) = case();
        close(&forward(&s, &x, &w_ih, &w_hh, &bias).0, &direct(&s, &x, &w_ih, &w_hh, &bias), "h");
    }

    /// Each gradient entry against a central difference of ⟨dh, h⟩ in f64.
    #[test]
    fn gradients_match_finite_differences_of_the_definition() {
        let (s, x, w_ih, w_hh, bias, dh) = case();
        let (_, cache) = forward(&s, &x, &w_ih, &w_hh, &bias);
        let grads = backward(&s, &x, &w_ih, &w_hh, &cache, &dh);
        let inner = |x: &[f32], w_ih: &[f32], w_hh: &[f32], bias: &[f32]| {
            direct(&s, x, w_ih, w_hh, bias).iter().zip(&dh).map(|(h, &d)| h * d as f64).sum::<f64>()
        };
        let eps = 1e-3f32;
        for (which, (grad, name)) in grads.iter().zip(["x", "w_ih", "w_hh", "bias"]).enumerate() {
            for i in 0..grad.len() {
                let at = |delta: f32| {
                    let mut args = [x.clone(), w_ih.clone(), w_hh.clone(), bias.clone()];
                    args[which][i] += delta;
                    inner(&args[0], &args[1], &args[2], &args[3])
                };
                let want = (at(eps) - at(-eps)) / (2.0 * eps as f64);
                assert!(
                    (grad[i] as f64 - want).abs() <= 2e-3 * (1.0 + want.abs()),
                    "d{name}[{i}]: {} vs {want}",
                    grad[i]
                );
            }
        }
    }

    /// Large enough for gemm to split its products over the cores: the same bits on any count.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let s = Shape { batch: 2, steps: 16, input: 512, hidden: 256 };
        let (x, w_ih, w_hh, bias) = (
            wave(s.rows() * s.input, 0.37),
            wave(s.input * s.gates(), 0.11),
            wave(s.hidden * s.gates(), 0.05),
            wave(s.gates(), 0.9),
        );
        let dh = wave(s.rows() * s.hidden, 0.53);
        assert_same_on_1_and_3_threads(|| {
            let (h, cache) = forward(&s, &x, &w_ih, &w_hh, &bias);
            (h, backward(&s, &x, &w_ih, &w_hh, &cache, &dh))
        });
    }
}
