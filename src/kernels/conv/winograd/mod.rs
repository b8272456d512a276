//! 3×3 convolutions of stride 1 and padding 1 (most of ResNet-18's) by Winograd's minimal
//! filtering F(m×m, 3×3) ([`minimal`]): each m×m block of the output is read off t² = (m + 2)²
//! products of a transformed input tile with a transformed kernel, where im2col + GEMM takes
//! 9·m². F(4×4, 3×3) does 4× less arithmetic in its GEMMs, F(2×2, 3×3) 2.25×; the larger tile
//! wastes work where it overhangs a small plane's edge ([`Minimal::for_plane`]). The input
//! gradient of such a convolution is one too (the kernel turned by 180°, its channels
//! swapped), so it takes the same path; the weight gradient is the same products' adjoint.
//!
//! With Bᵀ, G and Aᵀ the transforms of the input tile `d`, the kernel `g` and the product `m`,
//! the output tile is Aᵀ·m·A with m = (G·g·Gᵀ) ⊙ (Bᵀ·d·B), summed over the input channels: for
//! each entry ξ of the tile, one GEMM `m_ξ[o, tiles] = U_ξ[o, c] · V_ξ[c, tiles]`. The tests
//! hold the results to the im2col path's tolerance against the definition.

mod minimal;
mod planes;

use rayon::prelude::*;

use super::Geometry;
use crate::kernels::fresh;
use crate::kernels::gemm::{Mat, MatMut, matmul};
use crate::kernels::scratch::with_scratch;
use minimal::{F2, F4, Minimal};
use planes::{
    Layout, input_channel, kernel_row, output_channel, output_gradient_channel, output_plane,
    weight_row,
};

/// Whether this module computes `g`: a 3×3 kernel, stride 1, padding 1, on planes of 7×7 or
/// more. On ResNet-18's 4×4 planes at 112 px the GEMMs are small beside the kernel transform
/// (512×512 kernels, 17 MB of U for 128 tiles): measured there, inference ran 5% slower.
pub fn fits(g: &Geometry) -> bool {
    (g.kh, g.kw, g.stride, g.pad) == (3, 3, [1, 1], [1, 1]) && g.h * g.w >= 49
}

impl Minimal {
    /// The algorithm for `g`'s planes: F(4×4, 3×3) where its tiles cover them exactly (sides
    /// that are multiples of 4: ResNet's 56², 28² at 224 px, 28² at 112 px), else F(2×2, 3×3).
    /// Measured per layer (16 images, 2 threads): F(4×4) took 18–33% less time than F(2×2) on
    /// 28² planes and about the same on 56²; on 14² planes, where its tiles cover 16² (31%
    /// more positions than the plane), it was slower, and on 7² planes of 512 channels, where
    /// the transformed kernels and the weight gradient's sums (t²·c·o values) outweigh 64
    /// tiles, several times slower.
    fn for_plane(g: &Geometry) -> &'static Minimal {
        if g.h.is_multiple_of(F4.m) && g.w.is_multiple_of(F4.m) { &F4 } else { &F2 }
    }
}

/// `[n, o, h, w]` = conv(`x` `[n, c, h, w]`, `weight` `[o, c, 3, 3]`) + `bias` `[o]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    forward_by(Minimal::for_plane(g), g, x, weight, bias)
}

fn forward_by(
    f: &Minimal,
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let u = kernels(f, weight, g.o, g.c, false);
    convolve(f, g, x, |xi| Mat::strided(&u[xi * g.c..], g.o, g.c, f.entries() * g.c, 1), bias)
}

/// The gradient with respect to the input, `[n, c, h, w]`: the convolution of `dy` with the
/// kernels turned by 180° and their channels swapped (again padding 1, stride 1).
pub fn grad_input(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    grad_input_by(Minimal::for_plane(g), g, weight, dy)
}

fn grad_input_by(f: &Minimal, g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let u = kernels(f, weight, g.o, g.c, true);
    let swapped = Geometry { c: g.o, o: g.c, ..*g };
    convolve(
        f,
        &swapped,
        dy,
        |xi| Mat::strided(&u[xi * g.c..], g.o, g.c, f.entries() * g.c, 1).t(),
        None,
    )
}

/// The gradient with respect to the weight, `[o, c, 3, 3]`. The forward is linear in U, so
/// ⟨dy, y⟩ gives, per tile, ∂/∂U = (A·dy·Aᵀ) ⊙ V, and through U = G·g·Gᵀ, ∂/∂g = Gᵀ·(…)·G:
/// one GEMM per entry ξ, `M_ξ[o, c] += Ŷ_ξ[o, tiles] · V_ξ[c, tiles]ᵀ` over the batch, then
/// one transform per kernel.
pub fn grad_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    grad_weight_by(Minimal::for_plane(g), g, x, dy)
}

fn grad_weight_by(f: &Minimal, g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (xi_count, tiles, image) = (f.entries(), Tiles::of(g, f), g.c * g.h * g.w);
    let nb = images_per_chunk(f, g, tiles);
    let min_len = task_size(nb >= g.n);
    let chunks: Vec<(&[f32], &[f32])> =
        x.chunks(nb * image).zip(dy.chunks(nb * g.o * g.h * g.w)).collect();
    // A few partial sums (as im2col's weight gradient), added in order.
    let partials: Vec<Vec<f32>> = chunks
        .par_chunks(chunks.len().div_ceil(4))
        .map(|run| {
            let mut sums = vec![0.0; xi_count * g.o * g.c];
            for &(images, dy) in run {
                let at = Layout { tiles, images: images.len() / image };
                let cols = at.cols();
                with_scratch(g.c * xi_count * cols, g.o * xi_count * cols, |v, dy_tiles| {
                    by_channel(g.c, v, min_len, |channel, work, v| {
                        input_channel(f, g, at, images, channel, work, v)
                    });
                    by_channel(g.o, dy_tiles, min_len, |channel, work, out| {
                        output_gradient_channel(f, g, at, dy, channel, work, out)
                    });
                    // M_ξ[o, c] += Ŷ_ξ[o, cols] · V_ξ[c, cols]ᵀ
                    sums.par_chunks_mut(g.o * g.c).with_min_len(min_len).enumerate().for_each(
                        |(xi, sums)| {
                            let dy_tiles =
                                Mat::strided(&dy_tiles[xi * cols..], g.o, cols, xi_count * cols, 1);
                            let v =
                                Mat::strided(&v[xi * cols..], g.c, cols, xi_count * cols, 1).t();
                            matmul(MatMut::rows(sums, g.o, g.c), dy_tiles, v, 1.0, true);
                        },
                    );
                });
            }
            sums
        })
        .collect();
    let sums = partials.into_iter().reduce(|mut sum, part| {
        sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
        sum
    });
    let sums = sums.expect("a batch has at least one image");
    fresh::par_zeroed(g.o * g.c * 9, g.c * 9, (0..g.o).into_par_iter(), |dw, oi| {
        weight_row(f, &sums[oi * g.c..], g.o * g.c, dw, g.c)
    })
}

/// A plane's output tiles (those of a last row or column partly outside it).
#[derive(Clone, Copy)]
pub struct Tiles {
    pub rows: usize,
    pub cols: usize,
}

impl Tiles {
    fn of(g: &Geometry, f: &Minimal) -> Self {
        Self { rows: g.h.div_ceil(f.m), cols: g.w.div_ceil(f.m) }
    }

    pub fn count(self) -> usize {
        self.rows * self.cols
    }
}

/// Images per chunk, chosen as im2col's are with tiles for output positions: enough
/// columns for the GEMMs to run at speed (about 8 K transformed values per input channel: 512
/// columns of F(2×2, 3×3)'s 16 entries, 227 of F(4×4, 3×3)'s 36, so a chunk's tiles take as
/// much cache with either) and four chunks or more per batch, or the whole batch (its steps
/// split over the cores, [`task_size`]) where the kernel has more rows than a chunk has
/// columns.
fn images_per_chunk(f: &Minimal, g: &Geometry, tiles: Tiles) -> usize {
    let nb = (8192 / f.entries()).div_ceil(tiles.count()).min(g.n.div_ceil(4)).max(1);
    if g.o > nb * tiles.count() { g.n } else { nb }
}

/// The smallest task of a chunk's steps (transforms by plane, GEMMs by entry ξ): each chunk
/// on one core, side by side, or, where one chunk is the `whole` batch, each step split over
/// the cores.
fn task_size(whole: bool) -> usize {
    if whole { 1 } else { usize::MAX }
}

/// U = G·g·Gᵀ for every kernel (turned by 180° where `flipped`), `[o, t², c]` (one `[o, c]`
/// matrix per entry ξ, rows t²·c apart). A row of U at a time: its kernels' nine taps
/// gathered into nine contiguous runs, then each step one pass down all of them.
fn kernels(f: &Minimal, weight: &[f32], o: usize, c: usize, flipped: bool) -> Vec<f32> {
    let xi_count = f.entries();
    fresh::par_zeroed(o * xi_count * c, xi_count * c, weight.par_chunks(9 * c), |u, kernels| {
        let mut taps = vec![0.0f32; 9 * c];
        for (ci, kernel) in kernels.chunks_exact(9).enumerate() {
            kernel.iter().enumerate().for_each(|(k, &w)| taps[k * c + ci] = w);
        }
        kernel_row(f, &taps, u, c, flipped);
    })
}

/// The convolution of `x` with transformed kernels `u(ξ)` (`[o, c]` each), in chunks of images:
/// input tiles transformed, one GEMM per entry ξ, output tiles transformed back.
fn convolve<'u>(
    f: &Minimal,
    g: &Geometry,
    x: &[f32],
    u: impl Fn(usize) -> Mat<'u> + Sync,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (xi_count, tiles, p, image) = (f.entries(), Tiles::of(g, f), g.h * g.w, g.c * g.h * g.w);
    let nb = images_per_chunk(f, g, tiles);
    let min_len = task_size(nb >= g.n);
    fresh::par_zeroed(g.n * g.o * p, nb * g.o * p, x.par_chunks(nb * image), |out, images| {
        let at = Layout { tiles, images: images.len() / image };
        let (cols, tile_values) = (at.cols(), f.m * f.m * at.cols());
        // The input tiles' space holds the output tiles' values once the GEMMs have read it.
        with_scratch(
            (g.c * xi_count * cols).max(g.o * tile_values),
            xi_count * g.o * cols,
            |v, m| {
                let v_len = g.c * xi_count * cols;
                by_channel(g.c, &mut v[..v_len], min_len, |channel, work, v| {
                    input_channel(f, g, at, images, channel, work, v)
                });
                // m_ξ[o, cols] = U_ξ[o, c] · V_ξ[c, cols]
                m.par_chunks_mut(g.o * cols).with_min_len(min_len).enumerate().for_each(
                    |(xi, m)| {
                        let v = Mat::strided(&v[xi * cols..], g.c, cols, xi_count * cols, 1);
                        matmul(MatMut::rows(m, g.o, cols), u(xi), v, 1.0, false);
                    },
                );
                let ends = &mut v[..g.o * tile_values];
                by_channel(g.o, ends, min_len, |oi, work, ends| {
                    output_channel(f, at, &m[oi * cols..], g.o * cols, work, ends)
                });
                out.par_chunks_mut(p).with_min_len(min_len).enumerate().for_each(|(plane, y)| {
                    let (b, oi) = (plane / g.o, plane % g.o);
                    output_plane(
                        f,
                        g,
                        at,
                        &ends[oi * tile_values..][..tile_values],
                        b,
                        y,
                        bias.map_or(0.0, |bias| bias[oi]),
                    );
                });
            },
        );
    })
}

/// `transform(channel, work, out)` for every channel's block of `out` (`[channels, …]`), a
/// task per channel where `min_len` lets the chunk split.
fn by_channel(
    channels: usize,
    out: &mut [f32],
    min_len: usize,
    transform: impl Fn(usize, &mut Vec<f32>, &mut [f32]) + Sync,
) {
    out.par_chunks_mut(out.len() / channels)
        .with_min_len(min_len)
        .enumerate()
        .for_each_init(Vec::new, |work, (channel, out)| transform(channel, work, out));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// The convolution by its definition, in f64, with its input and weight gradients for `dy`.
    fn direct(g: &Geometry, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut y, mut dx, mut dw) =
            (vec![0.0; g.n * g.o * g.h * g.w], vec![0.0; x.len()], vec![0.0; w.len()]);
        for (b, o, oy, ox) in positions(g) {
            for c in 0..g.c {
                for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                    let (iy, ix) = ((oy + ky).wrapping_sub(1), (ox + kx).wrapping_sub(1));
                    if iy < g.h && ix < g.w {
                        let (xi, yi) = (
                            ((b * g.c + c) * g.h + iy) * g.w + ix,
                            ((b * g.o + o) * g.h + oy) * g.w + ox,
                        );
                        let wi = ((o * g.c + c) * 3 + ky) * 3 + kx;
                        y[yi] += x[xi] as f64 * w[wi] as f64;
                        dx[xi] += dy[yi] as f64 * w[wi] as f64;
                        dw[wi] += dy[yi] as f64 * x[xi] as f64;
                    }
                }
            }
        }
        (y, dx, dw)
    }

    fn positions(g: &Geometry) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        (0..g.n).flat_map(move |b| {
            (0..g.o).flat_map(move |o| {
                (0..g.h).flat_map(move |oy| (0..g.w).map(move |ox| (b, o, oy, ox)))
            })
        })
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
            assert!((a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Both algorithms on sides of every remainder (a last tile partly outside), planes of
    /// one row or column, and a batch taken whole (more output channels than a chunk has
    /// tiles); the size-chosen one on larger planes.
    #[test]
    fn output_and_gradients_match_the_definition() {
        let small = [
            ([2, 3, 8, 8], [4, 3]),
            ([3, 2, 7, 5], [3, 2]),
            ([2, 2, 7, 6], [3, 2]),
            ([1, 4, 1, 6], [2, 4]),
            ([2, 2, 5, 1], [3, 2]),
            ([5, 3, 4, 4], [70, 3]),
        ];
        let large = [([2, 3, 16, 16], [4, 3]), ([1, 2, 12, 20], [3, 2]), ([3, 2, 14, 15], [2, 2])];
        let cases = small
            .iter()
            .flat_map(|&case| [(case, Some(&F2)), (case, Some(&F4))])
            .chain(large.iter().map(|&case| (case, None)));
        for ((x, w), f) in cases {
            let g = Geometry::new(x, [w[0], w[1], 3, 3], [1, 1], [1, 1]).unwrap();
            let f = f.unwrap_or_else(|| Minimal::for_plane(&g));
            let (x, w, dy) = (
                wave(g.n * g.c * g.h * g.w, 0.37),
                wave(g.o * g.c * 9, 0.71),
                wave(g.n * g.o * g.h * g.w, 0.53),
            );
            let bias = wave(g.o, 1.3);
            let (mut want_y, want_dx, want_dw) = direct(&g, &x, &w, &dy);
            want_y
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += bias[i / (g.h * g.w) % g.o] as f64);
            let what = |v: &str| format!("{v} by F({}) {g:?}", f.m);
            close(&forward_by(f, &g, &x, &w, Some(&bias)), &want_y, &what("y"));
            close(&grad_input_by(f, &g, &w, &dy), &want_dx, &what("dx"));
            close(&grad_weight_by(f, &g, &x, &dy), &want_dw, &what("dw"));
        }
    }

    /// At ResNet's channel counts (576 terms a sum), the error against the definition, as a
    /// share of the result's largest value: about 10⁻⁶ for F(2×2, 3×3) (im2col's too), 1–3·10⁻⁵
    /// for F(4×4, 3×3), whose larger coefficients round more (measured here), for the output
    /// and both gradients. Single values where the sum cancels are off by more, relatively,
    /// than the element-wise tolerance above allows.
    #[test]
    fn rounding_over_many_channels_stays_small_beside_the_results() {
        let g = Geometry::new([2, 64, 28, 28], [64, 64, 3, 3], [1, 1], [1, 1]).unwrap();
        let (x, w, dy) =
            (wave(2 * 64 * 28 * 28, 0.37), wave(64 * 64 * 9, 0.71), wave(2 * 64 * 28 * 28, 0.53));
        let (want_y, want_dx, want_dw) = direct(&g, &x, &w, &dy);
        let error = |got: Vec<f32>, want: &[f64]| {
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            got.iter().zip(want).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs())) / scale
        };
        for (f, bound) in [(&F2, 1e-5), (&F4, 1e-4)] {
            let errors = [
                error(forward_by(f, &g, &x, &w, None), &want_y),
                error(grad_input_by(f, &g, &w, &dy), &want_dx),
                error(grad_weight_by(f, &g, &x, &dy), &want_dw),
            ];
            assert!(
                errors.iter().all(|&e| e <= bound),
                "F({}): errors {errors:?} beside the results' largest values",
                f.m
            );
        }
    }

    #[test]
    fn the_larger_tile_takes_planes_it_covers_exactly() {
        let m = |h: usize, w: usize| {
            Minimal::for_plane(&Geometry::new([1, 2, h, w], [2, 2, 3, 3], [1, 1], [1, 1]).unwrap())
                .m
        };
        assert_eq!(
            (m(28, 28), m(56, 56), m(16, 20), m(14, 14), m(7, 7), m(28, 13)),
            (4, 4, 4, 2, 2, 2)
        );
    }

    /// Sums in the same order on one thread as on three, in chunks of images (a 28×28 plane,
    /// F(4×4, 3×3)) and with the batch taken whole (64 channels, 4×4 planes, F(2×2, 3×3)).
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        for (c, size) in [(16, 28), (64, 4)] {
            let g = Geometry::new([16, c, size, size], [c, c, 3, 3], [1, 1], [1, 1]).unwrap();
            let (x, w) = (wave(g.n * g.c * size * size, 0.29), wave(g.o * g.c * 9, 0.61));
            assert_same_on_1_and_3_threads(|| {
                (forward(&g, &x, &w, None), grad_input(&g, &w, &x), grad_weight(&g, &x, &x))
            });
        }
    }

    #[test]
    fn only_size_keeping_three_by_three_convolutions_of_7_by_7_or_more_fit() {
        let fit = |size: usize, w: [usize; 4], s: usize, p: usize| {
            fits(&Geometry::new([1, 2, size, size], w, [s, s], [p, p]).unwrap())
        };
        assert!(fit(7, [2, 2, 3, 3], 1, 1));
        assert!(!fit(6, [2, 2, 3, 3], 1, 1));
        assert!(!fit(8, [2, 2, 3, 3], 2, 1));
        assert!(!fit(8, [2, 2, 3, 3], 1, 0));
        assert!(!fit(8, [2, 2, 1, 1], 1, 0));
    }
}
