//! Reductions along a row of f32 values, taken lane-wise: value `j` goes to lane `j % LANES`,
//! then the lanes are reduced in order. A plain fold over a row is one long chain of dependent
//! operations (the compiler does not reassociate f32 arithmetic); this is `LANES` short chains
//! in one vector. The order depends on the row's length alone, never on the thread count.
//! Inlined into the callers' loops, which are compiled for the widest vectors the CPU has.

/// 16 f32: one AVX-512 register, two AVX2 ones.
pub const LANES: usize = 16;

/// Σ f(v) over a row.
#[inline(always)]
pub fn sum(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    sums(x, x, x, |v, _, _| [f(v), 0.0]).0
}

/// Two sums of `f` over three rows of one length.
#[inline(always)]
pub fn sums(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> [f32; 2]) -> (f32, f32) {
    let mut acc = [[0.0f32; LANES]; 2];
    let (ca, cb, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    for (i, ((&a, &b), &c)) in
        ca.remainder().iter().zip(cb.remainder()).zip(cc.remainder()).enumerate()
    {
        [acc[0][i], acc[1][i]] = f(a, b, c);
    }
    for ((a, b), c) in ca.zip(cb).zip(cc) {
        for i in 0..LANES {
            let [u, v] = f(a[i], b[i], c[i]);
            acc[0][i] += u;
            acc[1][i] += v;
        }
    }
    (acc[0].iter().sum(), acc[1].iter().sum())
}

/// The largest value (NaNs passed over, as by `f32::max`); −∞ for an empty row.
#[inline(always)]
pub fn max(row: &[f32]) -> f32 {
    let larger = |m: f32, v: f32| if v > m { v } else { m };
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    acc.iter_mut().zip(chunks.remainder()).for_each(|(a, &v)| *a = larger(*a, v));
    for chunk in chunks {
        acc.iter_mut().zip(chunk).for_each(|(a, &v)| *a = larger(*a, v));
    }
    acc.into_iter().fold(f32::NEG_INFINITY, larger)
}

#[cfg(test)]
mod tests {
    /// Rows shorter than, equal to and between multiples of the lane count.
    #[test]
    fn lane_reductions_are_the_row_reductions() {
        for len in [0, 1, 7, 16, 17, 49, 64, 100] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 53 % 89) as f32 - 44.0) / 9.0).collect();
            assert_eq!(
                super::max(&a),
                a.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                "max of {len}"
            );
            let sum: f64 = a.iter().map(|&v| f64::from(v)).sum();
            let dot: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
            let scale = 1.0 + a.iter().map(|&v| f64::from(v.abs())).sum::<f64>() * 10.0;
            assert!((f64::from(super::sum(&a, |v| v)) - sum).abs() < 1e-6 * scale, "sum of {len}");
            let (dot_got, sum_got) = super::sums(&a, &b, &a, |x, y, _| [x * y, x]);
            assert!((f64::from(dot_got) - dot).abs() < 1e-6 * scale, "dot of {len}");
            assert_eq!(sum_got, super::sum(&a, |v| v), "second sum of {len}");
        }
        // NaNs are passed over, as by `f32::max`, wherever they fall: here in the largest
        // value's lane, among the last values.
        let mut row = vec![1.0; 20];
        row[3] = f32::NAN;
        row[18] = f32::NAN;
        row[2] = 4.0;
        assert_eq!(super::max(&row), 4.0);
    }
}
