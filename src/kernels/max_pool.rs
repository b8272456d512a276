//! The CPU kernels: 2-D max pooling and its gradient over plain f32 slices in NCHW order, one
//! image plane per task. Each output keeps which window position it took (one byte, where flex
//! keeps an `i64` offset), which is all the gradient needs.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::fresh;
use crate::kernels::scratch::with_scratch;

/// Marks an output no input reached (possible only with padding): flex's index −1.
const NONE: u8 = u8::MAX;

/// One max pooling: input `[n, c, h, w]`, output `[n, c, oh, ow]`; a `kh × kw` window (fewer
/// than 255 positions), symmetric padding (which never wins), no dilation, floor rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl Window {
    /// `None` where the output would be empty or the window too large.
    pub fn new(
        input: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> Option<Self> {
        let [n, c, h, w] = input;
        let out = |size: usize, k: usize, s: usize, p: usize| {
            (s > 0).then(|| (size + 2 * p).checked_sub(k).map(|d| d / s + 1)).flatten()
        };
        let (oh, ow) =
            (out(h, kernel[0], stride[0], pad[0])?, out(w, kernel[1], stride[1], pad[1])?);
        let taps = kernel[0] * kernel[1] < NONE as usize;
        (n * c > 0 && oh > 0 && ow > 0 && taps).then_some(Self {
            n,
            c,
            h,
            w,
            kernel,
            stride,
            pad,
            oh,
            ow,
        })
    }

    fn planes(&self) -> usize {
        self.n * self.c
    }

    fn plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }

    /// Columns of one phase of a split row (below): `⌈w / s⌉`.
    fn phase_len(&self) -> usize {
        self.w.div_ceil(self.stride[1])
    }

    /// The outputs `[lo, hi)` of a row whose window column `kx` falls inside the input.
    fn columns(&self, kx: usize) -> (usize, usize) {
        let (s, p) = (self.stride[1], self.pad[1]);
        // s·ox + kx − p ∈ [0, w)
        let lo = p.saturating_sub(kx).div_ceil(s);
        let hi = if self.w + p > kx { ((self.w + p - kx - 1) / s + 1).min(self.ow) } else { 0 };
        (lo.min(hi), hi)
    }
}

/// The pooled values `[n, c, oh, ow]` and, for each, the window position (`ky·kw + kx`) of the
/// value it took: the first largest in row-major window order, as flex's (a NaN wins only
/// where it comes first).
pub fn forward(g: &Window, x: &[f32]) -> (Vec<f32>, Vec<u8>) {
    let mut taps = vec![NONE; g.planes() * g.out_plane()];
    let planes = taps.par_chunks_mut(g.out_plane()).zip(x.par_chunks(g.plane()));
    let out = fresh::par_zeroed(
        g.planes() * g.out_plane(),
        g.out_plane(),
        planes,
        |out, (taps, plane)| {
            with_split(g, plane, |split| pool_plane(g, split, out, taps));
        },
    );
    (out, taps)
}

/// `f` on the plane with each row split by column phase: row `iy`, phase `r` holds columns
/// `r, r + s, r + 2s, …` (`s` the horizontal stride), each phase `⌈w / s⌉` long. A window column
/// then reads a contiguous run of one phase along an output row, which vectorises. The buffer
/// is this thread's scratch space; entries past a phase's end are never read.
fn with_split<R>(g: &Window, plane: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
    let (s, len) = (g.stride[1], g.phase_len());
    if s == 1 {
        return f(plane);
    }
    with_scratch(g.h * s * len, 0, |split, _| {
        for (row, phases) in plane.chunks_exact(g.w).zip(split.chunks_exact_mut(s * len)) {
            for (r, phase) in phases.chunks_exact_mut(len).enumerate() {
                phase.iter_mut().zip(row[r..].iter().step_by(s)).for_each(|(p, &v)| *p = v);
            }
        }
        f(split)
    })
}

fn pool_plane(g: &Window, split: &[f32], out: &mut [f32], taps: &mut [u8]) {
    let ([kh, kw], s, p, len) = (g.kernel, g.stride[1], g.pad[1], g.phase_len());
    // Per window column: the outputs it reaches, and where output `lo`'s value lies in a split
    // row (column s·lo + kx − p, ≥ 0; each next output reads s columns further on).
    let spans: Vec<(usize, usize, usize)> = (0..kw)
        .map(|kx| {
            let (lo, hi) = g.columns(kx);
            let col = if lo < hi { s * lo + kx - p } else { 0 };
            (lo, hi, col % s * len + col / s)
        })
        .collect();
    for (oy, (out, taps)) in out.chunks_exact_mut(g.ow).zip(taps.chunks_exact_mut(g.ow)).enumerate()
    {
        out.fill(f32::NEG_INFINITY);
        taps.fill(NONE);
        for ky in 0..kh {
            let Some(iy) = (oy * g.stride[0] + ky).checked_sub(g.pad[0]).filter(|&iy| iy < g.h)
            else {
                continue;
            };
            for (kx, &(lo, hi, at)) in spans.iter().enumerate().filter(|(_, (lo, hi, _))| lo < hi) {
                let row = &split[iy * s * len + at..][..hi - lo];
                take_larger(&mut out[lo..hi], &mut taps[lo..hi], row, (ky * kw + kx) as u8);
            }
        }
    }
}

/// For each output: where `row`'s value is larger, or the output has taken nothing yet, take
/// it as window position `tap`. Branch-free, so the compiler vectorises it; compiled for the
/// widest vectors the CPU has.
#[multiversion(targets = "simd")]
fn take_larger(out: &mut [f32], taps: &mut [u8], row: &[f32], tap: u8) {
    for ((m, t), &v) in out.iter_mut().zip(taps.iter_mut()).zip(row) {
        let take = v > *m || *t == NONE;
        *m = if take { v } else { *m };
        *t = if take { tap } else { *t };
    }
}

/// The gradient with respect to the input, `[n, c, h, w]`: each output's `dy` added onto the
/// value it took (in output order, so the sums are fixed).
pub fn backward(g: &Window, taps: &[u8], dy: &[f32]) -> Vec<f32> {
    let ([sy, sx], [py, px], [_, kw]) = (g.stride, g.pad, g.kernel);
    // Window position `ky·kw + kx` lies ky·w + kx past the window's (padded) corner.
    let reach: Vec<usize> = (0..g.kernel[0] * kw).map(|t| t / kw * g.w + t % kw).collect();
    let planes = taps.par_chunks(g.out_plane()).zip(dy.par_chunks(g.out_plane()));
    fresh::par_zeroed(g.planes() * g.plane(), g.plane(), planes, |dx, (taps, dy)| {
        for (oy, (taps, dy)) in taps.chunks_exact(g.ow).zip(dy.chunks_exact(g.ow)).enumerate() {
            for (ox, (&t, &d)) in taps.iter().zip(dy).enumerate() {
                if t != NONE {
                    // The corner (oy·sy − py, ox·sx − px) may lie in the padding; the tap does not.
                    dx[(oy * sy * g.w + ox * sx + reach[t as usize]) - (py * g.w + px)] += d;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_outputs_whose_window_column_is_inside() {
        for (w, k, s, p) in
            [(9, 3, 2, 1), (8, 3, 2, 1), (7, 2, 2, 0), (5, 3, 1, 1), (6, 4, 3, 2), (1, 3, 1, 1)]
        {
            let g = Window::new([1, 1, 1, w], [1, k], [1, s], [0, p]).unwrap();
            for kx in 0..k {
                let inside: Vec<usize> = (0..g.ow)
                    .filter(|&ox| (s * ox + kx).checked_sub(p).is_some_and(|ix| ix < w))
                    .collect();
                let (lo, hi) = g.columns(kx);
                assert_eq!((lo..hi).collect::<Vec<_>>(), inside, "w {w} k {k} s {s} p {p} kx {kx}");
            }
        }
    }

    #[test]
    fn empty_outputs_zero_strides_and_huge_windows_are_refused() {
        assert_eq!(Window::new([1, 1, 2, 2], [3, 3], [1, 1], [0, 0]), None);
        assert_eq!(Window::new([1, 1, 20, 20], [16, 16], [1, 1], [0, 0]), None);
        assert_eq!(Window::new([1, 1, 4, 4], [3, 3], [0, 1], [0, 0]), None);
        assert_eq!(Window::new([0, 1, 4, 4], [3, 3], [1, 1], [0, 0]), None);
    }
}
