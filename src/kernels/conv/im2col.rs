//! The CPU kernels: a convolution and its two gradients as im2col + GEMM over plain f32
//! slices in NCHW order. Work is split into chunks of whole images, chosen from the shape
//! alone, so every sum is taken in the same order whatever the number of threads.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::kernels::fresh;
use crate::kernels::gemm::{Mat, MatMut, matmul, matmul_parallel};
use crate::kernels::scratch::with_scratch;

/// One 2-D convolution: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, output `[n, o, oh, ow]`;
/// symmetric zero padding, one group, no dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// `None` where the output would be empty.
    pub fn new(
        input: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        pad: [usize; 2],
    ) -> Option<Self> {
        let [n, c, h, w] = input;
        let [o, _, kh, kw] = weight;
        let out = |size: usize, k: usize, s: usize, p: usize| {
            (size + 2 * p).checked_sub(k).map(|d| d / s + 1)
        };
        let (oh, ow) = (out(h, kh, stride[0], pad[0])?, out(w, kw, stride[1], pad[1])?);
        (n > 0 && o > 0 && oh > 0 && ow > 0).then_some(Self {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            pad,
            oh,
            ow,
        })
    }

    /// Rows of an im2col matrix: one per (input channel, kernel row, kernel column).
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output positions per image.
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Images per GEMM: enough columns (≥ 512) for the kernel to run at speed, and at least
    /// four chunks per batch so that several cores have work. Where the weight has more rows
    /// than such a chunk has columns (ResNet's last stages at small sizes: few positions, many
    /// channels), the whole batch, in one GEMM split over the cores ([`Self::product`]): each
    /// chunk's product would read the whole weight, and each chunk's weight-gradient partial
    /// would write a buffer the weight's size, for little arithmetic.
    fn images_per_chunk(&self) -> usize {
        let nb = 512usize.div_ceil(self.p()).min(self.n.div_ceil(4)).max(1);
        if self.o > nb * self.p() { self.n } else { nb }
    }

    /// The fewest `piece`-value pieces of a chunk's copies (im2col, col2im) one task takes:
    /// where the chunk is the whole batch (its GEMM split over the cores), tasks of about 16 K
    /// values spread over the cores; else the whole chunk on its own thread, beside the others.
    /// Each value is written by one task, its terms added in the same order either way.
    fn min_pieces(&self, piece: usize) -> usize {
        if self.images_per_chunk() >= self.n {
            (1usize << 14).div_ceil(piece.max(1))
        } else {
            usize::MAX
        }
    }

    /// Stride 1 and an output the input's size (padding ⌊k/2⌋: most of ResNet's convolutions).
    fn keeps_size(&self) -> bool {
        self.stride == [1, 1] && (self.oh, self.ow) == (self.h, self.w)
    }

    /// The GEMM for a chunk: on this thread, or over all cores where one chunk is the batch.
    fn product(&self) -> fn(MatMut, Mat, Mat, f32, bool) {
        if self.images_per_chunk() >= self.n { matmul_parallel } else { matmul }
    }
}

/// `[n, o, oh, ow]` = conv(`x` `[n, c, h, w]`, `weight` `[o, c, kh, kw]`) + `bias` `[o]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, p, nb) = (g.k(), g.p(), g.images_per_chunk());
    fresh::par_zeroed(
        g.n * g.o * p,
        nb * g.o * p,
        x.par_chunks(nb * g.image_len()),
        |out, images| {
            let nb = images.len() / g.image_len();
            let weight = Mat::rows(weight, g.o, k);
            if nb == 1 {
                // out[o, p] = weight[o, k] · cols[k, p], straight into the output.
                with_scratch(k * p, 0, |cols, _| {
                    im2col(g, images, cols);
                    g.product()(
                        MatMut::rows(out, g.o, p),
                        weight,
                        Mat::rows(cols, k, p),
                        1.0,
                        false,
                    );
                });
            } else {
                with_scratch(k * nb * p, g.o * nb * p, |cols, y| {
                    im2col(g, images, cols);
                    // y[o, nb·p] = weight[o, k] · cols[k, nb·p], then each image's planes in place.
                    g.product()(
                        MatMut::rows(y, g.o, nb * p),
                        weight,
                        Mat::rows(cols, k, nb * p),
                        1.0,
                        false,
                    );
                    let y = &*y;
                    out.par_chunks_mut(g.o * p)
                        .with_min_len(g.min_pieces(g.o * p))
                        .enumerate()
                        .for_each(|(b, image)| {
                            for (o, plane) in image.chunks_exact_mut(p).enumerate() {
                                plane.copy_from_slice(&y[o * nb * p + b * p..][..p]);
                            }
                        });
                });
            }
            if let Some(bias) = bias {
                for (plane, b) in out.chunks_exact_mut(p).zip(bias.iter().cycle()) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        },
    )
}

/// The gradient with respect to the input, `[n, c, h, w]`, from the output's `dy`.
pub fn grad_input(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p, nb) = (g.k(), g.p(), g.images_per_chunk());
    fresh::par_zeroed(
        g.n * g.image_len(),
        nb * g.image_len(),
        dy.par_chunks(nb * g.o * p),
        |dx, dy| {
            let nb = dy.len() / (g.o * p);
            with_scratch(k * nb * p, g.o * nb * p, |cols, scratch| {
                let dy_cols = columns(g, dy, g.o, p, scratch);
                // cols[k, nb·p] = weightᵀ[k, o] · dy[o, nb·p]
                g.product()(
                    MatMut::rows(cols, k, nb * p),
                    Mat::rows(weight, g.o, k).t(),
                    Mat::rows(dy_cols, g.o, nb * p),
                    1.0,
                    false,
                );
                col2im(g, cols, dx);
            });
        },
    )
}

/// The gradient with respect to the weight, `[o, c, kh, kw]`.
pub fn grad_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p, nb) = (g.k(), g.p(), g.images_per_chunk());
    let chunks: Vec<(&[f32], &[f32])> =
        x.chunks(nb * g.image_len()).zip(dy.chunks(nb * g.o * p)).collect();
    // A few partial sums (not one per chunk: a weight gradient can be tens of MB), added in order.
    let partials: Vec<Vec<f32>> = chunks
        .par_chunks(chunks.len().div_ceil(4))
        .map(|run| {
            let mut acc = vec![0.0; g.o * k];
            for &(images, dy) in run {
                let nb = images.len() / g.image_len();
                with_scratch(k * nb * p, g.o * nb * p, |cols, scratch| {
                    im2col(g, images, cols);
                    let dy_cols = columns(g, dy, g.o, p, scratch);
                    // acc[o, k] += dy[o, nb·p] · colsᵀ[nb·p, k]
                    g.product()(
                        MatMut::rows(&mut acc, g.o, k),
                        Mat::rows(dy_cols, g.o, nb * p),
                        Mat::rows(cols, k, nb * p).t(),
                        1.0,
                        true,
                    );
                });
            }
            acc
        })
        .collect();
    partials
        .into_iter()
        .reduce(|mut sum, part| {
            sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
            sum
        })
        .expect("a batch has at least one image")
}

/// The gradient with respect to the bias, `[o]`.
pub fn grad_bias(g: &Geometry, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0.0; g.o];
    for image in dy.chunks_exact(g.o * g.p()) {
        for (d, plane) in db.iter_mut().zip(image.chunks_exact(g.p())) {
            *d += plane.iter().sum::<f32>();
        }
    }
    db
}

/// `blocks` `[nb, rows, p]` (one `[rows, p]` block per image) as a `[rows, nb·p]` matrix: the
/// blocks themselves for one image, else written into `out`.
fn columns<'a>(
    g: &Geometry,
    blocks: &'a [f32],
    rows: usize,
    p: usize,
    out: &'a mut [f32],
) -> &'a [f32] {
    let nb = blocks.len() / (rows * p);
    if nb == 1 {
        return blocks;
    }
    out[..rows * nb * p]
        .par_chunks_mut(nb * p)
        .with_min_len(g.min_pieces(nb * p))
        .enumerate()
        .for_each(|(r, row)| {
            for (b, piece) in row.chunks_exact_mut(p).enumerate() {
                piece.copy_from_slice(&blocks[(b * rows + r) * p..][..p]);
            }
        });
    out
}

/// `cols[(ci, ky, kx), (b, oy, ox)]` = `images[b, ci, oy·s + ky − pad, ox·s + kx − pad]`, zero
/// in the padding; an im2col row (all of the chunk's images) at a time.
fn im2col(g: &Geometry, images: &[f32], cols: &mut [f32]) {
    let row = images.len() / g.image_len() * g.p();
    cols[..g.k() * row].par_chunks_mut(row).with_min_len(g.min_pieces(row)).enumerate().for_each(
        |(r, out)| {
            if g.keeps_size() {
                im2col_same_size(g, images, r, out)
            } else {
                im2col_by_rows(g, images, r, out)
            }
        },
    );
}

/// [`im2col`]'s row `r`, row by row of the output.
fn im2col_by_rows(g: &Geometry, images: &[f32], r: usize, row: &mut [f32]) {
    for (b, image) in images.chunks_exact(g.image_len()).enumerate() {
        taps(g, r, b, |col, input, span| {
            let out = &mut row[col..][..g.ow];
            match input {
                Some(at) => span.gather(&image[at..][..g.w], out),
                None => out.fill(0.0),
            }
        });
    }
}

/// [`im2col`]'s row `r` where the output plane has the input's size (stride 1, padding ⌊k/2⌋:
/// most of ResNet's convolutions). Each image's part is then the input plane shifted by one
/// offset: one copy of the whole plane, then zeros where a row or a column fell in the
/// padding (where the copy ran over from the neighbouring row). Row by row of the output, the
/// copies are a few to a few dozen values each, and their calls cost more than the values.
fn im2col_same_size(g: &Geometry, images: &[f32], r: usize, row: &mut [f32]) {
    let tap = PlaneShift::of(g, r);
    for (image, out) in images.chunks_exact(g.image_len()).zip(row.chunks_exact_mut(g.p())) {
        let plane = &image[tap.ci * g.p()..][..g.p()];
        out[..tap.lo].fill(0.0);
        out[tap.hi..].fill(0.0);
        out[tap.lo..tap.hi].copy_from_slice(&plane[tap.source()]);
        tap.clear_padding(g, out);
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input position it came
/// from, an image at a time, each value's terms in im2col's row order. `cols` is scratch: a
/// size-keeping convolution first clears its padding entries in place.
fn col2im(g: &Geometry, cols: &mut [f32], images: &mut [f32]) {
    let row_len = images.len() / g.image_len() * g.p();
    let cols = &mut cols[..g.k() * row_len];
    let shifts: Vec<PlaneShift> = if g.keeps_size() {
        (0..g.k()).map(|r| PlaneShift::of(g, r)).collect()
    } else {
        Vec::new()
    };
    if g.keeps_size() {
        cols.par_chunks_mut(row_len).with_min_len(g.min_pieces(row_len)).zip(&shifts).for_each(
            |(row, tap)| {
                row.chunks_exact_mut(g.p()).for_each(|part| tap.clear_padding(g, part));
            },
        );
    }
    let cols = &*cols;
    images
        .par_chunks_mut(g.image_len())
        .with_min_len(g.min_pieces(g.image_len()))
        .enumerate()
        .for_each(|(b, image)| {
            for (r, row) in cols.chunks_exact(row_len).enumerate() {
                if g.keeps_size() {
                    col2im_same_size(g, &shifts[r], &row[b * g.p()..][..g.p()], image)
                } else {
                    col2im_by_rows(g, r, b, row, image)
                }
            }
        });
}

/// Image `b`'s part of im2col row `r`, added back row by row of the output.
fn col2im_by_rows(g: &Geometry, r: usize, b: usize, row: &[f32], image: &mut [f32]) {
    taps(g, r, b, |col, input, span| {
        if let Some(at) = input {
            span.scatter_add(&row[col..][..g.ow], &mut image[at..][..g.w]);
        }
    });
}

/// [`col2im`] as [`im2col_same_size`] runs backwards: an image's part of an im2col row, its
/// padding entries cleared, added onto its input plane shifted back in one pass. Each input
/// value gets its terms in the order [`col2im_by_rows`] adds them, so the sums are the same.
fn col2im_same_size(g: &Geometry, tap: &PlaneShift, part: &[f32], image: &mut [f32]) {
    let plane = &mut image[tap.ci * g.p()..][..g.p()];
    plane[tap.source()].iter_mut().zip(&part[tap.lo..tap.hi]).for_each(|(x, v)| *x += v);
}

/// How an im2col row of a size-keeping convolution reads its input plane: output `(oy, ox)`
/// reads input `(oy + dy, ox + dx)`, so output positions `lo..hi` read the plane shifted by
/// `dy·w + dx`; of those, the rows above or below the input and the columns left or right of
/// it fell in the padding.
struct PlaneShift {
    ci: usize,
    dy: isize,
    dx: isize,
    shift: isize,
    lo: usize,
    hi: usize,
}

impl PlaneShift {
    /// The shift of im2col row `r` (input channel, kernel row, kernel column).
    fn of(g: &Geometry, r: usize) -> Self {
        let (ci, ky, kx) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
        let (dy, dx) = (ky as isize - g.pad[0] as isize, kx as isize - g.pad[1] as isize);
        let (p, shift) = (g.p() as isize, dy * g.w as isize + dx);
        let (lo, hi) = ((-shift).clamp(0, p) as usize, (p - shift).clamp(0, p) as usize);
        Self { ci, dy, dx, shift, lo, hi: hi.max(lo) }
    }

    /// The plane positions that output positions `lo..hi` read (empty where none do).
    fn source(&self) -> std::ops::Range<usize> {
        if self.lo == self.hi {
            return 0..0;
        }
        let start = (self.lo as isize + self.shift) as usize;
        start..start + (self.hi - self.lo)
    }

    /// Zeros where `row`'s reads fell in the padding: whole rows above or below the input, then
    /// columns left or right of it (column by column, usually one: a fill per row would be a
    /// `memset` call per row).
    fn clear_padding(&self, g: &Geometry, row: &mut [f32]) {
        let (h, w) = (g.h, g.w);
        let rows = if self.dy < 0 {
            0..(-self.dy as usize).min(h)
        } else {
            h.saturating_sub(self.dy as usize)..h
        };
        row[rows.start * w..rows.end * w].fill(0.0);
        for ox in if self.dx < 0 {
            0..(-self.dx as usize).min(w)
        } else {
            w.saturating_sub(self.dx as usize)..w
        } {
            row[ox..].iter_mut().step_by(w).for_each(|v| *v = 0.0);
        }
    }
}

/// Image `b`'s output rows of im2col row `r`: `visit(col, input, span)` with `col` the offset
/// of their `ow` entries in the row (`[nb·p]`), `input` the offset in the image of the input
/// row it reads (`None`: a padding row) and `span` how that row's columns meet it. The one walk
/// that [`im2col`] and [`col2im`] share, which keeps them adjoint.
fn taps(g: &Geometry, r: usize, b: usize, mut visit: impl FnMut(usize, Option<usize>, Span)) {
    let (ci, ky, span) = (r / (g.kh * g.kw), r / g.kw % g.kh, Span::new(g, r % g.kw));
    for oy in 0..g.oh {
        let iy = (oy * g.stride[0] + ky).checked_sub(g.pad[0]).filter(|&iy| iy < g.h);
        visit(b * g.p() + oy * g.ow, iy.map(|iy| (ci * g.h + iy) * g.w), span);
    }
}

/// How one kernel column meets an input row: output columns `lo..hi` read input columns
/// `first`, `first + step`, …; the others fall in the padding. The same for every row, so
/// worked out once per kernel column.
#[derive(Clone, Copy)]
struct Span {
    lo: usize,
    hi: usize,
    first: usize,
    step: usize,
}

impl Span {
    fn new(g: &Geometry, kx: usize) -> Self {
        let (s, pad) = (g.stride[1], g.pad[1]);
        let lo = pad.saturating_sub(kx).div_ceil(s).min(g.ow);
        let hi = (g.w + pad).checked_sub(kx + 1).map_or(0, |last| (last / s + 1).min(g.ow)).max(lo);
        let first = if hi > lo { lo * s + kx - pad } else { 0 };
        Self { lo, hi, first, step: s }
    }

    /// `out[ox] = row[ox·s + kx − pad]`, zero in the padding.
    fn gather(self, row: &[f32], out: &mut [f32]) {
        let Self { lo, hi, first, step } = self;
        out[..lo].fill(0.0);
        out[hi..].fill(0.0);
        match step {
            1 => out[lo..hi].copy_from_slice(&row[first..][..hi - lo]),
            2 => every_second(&row[first..], &mut out[lo..hi]),
            _ => out[lo..hi]
                .iter_mut()
                .zip(row[first..].iter().step_by(step))
                .for_each(|(o, &v)| *o = v),
        }
    }

    /// `row[ox·s + kx − pad] += cols[ox]` outside the padding.
    fn scatter_add(self, cols: &[f32], row: &mut [f32]) {
        let Self { lo, hi, first, step } = self;
        if step == 1 {
            row[first..][..hi - lo].iter_mut().zip(&cols[lo..hi]).for_each(|(r, c)| *r += c);
        } else {
            row[first..].iter_mut().step_by(step).zip(&cols[lo..hi]).for_each(|(r, c)| *r += c);
        }
    }
}

/// `out[i] = row[2·i]`: stride-2 convolutions' im2col rows (ResNet's stem and each stage's
/// first convolution), in pairs the compiler turns into vector shuffles where the CPU has
/// them (one value at a time, these rows were most of im2col's time).
#[multiversion(targets = "simd")]
fn every_second(row: &[f32], out: &mut [f32]) {
    assert!(row.len() + 1 >= 2 * out.len(), "a value for every output");
    let Some((last, out)) = out.split_last_mut() else { return };
    out.iter_mut().zip(row.chunks_exact(2)).for_each(|(o, pair)| *o = pair[0]);
    *last = row[2 * out.len()];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// The convolution by its definition, in f64.
    fn direct(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; g.n * g.o * g.p()];
        for b in 0..g.n {
            for o in 0..g.o {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut sum = 0.0;
                        for c in 0..g.c {
                            for ky in 0..g.kh {
                                for kx in 0..g.kw {
                                    let iy = (oy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                                    let ix = (ox * g.stride[1] + kx) as isize - g.pad[1] as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.h
                                        && (ix as usize) < g.w
                                    {
                                        let xv = x[((b * g.c + c) * g.h + iy as usize) * g.w
                                            + ix as usize];
                                        sum += xv as f64
                                            * w[((o * g.c + c) * g.kh + ky) * g.kw + kx] as f64;
                                    }
                                }
                            }
                        }
                        out[((b * g.o + o) * g.oh + oy) * g.ow + ox] = sum;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
            assert!((a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Shapes with padding and strides that do and do not divide the input, 1×1 to 7×7
    /// kernels, and batches of one to several chunks.
    fn shapes() -> Vec<Geometry> {
        [
            ([2, 3, 9, 9], [4, 3, 3, 3], [1, 1], [1, 1]),
            ([5, 2, 10, 7], [3, 2, 3, 3], [2, 2], [1, 1]),
            ([3, 3, 17, 17], [4, 3, 7, 7], [2, 2], [3, 3]),
            ([9, 4, 6, 6], [5, 4, 1, 1], [2, 2], [0, 0]),
            ([2, 2, 8, 8], [2, 2, 4, 4], [4, 4], [0, 0]),
            ([1, 2, 5, 6], [3, 2, 3, 2], [1, 2], [2, 1]),
            ([2, 2, 6, 9], [3, 2, 5, 5], [1, 1], [2, 2]),
            ([3, 2, 4, 5], [3, 2, 1, 1], [1, 1], [0, 0]),
            ([1, 1, 2, 3], [1, 1, 5, 7], [1, 1], [2, 3]),
            // More output channels than a chunk has columns: the whole batch in one GEMM.
            ([6, 3, 4, 4], [40, 3, 3, 3], [2, 2], [1, 1]),
            ([6, 3, 4, 4], [40, 3, 3, 3], [1, 1], [1, 1]),
        ]
        .into_iter()
        .map(|(x, w, s, p)| Geometry::new(x, w, s, p).unwrap())
        .collect()
    }

    #[test]
    fn forward_matches_the_definition() {
        for g in shapes() {
            let (x, w) = (values(g.n * g.image_len(), 1), values(g.o * g.k(), 2));
            let bias = values(g.o, 3);
            let mut want = direct(&g, &x, &w);
            for (i, plane) in want.chunks_mut(g.p()).enumerate() {
                plane.iter_mut().for_each(|v| *v += bias[i % g.o] as f64);
            }
            close(&forward(&g, &x, &w, Some(&bias)), &want, &format!("{g:?}"));
        }
    }

    /// The gradients are the adjoints of the forward: ⟨dy, conv(x, w)⟩ is linear in x and in
    /// w, so its gradient is read off entry by entry from the definition.
    #[test]
    fn gradients_match_the_definition() {
        for g in shapes() {
            let (x, w, dy) = (
                values(g.n * g.image_len(), 4),
                values(g.o * g.k(), 5),
                values(g.n * g.o * g.p(), 6),
            );
            let inner = |x: &[f32], w: &[f32]| {
                direct(&g, x, w).iter().zip(&dy).map(|(a, &b)| a * b as f64).sum::<f64>()
            };
            let unit = |len: usize, i: usize| {
                (0..len).map(|j| if j == i { 1.0 } else { 0.0 }).collect::<Vec<f32>>()
            };
            let want_dx: Vec<f64> = (0..x.len()).map(|i| inner(&unit(x.len(), i), &w)).collect();
            let want_dw: Vec<f64> = (0..w.len()).map(|i| inner(&x, &unit(w.len(), i))).collect();
            close(&grad_input(&g, &w, &dy), &want_dx, &format!("dx {g:?}"));
            close(&grad_weight(&g, &x, &dy), &want_dw, &format!("dw {g:?}"));
            let want_db: Vec<f64> = (0..g.o)
                .map(|o| dy.chunks(g.p()).skip(o).step_by(g.o).flatten().map(|&v| v as f64).sum())
                .collect();
            close(&grad_bias(&g, &dy), &want_db, &format!("db {g:?}"));
        }
    }

    /// Where the output keeps the input's size, the whole-plane copies are the row-by-row
    /// ones, value for value (padding wider than the input included).
    #[test]
    fn same_size_im2col_is_the_row_by_row_one() {
        let same: Vec<Geometry> = shapes().into_iter().filter(Geometry::keeps_size).collect();
        assert_eq!(same.len(), 5);
        for g in same {
            let x = values(g.n * g.image_len(), 7);
            let (mut fast, mut rows) =
                (vec![f32::NAN; g.k() * g.n * g.p()], vec![f32::NAN; g.k() * g.n * g.p()]);
            im2col(&g, &x, &mut fast);
            for (r, row) in rows.chunks_exact_mut(g.n * g.p()).enumerate() {
                im2col_by_rows(&g, &x, r, row);
            }
            assert_eq!(fast, rows, "{g:?}");
        }
    }

    /// Its adjoint too: whole planes add the same terms in the same order as row by row, so
    /// the sums are the same bits; the padding entries of the columns (here non-zero) are left out.
    #[test]
    fn same_size_col2im_is_the_row_by_row_one() {
        for g in shapes().into_iter().filter(Geometry::keeps_size) {
            let cols = values(g.k() * g.n * g.p(), 8);
            let (mut fast, mut rows) =
                (vec![0.0; g.n * g.image_len()], vec![0.0; g.n * g.image_len()]);
            col2im(&g, &mut cols.clone(), &mut fast);
            for (b, image) in rows.chunks_exact_mut(g.image_len()).enumerate() {
                for (r, row) in cols.chunks_exact(g.n * g.p()).enumerate() {
                    col2im_by_rows(&g, r, b, row, image);
                }
            }
            assert_eq!(fast, rows, "{g:?}");
        }
    }

    /// A whole batch in one GEMM large enough for gemm to split it over the cores: the
    /// definition's values, and the same bits on one thread as on three.
    #[test]
    fn whole_batch_products_match_the_definition_on_any_thread_count() {
        let g = Geometry::new([12, 16, 8, 8], [256, 16, 3, 3], [2, 2], [1, 1]).unwrap();
        assert_eq!(
            (g.images_per_chunk(), g.o * g.k() * g.n * g.p()),
            (12, 192 * 192 * 192),
            "one chunk, at gemm's threshold"
        );
        // And a size-keeping one (ResNet-18's last stage at 112 px), whose copies split too.
        let same = Geometry::new([12, 16, 4, 4], [256, 16, 3, 3], [1, 1], [1, 1]).unwrap();
        assert!(
            same.keeps_size()
                && same.images_per_chunk() == 12
                && same.min_pieces(same.n * same.p()) < same.k()
        );
        for g in [g, same] {
            let (x, w, dy) = (
                wave(g.n * g.image_len(), 0.37),
                wave(g.o * g.k(), 0.11),
                wave(g.n * g.o * g.p(), 0.53),
            );
            close(&forward(&g, &x, &w, None), &direct(&g, &x, &w), "forward");
            assert_same_on_1_and_3_threads(|| {
                (forward(&g, &x, &w, None), grad_input(&g, &w, &dy), grad_weight(&g, &x, &dy))
            });
        }
    }

    #[test]
    fn empty_outputs_are_refused() {
        assert_eq!(Geometry::new([1, 1, 2, 2], [1, 1, 3, 3], [1, 1], [0, 0]), None);
        assert!(Geometry::new([1, 1, 2, 2], [1, 1, 3, 3], [1, 1], [1, 1]).is_some());
    }
}
