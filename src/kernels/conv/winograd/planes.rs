//! The transforms, a channel of a chunk of images (or a row of kernels) at a time, in long
//! passes: every step is one [`combine`] over all of the channel's tiles at once. Tiles overlap
//! and are `m` apart, so the rows are first gathered by phase: a tile reads input rows
//! m·ty − 1 … m·ty + m, that is rows of phase 0…m−1 of block ty, then phases 0 and 1 of block
//! ty + 1, and the same along the columns; with rows stored by phase, then block, a tile row's
//! inputs are runs one block apart. (One pass per plane, or per tile row, ran the loops' set-up
//! and scalar tails most of the time: 1.3 to 2.5 times slower on ResNet's planes.)

use super::Tiles;
use super::minimal::{Minimal, combine};
use crate::kernels::conv::Geometry;

/// `u` (`[t², cols]`) = G·g·Gᵀ for the kernels whose taps `(ky, kx)` are `taps[3·ky + kx]`
/// (runs of `cols`), or of the kernels turned by 180° where `flipped`: down the kernels'
/// columns, then along the rows.
#[multiversion::multiversion(targets = "simd")]
pub fn kernel_row(f: &Minimal, taps: &[f32], u: &mut [f32], cols: usize, flipped: bool) {
    let t = f.t();
    let tap = |k: usize| &taps[if flipped { 8 - k } else { k } * cols..][..cols];
    // down[i][kx] = Σ_ky G[i][ky]·g[ky][kx]
    let mut down = vec![0.0f32; 3 * t * cols];
    for (i, kx) in (0..t).flat_map(|i| (0..3).map(move |kx| (i, kx))) {
        combine(
            &mut down[(3 * i + kx) * cols..][..cols],
            3,
            |ky| f.g(i, ky),
            |ky| tap(3 * ky + kx),
        );
    }
    for (i, j) in (0..t).flat_map(|i| (0..t).map(move |j| (i, j))) {
        combine(
            &mut u[(t * i + j) * cols..][..cols],
            3,
            |kx| f.g(j, kx),
            |kx| &down[(3 * i + kx) * cols..],
        );
    }
}

/// A chunk's tiles, in the order the transforms make them: a channel's columns run over tile
/// rows, then images, then tile columns, so that every step is one pass over all of a
/// channel's tiles in the chunk, not one per plane. (The GEMMs do not mind the order; the
/// output transform puts each value back in its place.)
#[derive(Clone, Copy)]
pub struct Layout {
    pub tiles: Tiles,
    /// Images in the chunk.
    pub images: usize,
}

impl Layout {
    /// Columns per channel (every tile of every image).
    pub fn cols(self) -> usize {
        self.tiles.count() * self.images
    }

    /// The column of image `b`'s first tile in tile row `ty` (the row's others follow it).
    fn row_start(self, ty: usize, b: usize) -> usize {
        (ty * self.images + b) * self.tiles.cols
    }
}

/// Input channel `channel` of a chunk's `images` (`[nb, c, h, w]`) as V = Bᵀ·d·B for every tile,
/// into `v` (`[t², cols]`).
#[multiversion::multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
pub fn input_channel(
    f: &Minimal,
    g: &Geometry,
    at: Layout,
    images: &[f32],
    channel: usize,
    work: &mut Vec<f32>,
    v: &mut [f32],
) {
    let (m, t, tw, cols) = (f.m, f.t(), at.tiles.cols, at.cols());
    // Blocks of rows 0…th: block r's phase k is input row m·r + k − 1, for every image.
    let block = at.images * tw;
    let len = (at.tiles.rows + 1) * block;
    work.resize(2 * m * t * len + m * tw + 2, 0.0);
    let (gathered, rest) = work.split_at_mut(m * t * len);
    let (along, row) = rest.split_at_mut(m * t * len);
    // gathered[k][s][r, b, i] = x_b(m·r + k − 1, m·i + s − 1), zero outside the plane.
    let plane = |b: usize| &images[(b * g.c + channel) * g.h * g.w..][..g.h * g.w];
    gather(g, at, m, t, 1, at.tiles.rows + 1, plane, row, gathered, len);
    // along[k][j] = Σ_s Bᵀ[j][s]·gathered[k][s]: every row's tiles transformed.
    for k in 0..m {
        for j in 0..t {
            combine(
                &mut along[(k * t + j) * len..][..len],
                t,
                |s| f.bt(j, s),
                |s| &gathered[(k * t + s) * len..],
            );
        }
    }
    // Down the columns: tile row ty reads input row m·ty − 1 + a, phase a mod m of block
    // ty + a div m.
    for a in 0..t {
        for j in 0..t {
            combine(
                &mut v[(t * a + j) * cols..][..cols],
                t,
                |r| f.bt(a, r),
                |r| &along[((r % m) * t + j) * len + r / m * block..],
            );
        }
    }
}

/// One output channel's tiles, Aᵀ·M·A, from their products `prods` (entry ξ of every tile a
/// run, runs `stride` apart) into `ends` (`[m, m, cols]`: the value at row p and column q of
/// each tile): down the columns, then along the rows. [`output_plane`] puts them in place.
#[multiversion::multiversion(targets = "simd")]
pub fn output_channel(
    f: &Minimal,
    at: Layout,
    prods: &[f32],
    stride: usize,
    work: &mut Vec<f32>,
    ends: &mut [f32],
) {
    let (m, t, n) = (f.m, f.t(), at.cols());
    work.resize(m * t * n, 0.0);
    // down[p][j] = Σ_a Aᵀ[p][a]·M[a][j], then ends[p][q] = Σ_j down[p][j]·Aᵀ[q][j].
    for p in 0..m {
        for j in 0..t {
            combine(
                &mut work[(p * t + j) * n..][..n],
                t,
                |a| f.at(p, a),
                |a| &prods[(t * a + j) * stride..],
            );
        }
    }
    for p in 0..m {
        for q in 0..m {
            combine(
                &mut ends[(p * m + q) * n..][..n],
                t,
                |j| f.at(q, j),
                |j| &work[(p * t + j) * n..],
            );
        }
    }
}

/// Image `b`'s output plane `y` from its channel's tile values `ends` ([`output_channel`]),
/// plus `shift`.
#[multiversion::multiversion(targets = "simd")]
pub fn output_plane(
    f: &Minimal,
    g: &Geometry,
    at: Layout,
    ends: &[f32],
    b: usize,
    y: &mut [f32],
    shift: f32,
) {
    let (m, n) = (f.m, at.cols());
    for (oy, row) in y.chunks_exact_mut(g.w).enumerate() {
        let (ty, p) = (oy / m, oy % m);
        let ends = &ends[p * m * n + at.row_start(ty, b)..];
        match m {
            2 => interleave::<2>(row, ends, n, shift),
            4 => interleave::<4>(row, ends, n, shift),
            _ => unreachable!("F(2×2) and F(4×4) only"),
        }
    }
}

/// One channel's tile values dealt out by row phase: `gathered[k][s][r, b, i]` (runs `len`
/// apart) = image b's `plane` at (m·r + k − `shift`, m·i + s − `shift`), for phase k < m,
/// s < `values`, block r < `blocks`; zero outside the plane. `row` holds one padded row,
/// m·(tiles − 1) + `values` long.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gather<'a>(
    g: &Geometry,
    at: Layout,
    m: usize,
    values: usize,
    shift: usize,
    blocks: usize,
    plane: impl Fn(usize) -> &'a [f32],
    row: &mut [f32],
    gathered: &mut [f32],
    len: usize,
) {
    let tw = at.tiles.cols;
    row[..shift].fill(0.0);
    for k in 0..m {
        for r in 0..blocks {
            let y = (m * r + k).checked_sub(shift).filter(|&y| y < g.h);
            let out = &mut gathered[k * values * len..];
            for b in 0..at.images {
                let start = at.row_start(r, b);
                let Some(y) = y else {
                    (0..values).for_each(|s| out[s * len + start..][..tw].fill(0.0));
                    continue;
                };
                row[shift..shift + g.w].copy_from_slice(&plane(b)[y * g.w..][..g.w]);
                row[shift + g.w..].fill(0.0);
                match (m, values) {
                    (2, 2) => deal::<2, 2>(row, out, start, len, tw),
                    (2, 4) => deal::<2, 4>(row, out, start, len, tw),
                    (4, 4) => deal::<4, 4>(row, out, start, len, tw),
                    (4, 6) => deal::<4, 6>(row, out, start, len, tw),
                    _ => unreachable!("F(2×2) and F(4×4) only"),
                }
            }
        }
    }
}

/// `out[s·len + start + i] = row[M·i + s]` for s < T and i < `count`: each tile's T values of
/// a row (tiles M apart) dealt out to T runs, in one pass.
#[inline(always)]
fn deal<const M: usize, const T: usize>(
    row: &[f32],
    out: &mut [f32],
    start: usize,
    len: usize,
    count: usize,
) {
    let row = &row[..M * (count - 1) + T];
    let Ok(mut runs) = out.get_disjoint_mut(std::array::from_fn::<_, T, _>(|s| {
        s * len + start..s * len + start + count
    })) else {
        unreachable!("runs {len} apart hold {count} values");
    };
    for i in 0..count {
        for (s, run) in runs.iter_mut().enumerate() {
            run[i] = row[M * i + s];
        }
    }
}

/// `row[M·tx + q] = values[q·len + tx] + shift`: a row of outputs from its tiles' M runs.
#[inline(always)]
fn interleave<const M: usize>(row: &mut [f32], values: &[f32], len: usize, shift: f32) {
    let count = row.len().div_ceil(M);
    let runs: [&[f32]; M] = std::array::from_fn(|q| &values[q * len..][..count]);
    let (tiles, last) = row.as_chunks_mut::<M>();
    for (tx, tile) in tiles.iter_mut().enumerate() {
        for q in 0..M {
            tile[q] = runs[q][tx] + shift;
        }
    }
    last.iter_mut().enumerate().for_each(|(q, o)| *o = runs[q][count - 1] + shift);
}

/// Channel `channel` of a chunk's `dy` (`[nb, o, h, w]`) as Ŷ = A·dy·Aᵀ for every tile (zero
/// past the plane's edge), into `out` (`[t², cols]`), laid out as [`input_channel`]'s.
#[multiversion::multiversion(targets = "simd")]
#[allow(clippy::too_many_arguments)]
pub fn output_gradient_channel(
    f: &Minimal,
    g: &Geometry,
    at: Layout,
    dy: &[f32],
    channel: usize,
    work: &mut Vec<f32>,
    out: &mut [f32],
) {
    let (m, t, tw, n) = (f.m, f.t(), at.tiles.cols, at.cols());
    work.resize(m * m * n + m * t * n + m * tw, 0.0);
    let (gathered, rest) = work.split_at_mut(m * m * n);
    let (along, row) = rest.split_at_mut(m * t * n);
    // gathered[p][q][ty, b, tx] = dy_b(m·ty + p, m·tx + q), zero outside the plane.
    let plane = |b: usize| &dy[(b * g.o + channel) * g.h * g.w..][..g.h * g.w];
    gather(g, at, m, m, 0, at.tiles.rows, plane, row, gathered, n);
    // along[p][j] = Σ_q dy[p][q]·Aᵀ[q][j], then out[a][j] = Σ_p Aᵀ[p][a]·along[p][j].
    for p in 0..m {
        for j in 0..t {
            combine(
                &mut along[(p * t + j) * n..][..n],
                m,
                |q| f.at(q, j),
                |q| &gathered[(p * m + q) * n..],
            );
        }
    }
    for a in 0..t {
        for j in 0..t {
            combine(
                &mut out[(t * a + j) * n..][..n],
                m,
                |p| f.at(p, a),
                |p| &along[(p * t + j) * n..],
            );
        }
    }
}

/// `dw` (`[c, 3, 3]`, one output channel's kernels) = Gᵀ·M·G from `sums` (M's entries ξ for
/// each input channel, runs of `c` that are `stride` apart): down the columns, along the rows,
/// then each kernel's nine values gathered.
#[multiversion::multiversion(targets = "simd")]
pub fn weight_row(f: &Minimal, sums: &[f32], stride: usize, dw: &mut [f32], c: usize) {
    let t = f.t();
    // down[ky][j] = Σ_i G[i][ky]·M[i][j], then taps[ky][kx] = Σ_j down[ky][j]·G[j][kx].
    let mut down = vec![0.0f32; 3 * t * c];
    for (ky, j) in (0..3).flat_map(|ky| (0..t).map(move |j| (ky, j))) {
        combine(
            &mut down[(ky * t + j) * c..][..c],
            t,
            |i| f.g(i, ky),
            |i| &sums[(t * i + j) * stride..],
        );
    }
    let mut taps = vec![0.0f32; 9 * c];
    for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
        combine(
            &mut taps[(3 * ky + kx) * c..][..c],
            t,
            |j| f.g(j, kx),
            |j| &down[(ky * t + j) * c..],
        );
    }
    for (ci, kernel) in dw.chunks_exact_mut(9).enumerate() {
        kernel.iter_mut().enumerate().for_each(|(k, w)| *w = taps[k * c + ci]);
    }
}
