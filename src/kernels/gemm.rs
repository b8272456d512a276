//! Matrix products on strided f32 views, through the `gemm` crate (the one flex itself
//! multiplies with). Most of the project's CPU kernels split their work over rayon tasks chosen
//! from the shape and call [`matmul`] inside each task; [`matmul_parallel`] lets gemm split one
//! large product over the cores (by blocks of the output, so sums do not depend on the number
//! of threads).

/// A strided view of a matrix.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// Entry `(r, c)` at `data[r·row_stride + c·col_stride]`.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(
            fits(data.len(), rows, cols, row_stride, col_stride),
            "matrix [{rows}, {cols}] by strides ({row_stride}, {col_stride}) over {} values",
            data.len()
        );
        Self { data, rows, cols, row_stride, col_stride }
    }

    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// A strided, writable view of a matrix (rows and columns must not overlap).
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

impl<'a> MatMut<'a> {
    /// `data` as a row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// Entry `(r, c)` at `data[r·row_stride + c]`, `row_stride ≥ cols`.
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            row_stride >= cols || rows <= 1,
            "rows of {cols} every {row_stride} values overlap"
        );
        assert!(
            fits(data.len(), rows, cols, row_stride, 1),
            "matrix [{rows}, {cols}] by row stride {row_stride} over {} values",
            data.len()
        );
        Self { data, rows, cols, row_stride }
    }
}

/// Whether every entry of a `[rows, cols]` view lies inside `len` values.
fn fits(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// `dst[m, n]` = `scale · a[m, k] · b[k, n]`, or `+=` it when `accumulate`; on this thread.
pub fn matmul(dst: MatMut, a: Mat, b: Mat, scale: f32, accumulate: bool) {
    product(dst, a, b, scale, accumulate, gemm::Parallelism::None);
}

/// [`matmul`] on all of rayon's threads when the product is large enough to pay for them (the
/// threshold flex uses).
pub fn matmul_parallel(dst: MatMut, a: Mat, b: Mat, scale: f32, accumulate: bool) {
    let large = a.rows.saturating_mul(a.cols).saturating_mul(b.cols) >= 192 * 192 * 192;
    let parallelism = if large { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    product(dst, a, b, scale, accumulate, parallelism);
}

fn product(
    dst: MatMut,
    a: Mat,
    b: Mat,
    scale: f32,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert_eq!((dst.rows, dst.cols), (m, n), "destination shape");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: `Mat::strided` and `MatMut::strided` checked that every entry of each view lies
    // inside its buffer (a transpose addresses the same entries), and a `MatMut`'s rows do not
    // overlap; gemm reads and writes only those entries, through pointers borrowed for this call.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}
