//! 3×3 convolutions of stride 1 and padding 1 (most of ResNet-18's) by Winograd's minimal
//! filtering F(2×2, 3×3) (Lavin & Gray, 2016): each 2×2 block of the output is read off
//! sixteen products of a transformed 4×4 input tile with a transformed kernel, where im2col +
//! GEMM takes thirty-six, so the GEMMs do 2.25× less arithmetic. The input gradient of such
//! a convolution is one too (the kernel flipped, its channels swapped), so it takes the same
//! path; the weight gradient is the same products' adjoint.
//!
//! With Bᵀ, G and Aᵀ the transforms of the input tile `d` (4×4), the kernel `g` (3×3) and the
//! product `m` (4×4), the output tile is Aᵀ·m·A with m = (G·g·Gᵀ) ⊙ (Bᵀ·d·B), summed over the
//! input channels: for each of the sixteen entries ξ of the tile, one GEMM
//! `m_ξ[o, tiles] = U_ξ[o, c] · V_ξ[c, tiles]`. The transforms' coefficients are 0, ±1 and ½,
//! so they add little rounding: the tests hold the results to the im2col path's tolerance
//! against the definition.

use rayon::prelude::*;

use super::kernels::Geometry;
use crate::model::fresh;
use crate::model::gemm::{Mat, MatMut, matmul};
use crate::model::scratch::with_scratch;

/// Entries of a transformed tile.
const XI: usize = 16;

/// Whether this module computes `g`: a 3×3 kernel, stride 1, padding 1, on planes of 7×7 or
/// more. On ResNet-18's 4×4 planes at 112 px the GEMMs are small beside the kernel transform
/// (512×512 kernels, 17 MB of U for 128 tiles): measured there, inference ran 5% slower.
pub fn fits(g: &Geometry) -> bool {
    (g.kh, g.kw, g.stride, g.pad) == (3, 3, [1, 1], [1, 1]) && g.h * g.w >= 49
}

/// `[n, o, h, w]` = conv(`x` `[n, c, h, w]`, `weight` `[o, c, 3, 3]`) + `bias` `[o]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let u = kernels(weight, g.o, g.c);
    convolve(g, x, |xi| Mat::strided(&u[xi * g.c..], g.o, g.c, XI * g.c, 1), bias)
}

/// The gradient with respect to the input, `[n, c, h, w]`: the convolution of `dy` with the
/// kernel flipped and its channels swapped (again padding 1, stride 1). With P the 3×3
/// reversal, G·P = Q·G for Q the 4×4 swap of rows 0 and 3, so the flipped kernel's transform
/// G·(P·g·P)·Gᵀ is U with its rows and columns 0 and 3 swapped: U's entries in another order,
/// each matrix transposed.
pub fn grad_input(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    const Q: [usize; 4] = [3, 1, 2, 0];
    let u = kernels(weight, g.o, g.c);
    let swapped = Geometry { c: g.o, o: g.c, ..*g };
    let flipped = |xi: usize| 4 * Q[xi / 4] + Q[xi % 4];
    convolve(&swapped, dy, |xi| Mat::strided(&u[flipped(xi) * g.c..], g.o, g.c, XI * g.c, 1).t(), None)
}

/// The gradient with respect to the weight, `[o, c, 3, 3]`. The forward is linear in U, so
/// ⟨dy, y⟩ gives, per tile, ∂/∂U = (A·dy·Aᵀ) ⊙ V, and through U = G·g·Gᵀ, ∂/∂g = Gᵀ·(…)·G:
/// sixteen GEMMs `M_ξ[o, c] += Ŷ_ξ[o, tiles] · V_ξ[c, tiles]ᵀ` over the batch, then one
/// transform per kernel.
pub fn grad_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (tiles, image) = (Tiles::of(g), g.c * g.h * g.w);
    let nb = images_per_chunk(g, tiles);
    let min_len = task_size(nb >= g.n);
    let chunks: Vec<(&[f32], &[f32])> = x.chunks(nb * image).zip(dy.chunks(nb * g.o * g.h * g.w)).collect();
    // A few partial sums (as im2col's weight gradient), added in order.
    let partials: Vec<Vec<f32>> = chunks
        .par_chunks(chunks.len().div_ceil(4))
        .map(|run| {
            let mut sums = vec![0.0; XI * g.o * g.c];
            for &(images, dy) in run {
                let cols = images.len() / image * tiles.count();
                with_scratch(g.c * XI * cols, g.o * XI * cols, |v, dy_tiles| {
                    input_tiles(g, tiles, images, v, min_len);
                    output_gradient_tiles(g, tiles, dy, dy_tiles, min_len);
                    // M_ξ[o, c] += Ŷ_ξ[o, cols] · V_ξ[c, cols]ᵀ
                    sums.par_chunks_mut(g.o * g.c).with_min_len(min_len).enumerate().for_each(|(xi, sums)| {
                        let dy_tiles = Mat::strided(&dy_tiles[xi * cols..], g.o, cols, XI * cols, 1);
                        let v = Mat::strided(&v[xi * cols..], g.c, cols, XI * cols, 1).t();
                        matmul(MatMut::rows(sums, g.o, g.c), dy_tiles, v, 1.0, true);
                    });
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
    fresh::par_zeroed(g.o * g.c * 9, g.c * 9, (0..g.o).into_par_iter(), |dw, oi| weight_row(&sums[oi * g.c..], g.o * g.c, dw, g.c))
}

/// The output's 2×2 tiles (a last row or column of them half outside an odd-sized plane).
#[derive(Clone, Copy)]
struct Tiles {
    rows: usize,
    cols: usize,
}

impl Tiles {
    fn of(g: &Geometry) -> Self {
        Self { rows: g.h.div_ceil(2), cols: g.w.div_ceil(2) }
    }

    fn count(self) -> usize {
        self.rows * self.cols
    }
}

/// Images per chunk, chosen as im2col's are with tiles for output positions: enough
/// columns for the GEMMs to run at speed and four chunks or more per batch, or the whole batch
/// (its steps split over the cores, [`task_size`]) where the kernel has more rows than a chunk
/// has columns.
fn images_per_chunk(g: &Geometry, tiles: Tiles) -> usize {
    let nb = 512usize.div_ceil(tiles.count()).min(g.n.div_ceil(4)).max(1);
    if g.o > nb * tiles.count() { g.n } else { nb }
}

/// The smallest task of a chunk's steps (transforms by plane, GEMMs by entry ξ): each chunk
/// on one core, side by side, or, where one chunk is the `whole` batch, each step split over
/// the cores.
fn task_size(whole: bool) -> usize {
    if whole { 1 } else { usize::MAX }
}

/// U = G·g·Gᵀ for every kernel, `[o, 16, c]` (one `[o, c]` matrix per entry ξ, rows 16·c
/// apart). A row of U at a time: its kernels' nine taps gathered into nine contiguous runs,
/// then each step one pass down all of them.
fn kernels(weight: &[f32], o: usize, c: usize) -> Vec<f32> {
    fresh::par_zeroed(o * XI * c, XI * c, weight.par_chunks(9 * c), |u, kernels| {
        let mut taps = vec![0.0f32; 9 * c];
        for (ci, kernel) in kernels.chunks_exact(9).enumerate() {
            kernel.iter().enumerate().for_each(|(k, &w)| taps[k * c + ci] = w);
        }
        kernel_row(&taps, u, c);
    })
}

/// `u` (`[16, cols]`) = G·g·Gᵀ for the kernels whose taps `(ky, kx)` are `taps[3·ky + kx]`.
/// G·(a, b, c) = (a, (a + b + c)/2, (a − b + c)/2, c): down the kernels' columns, then along
/// the rows.
#[multiversion::multiversion(targets = "simd")]
fn kernel_row(taps: &[f32], u: &mut [f32], cols: usize) {
    let tap = |k: usize| &taps[k * cols..][..cols];
    // down[i][kx]: entry i of G·(g[0][kx], g[1][kx], g[2][kx]).
    let mut down = vec![0.0f32; 12 * cols];
    for kx in 0..3 {
        g_entries(tap(kx), tap(3 + kx), tap(6 + kx), &mut down, kx, 3, cols);
    }
    for i in 0..4 {
        let row = |kx: usize| &down[(3 * i + kx) * cols..][..cols];
        g_entries(row(0), row(1), row(2), u, 4 * i, 1, cols);
    }
}

/// Entries 0…3 of G·(a, b, c), each a run of `cols`, into `out` at runs `first + step·i`.
#[inline(always)]
fn g_entries(a: &[f32], b: &[f32], c: &[f32], out: &mut [f32], first: usize, step: usize, cols: usize) {
    let mut entry = |i: usize, f: fn(f32, f32, f32) -> f32| {
        out[(first + step * i) * cols..][..cols].iter_mut().zip(a.iter().zip(b).zip(c)).for_each(|(o, ((&a, &b), &c))| *o = f(a, b, c));
    };
    entry(0, |a, _, _| a);
    entry(1, |a, b, c| (a + b + c) * 0.5);
    entry(2, |a, b, c| (a - b + c) * 0.5);
    entry(3, |_, _, c| c);
}

/// The convolution of `x` with transformed kernels `u(ξ)` (`[o, c]` each), in chunks of images:
/// input tiles transformed, sixteen GEMMs, output tiles transformed back.
fn convolve<'u>(g: &Geometry, x: &[f32], u: impl Fn(usize) -> Mat<'u> + Sync, bias: Option<&[f32]>) -> Vec<f32> {
    let (tiles, p, image) = (Tiles::of(g), g.h * g.w, g.c * g.h * g.w);
    let nb = images_per_chunk(g, tiles);
    let min_len = task_size(nb >= g.n);
    fresh::par_zeroed(g.n * g.o * p, nb * g.o * p, x.par_chunks(nb * image), |out, images| {
        let cols = images.len() / image * tiles.count();
        with_scratch(g.c * XI * cols, XI * g.o * cols, |v, m| {
            input_tiles(g, tiles, images, v, min_len);
            // m_ξ[o, cols] = U_ξ[o, c] · V_ξ[c, cols]
            m.par_chunks_mut(g.o * cols).with_min_len(min_len).enumerate().for_each(|(xi, m)| {
                let v = Mat::strided(&v[xi * cols..], g.c, cols, XI * cols, 1);
                matmul(MatMut::rows(m, g.o, cols), u(xi), v, 1.0, false);
            });
            output_tiles(g, tiles, m, out, bias, min_len);
        });
    })
}

/// V = Bᵀ·d·B for every 4×4 input tile `d` (rows and columns −1…2 around the output tile's
/// corner), `[c, 16, nb·tiles]`: column `b·tiles + t` for image `b`'s tile `t`; one plane at a
/// time ([`input_plane`]).
fn input_tiles(g: &Geometry, tiles: Tiles, images: &[f32], v: &mut [f32], min_len: usize) {
    let work = 12 * (tiles.rows + 1) * tiles.cols;
    by_plane(g, tiles, g.c, images, v, min_len, work, input_plane);
}

/// A plane's transform into its channel's `[16, cols]` block from column `at`, with `work`.
type PlaneTransform = fn(&Geometry, Tiles, &[f32], &mut [f32], &mut [f32], usize, usize);

/// `transform` for every plane of `planes` (`[nb, channels, h, w]`) into `out`
/// (`[channels, 16, nb·tiles]`), a task per channel where `min_len` lets the chunk split.
#[allow(clippy::too_many_arguments)]
fn by_plane(g: &Geometry, tiles: Tiles, channels: usize, planes: &[f32], out: &mut [f32], min_len: usize, work: usize, transform: PlaneTransform) {
    let (cols, plane) = (out.len() / (channels * XI), g.h * g.w);
    out.par_chunks_mut(XI * cols).with_min_len(min_len).enumerate().for_each_init(
        || vec![0.0f32; work],
        |work, (channel, out)| {
            for b in 0..cols / tiles.count() {
                let x = &planes[(b * channels + channel) * plane..][..plane];
                transform(g, tiles, x, work, out, b * tiles.count(), cols);
            }
        },
    );
}

/// One input plane's tiles into `v` (`[16, cols]`, from column `at`). Bᵀ·(a, b, c, d) =
/// (a − c, b + c, c − b, b − d), first along each row, then down the columns. Each row is
/// split into its even and odd columns, `e` and `o`: tile column i reads (o[i − 1], e[i],
/// o[i], e[i + 1]), so the row transform is a few passes over all of a plane's rows at once,
/// put right at each row's ends (o[−1] and e[tiles] fall in the padding). The rows, −1…2·rows,
/// are kept apart by parity: a tile reads an even, an odd, the next even and the next odd one,
/// so the column transform is long passes too. (One short pass per tile row ran the loops'
/// scalar tails most of the time.)
#[multiversion::multiversion(targets = "simd")]
fn input_plane(g: &Geometry, tiles: Tiles, x: &[f32], work: &mut [f32], v: &mut [f32], at: usize, cols: usize) {
    let (th, tw) = (tiles.rows, tiles.cols);
    let len = (th + 1) * tw;
    let (split, along) = work.split_at_mut(4 * len);
    // split[parity][e, o][row, i]: e = x(y, 2i), o = x(y, 2i + 1), y = 2·row + parity − 1.
    split_rows(g, x, th + 1, 1, split);
    // along[parity][j][row, i]: entry j of the row transform for tile column i.
    for parity in 0..2 {
        let (e, o) = split[2 * parity * len..][..2 * len].split_at(len);
        let [a0, a1, a2, a3] = quarters(&mut along[4 * parity * len..][..4 * len]);
        a0[1..].iter_mut().zip(o.iter().zip(&o[1..])).for_each(|(v, (a, c))| *v = a - c);
        a1.iter_mut().zip(e.iter().zip(o)).for_each(|(v, (b, c))| *v = b + c);
        a2.iter_mut().zip(o.iter().zip(e)).for_each(|(v, (c, b))| *v = c - b);
        a3[..len - 1].iter_mut().zip(e.iter().zip(&e[1..])).for_each(|(v, (b, d))| *v = b - d);
        for row in 0..th + 1 {
            let (first, last) = (row * tw, row * tw + tw - 1);
            a0[first] = -o[first];
            a3[last] = e[last];
        }
    }
    // Down the columns: tile row ty reads rows ty and ty + 1 of each parity.
    let n = th * tw;
    for j in 0..4 {
        let rows = |parity: usize, next: usize| &along[(parity * 4 + j) * len + next * tw..][..n];
        let (r0, r1, r2, r3) = (rows(0, 0), rows(1, 0), rows(0, 1), rows(1, 1));
        let mut entry = |i: usize, f: fn(f32, f32) -> f32, a: &[f32], b: &[f32]| {
            v[(4 * i + j) * cols + at..][..n].iter_mut().zip(a.iter().zip(b)).for_each(|(v, (&a, &b))| *v = f(a, b));
        };
        entry(0, |a, c| a - c, r0, r2);
        entry(1, |b, c| b + c, r1, r2);
        entry(2, |c, b| c - b, r2, r1);
        entry(3, |b, d| b - d, r1, r3);
    }
}

/// A plane's rows split by parity and each into its even and odd columns, as the tile
/// transforms read them: `split[parity][e, o][r, i]` = plane(y, 2i) and plane(y, 2i + 1) for
/// y = 2·r + parity − `shift`, `rows` of them per parity; zero outside the plane.
fn split_rows(g: &Geometry, plane: &[f32], rows: usize, shift: usize, split: &mut [f32]) {
    let len = split.len() / 4;
    let tw = len / rows;
    for (parity, half) in split.chunks_exact_mut(2 * len).enumerate() {
        let (e, o) = half.split_at_mut(len);
        for (r, (e, o)) in e.chunks_exact_mut(tw).zip(o.chunks_exact_mut(tw)).enumerate() {
            let Some(row) = (2 * r + parity).checked_sub(shift).filter(|&y| y < g.h).map(|y| &plane[y * g.w..][..g.w]) else {
                e.fill(0.0);
                o.fill(0.0);
                continue;
            };
            let pairs = row.chunks_exact(2);
            if let [last] = pairs.remainder() {
                (e[tw - 1], o[tw - 1]) = (*last, 0.0);
            }
            for ((pair, e), o) in pairs.zip(e.iter_mut()).zip(o.iter_mut()) {
                (*e, *o) = (pair[0], pair[1]);
            }
        }
    }
}

/// `values` as four runs of equal length.
fn quarters(values: &mut [f32]) -> [&mut [f32]; 4] {
    let len = values.len() / 4;
    let (a, rest) = values.split_at_mut(len);
    let (b, rest) = rest.split_at_mut(len);
    let (c, d) = rest.split_at_mut(len);
    [a, b, c, d]
}

/// Y = Aᵀ·m·A for every tile, `m` `[16, o, nb·tiles]`, into `out` `[nb, o, h, w]` (+ bias);
/// one plane at a time ([`output_plane`]).
fn output_tiles(g: &Geometry, tiles: Tiles, m: &[f32], out: &mut [f32], bias: Option<&[f32]>, min_len: usize) {
    let cols = m.len() / (g.o * XI);
    let work = || vec![0.0f32; 12 * tiles.count()];
    out.par_chunks_mut(g.h * g.w).with_min_len(min_len).enumerate().for_each_init(work, |work, (plane_index, y)| {
        let (b, oi) = (plane_index / g.o, plane_index % g.o);
        let shift = bias.map_or(0.0, |bias| bias[oi]);
        let m = &m[oi * cols + b * tiles.count()..];
        output_plane(g, tiles, m, g.o * cols, work, y, shift);
    });
}

/// One output plane from its tiles' products `m` (its entries ξ `stride` apart).
/// Aᵀ·(a, b, c, d) = (a + b + c, b − c − d): down the columns, along the rows, then each
/// output row interleaved from its tiles' even and odd columns.
#[multiversion::multiversion(targets = "simd")]
fn output_plane(g: &Geometry, tiles: Tiles, m: &[f32], stride: usize, work: &mut [f32], y: &mut [f32], shift: f32) {
    let (tw, n) = (tiles.cols, tiles.count());
    let entry = |xi: usize| &m[xi * stride..][..n];
    // down[i][j][tile], then ends[i][jj][tile]: output row 2·ty + i, column 2·tx + jj.
    let (down, ends) = work.split_at_mut(8 * n);
    for j in 0..4 {
        let (m0, m1, m2, m3) = (entry(j), entry(4 + j), entry(8 + j), entry(12 + j));
        let (top, bottom) = down.split_at_mut(4 * n);
        top[j * n..][..n].iter_mut().zip(m0.iter().zip(m1).zip(m2)).for_each(|(s, ((a, b), c))| *s = a + b + c);
        bottom[j * n..][..n].iter_mut().zip(m1.iter().zip(m2).zip(m3)).for_each(|(s, ((b, c), d))| *s = b - c - d);
    }
    for i in 0..2 {
        let s = |j: usize| &down[(4 * i + j) * n..][..n];
        let (s0, s1, s2, s3) = (s(0), s(1), s(2), s(3));
        let (left, right) = ends[2 * i * n..][..2 * n].split_at_mut(n);
        left.iter_mut().zip(s0.iter().zip(s1).zip(s2)).for_each(|(v, ((a, b), c))| *v = a + b + c + shift);
        right.iter_mut().zip(s1.iter().zip(s2).zip(s3)).for_each(|(v, ((b, c), d))| *v = b - c - d + shift);
    }
    if g.w % 2 == 0 {
        // Output rows 2·ty + i, for every ty, are `ends[i]`'s two halves interleaved: in one
        // pass (`down` is free again), then row by row into place.
        for i in 0..2 {
            let (left, right) = ends[2 * i * n..][..2 * n].split_at(n);
            let rows = &mut down[..2 * n];
            for ((pair, l), r) in rows.chunks_exact_mut(2).zip(left).zip(right) {
                (pair[0], pair[1]) = (*l, *r);
            }
            for (out, row) in y.chunks_exact_mut(g.w).skip(i).step_by(2).zip(rows.chunks_exact(g.w)) {
                out.copy_from_slice(row);
            }
        }
        return;
    }
    for (oy, row) in y.chunks_exact_mut(g.w).enumerate() {
        let (ty, i) = (oy / 2, oy % 2);
        let left = &ends[2 * i * n + ty * tw..][..tw];
        let right = &ends[(2 * i + 1) * n + ty * tw..][..tw];
        let mut pairs = row.chunks_exact_mut(2);
        for ((pair, l), r) in pairs.by_ref().zip(left).zip(right) {
            (pair[0], pair[1]) = (*l, *r);
        }
        if let [last] = pairs.into_remainder() {
            *last = left[tw - 1];
        }
    }
}

/// Ŷ = A·t·Aᵀ for every 2×2 tile `t` of `dy` (`[nb, o, h, w]`; zero past an odd plane's
/// edge), `[o, 16, nb·tiles]` as [`input_tiles`]' columns. A·(p, q) = (p, p + q, p − q, −q),
/// along each row, then down the columns; rows and columns split by parity as there.
fn output_gradient_tiles(g: &Geometry, tiles: Tiles, dy: &[f32], out: &mut [f32], min_len: usize) {
    by_plane(g, tiles, g.o, dy, out, min_len, 12 * tiles.count(), output_gradient_plane);
}

/// One plane of `dy` into `out` (`[16, cols]`, from column `at`).
#[multiversion::multiversion(targets = "simd")]
fn output_gradient_plane(g: &Geometry, tiles: Tiles, dy: &[f32], work: &mut [f32], out: &mut [f32], at: usize, cols: usize) {
    let n = tiles.count();
    // split[row parity][e, o][ty, tx]: e = dy(2·ty + parity, 2·tx), o = dy(…, 2·tx + 1).
    let (split, along) = work.split_at_mut(4 * n);
    split_rows(g, dy, tiles.rows, 0, split);
    // along[row parity][j][tile]
    for parity in 0..2 {
        let (e, o) = split[2 * parity * n..][..2 * n].split_at(n);
        let [a0, a1, a2, a3] = quarters(&mut along[4 * parity * n..][..4 * n]);
        a0.copy_from_slice(e);
        a1.iter_mut().zip(e.iter().zip(o)).for_each(|(v, (p, q))| *v = p + q);
        a2.iter_mut().zip(e.iter().zip(o)).for_each(|(v, (p, q))| *v = p - q);
        a3.iter_mut().zip(o).for_each(|(v, q)| *v = -q);
    }
    for j in 0..4 {
        let (r0, r1) = (&along[j * n..][..n], &along[(4 + j) * n..][..n]);
        let entry = |i: usize| (4 * i + j) * cols + at;
        out[entry(0)..][..n].copy_from_slice(r0);
        out[entry(1)..][..n].iter_mut().zip(r0.iter().zip(r1)).for_each(|(v, (p, q))| *v = p + q);
        out[entry(2)..][..n].iter_mut().zip(r0.iter().zip(r1)).for_each(|(v, (p, q))| *v = p - q);
        out[entry(3)..][..n].iter_mut().zip(r1).for_each(|(v, q)| *v = -q);
    }
}

/// `dw` (`[c, 3, 3]`, one output channel's kernels) = Gᵀ·M·G from `sums` (M's entries ξ for
/// each input channel, runs of `c` that are `stride` apart). Gᵀ·(a, b, c, d) = (a + (b + c)/2, (b − c)/2, (b + c)/2 + d),
/// down the columns, then along the rows, then each kernel's nine values gathered.
#[multiversion::multiversion(targets = "simd")]
fn weight_row(sums: &[f32], stride: usize, dw: &mut [f32], c: usize) {
    let entry = |xi: usize| &sums[xi * stride..][..c];
    let mut down = vec![0.0f32; 12 * c];
    for j in 0..4 {
        gt_entries([entry(j), entry(4 + j), entry(8 + j), entry(12 + j)], &mut down, j, 4, c);
    }
    let mut taps = vec![0.0f32; 9 * c];
    for ky in 0..3 {
        let row = |j: usize| &down[(4 * ky + j) * c..][..c];
        gt_entries([row(0), row(1), row(2), row(3)], &mut taps, 3 * ky, 1, c);
    }
    for (ci, kernel) in dw.chunks_exact_mut(9).enumerate() {
        kernel.iter_mut().enumerate().for_each(|(k, w)| *w = taps[k * c + ci]);
    }
}

/// Entries 0…2 of Gᵀ·(a, b, c, d), each a run of `len`, into `out` at runs `first + step·i`.
#[inline(always)]
fn gt_entries([a, b, c, d]: [&[f32]; 4], out: &mut [f32], first: usize, step: usize, len: usize) {
    let entry = |i: usize| (first + step * i) * len;
    out[entry(0)..][..len].iter_mut().zip(a.iter().zip(b).zip(c)).for_each(|(v, ((a, b), c))| *v = a + (b + c) * 0.5);
    out[entry(1)..][..len].iter_mut().zip(b.iter().zip(c)).for_each(|(v, (b, c))| *v = (b - c) * 0.5);
    out[entry(2)..][..len].iter_mut().zip(b.iter().zip(c).zip(d)).for_each(|(v, ((b, c), d))| *v = (b + c) * 0.5 + d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernel_checks::{assert_same_on_1_and_3_threads, wave};

    /// The convolution by its definition, in f64, with its input and weight gradients for `dy`.
    fn direct(g: &Geometry, x: &[f32], w: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut y, mut dx, mut dw) = (vec![0.0; g.n * g.o * g.h * g.w], vec![0.0; x.len()], vec![0.0; w.len()]);
        for (b, o, oy, ox) in positions(g) {
            for c in 0..g.c {
                for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                    let (iy, ix) = ((oy + ky).wrapping_sub(1), (ox + kx).wrapping_sub(1));
                    if iy < g.h && ix < g.w {
                        let (xi, yi) = (((b * g.c + c) * g.h + iy) * g.w + ix, ((b * g.o + o) * g.h + oy) * g.w + ox);
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
        (0..g.n).flat_map(move |b| (0..g.o).flat_map(move |o| (0..g.h).flat_map(move |oy| (0..g.w).map(move |ox| (b, o, oy, ox)))))
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
            assert!((a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Even and odd sides (a last tile half outside), planes of one row or column, and a
    /// batch taken whole (more output channels than a chunk has tiles).
    #[test]
    fn output_and_gradients_match_the_definition() {
        for (x, w) in [([2, 3, 8, 8], [4, 3]), ([3, 2, 7, 5], [3, 2]), ([2, 2, 7, 6], [3, 2]), ([1, 4, 1, 6], [2, 4]), ([2, 2, 5, 1], [3, 2]), ([5, 3, 4, 4], [70, 3])] {
            let g = Geometry::new(x, [w[0], w[1], 3, 3], [1, 1], [1, 1]).unwrap();
            let (x, w, dy) = (wave(g.n * g.c * g.h * g.w, 0.37), wave(g.o * g.c * 9, 0.71), wave(g.n * g.o * g.h * g.w, 0.53));
            let bias = wave(g.o, 1.3);
            let (mut want_y, want_dx, want_dw) = direct(&g, &x, &w, &dy);
            want_y.iter_mut().enumerate().for_each(|(i, v)| *v += bias[i / (g.h * g.w) % g.o] as f64);
            close(&forward(&g, &x, &w, Some(&bias)), &want_y, &format!("y {g:?}"));
            close(&grad_input(&g, &w, &dy), &want_dx, &format!("dx {g:?}"));
            close(&grad_weight(&g, &x, &dy), &want_dw, &format!("dw {g:?}"));
        }
    }

    /// Sums in the same order on one thread as on three, in chunks of images (a 28×28 plane)
    /// and with the batch taken whole (64 channels, 4×4 planes).
    #[test]
    fn sums_do_not_depend_on_the_thread_count() {
        for (c, size) in [(16, 28), (64, 4)] {
            let g = Geometry::new([16, c, size, size], [c, c, 3, 3], [1, 1], [1, 1]).unwrap();
            let (x, w) = (wave(g.n * g.c * size * size, 0.29), wave(g.o * g.c * 9, 0.61));
            assert_same_on_1_and_3_threads(|| (forward(&g, &x, &w, None), grad_input(&g, &w, &x), grad_weight(&g, &x, &x)));
        }
    }

    #[test]
    fn only_size_keeping_three_by_three_convolutions_of_7_by_7_or_more_fit() {
        let fit = |size: usize, w: [usize; 4], s: usize, p: usize| fits(&Geometry::new([1, 2, size, size], w, [s, s], [p, p]).unwrap());
        assert!(fit(7, [2, 2, 3, 3], 1, 1));
        assert!(!fit(6, [2, 2, 3, 3], 1, 1));
        assert!(!fit(8, [2, 2, 3, 3], 2, 1));
        assert!(!fit(8, [2, 2, 3, 3], 1, 0));
        assert!(!fit(8, [2, 2, 1, 1], 1, 0));
    }
}
