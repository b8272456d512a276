//! eˣ for x ≤ 0, branch-free, so that loops over slices vectorise (libm's `expf` is a scalar
//! call per element). The GELU and the attention's softmax use it.

use std::f32::consts::LOG2_E;

/// eˣ for x ≤ 0: x = k·ln 2 + r, |r| ≤ ln 2 / 2, and eʳ by its Taylor series to r⁷ (truncation
/// < 10⁻⁸, relative). ln 2 is split in two (Cody and Waite) so that r stays exact to f32's
/// precision for every k down to −126. Below −87 it returns e⁻⁸⁷ (f32's normal range ends there); NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Round to nearest by adding and subtracting 1.5·2²³ (SSE2 arithmetic: `round` and
    // `floor` are libm calls below SSE4.1, the build's baseline, and would stop vectorisation).
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let rounded = x * LOG2_E + ROUND;
    let k = rounded - ROUND;
    // k as an integer, read from the low bits of `rounded` (`k as i32` would saturate, which
    // the compiler does one lane at a time).
    let k_int = rounded.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    // LN2_HI has 9 significant bits, so k·LN2_HI and x − k·LN2_HI are exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    p * f32::from_bits(((k_int + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    #[test]
    fn within_2e7_relative_of_f64s_exp() {
        for i in 0..=870_000 {
            let x = -(i as f32) / 10_000.0;
            let (got, want) = (f64::from(super::exp(x)), f64::from(x).exp());
            assert!(((got - want) / want).abs() < 2e-7, "exp({x}): {got} vs {want}");
        }
        assert_eq!(super::exp(0.0), 1.0);
        assert_eq!(super::exp(-1000.0), super::exp(-87.0));
        assert!(super::exp(f32::NAN).is_nan());
    }
}
