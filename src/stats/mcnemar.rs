//! The exact McNemar test of two classifiers' per-item correctness.

use statrs::distribution::{Binomial, DiscreteCDF};

use super::StatsError;

/// The discordant pairs and the exact two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// Items the first classifier gets right and the second wrong.
    pub only_a: u64,
    /// Items the second gets right and the first wrong.
    pub only_b: u64,
    pub p: f64,
}

/// `p = min(1, 2 · P[Binomial(b + c, ½) ≤ min(b, c)])`; 1 without discordant pairs.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let binomial = Binomial::new(0.5, n).expect("p = ½ is a probability");
    (2.0 * binomial.cdf(b.min(c))).min(1.0)
}

/// McNemar on the correctness of `a` and `b` over the same items.
pub fn mcnemar(a_right: &[bool], b_right: &[bool]) -> Result<McNemar, StatsError> {
    if a_right.len() != b_right.len() {
        return Err(StatsError::LengthMismatch { a: a_right.len(), b: b_right.len() });
    }
    if a_right.is_empty() {
        return Err(StatsError::TooFew { what: "McNemar's test", need: 1, have: 0 });
    }
    let only_a = a_right.iter().zip(b_right).filter(|&(&a, &b)| a && !b).count() as u64;
    let only_b = a_right.iter().zip(b_right).filter(|&(&a, &b)| !a && b).count() as u64;
    Ok(McNemar { only_a, only_b, p: mcnemar_exact(only_a, only_b) })
}
