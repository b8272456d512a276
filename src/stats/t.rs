//! Student-t intervals and tests over a few values: the folds of a cross-validation, the seeds
//! of a repeated experiment.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{LEVEL, StatsError};

/// A mean with its interval and two-sided test of zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    pub mean: f64,
    pub ci: (f64, f64),
    pub t: f64,
    pub df: f64,
    pub p: f64,
}

fn mean_var(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

fn student(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("df ≥ 1")
}

/// The 95 % t-interval of the mean: `x̄ ± t(0.975, n − 1) · s / √n` (scipy's
/// `t.interval(0.95, n − 1, x̄, sem)`). Needs two values.
pub fn t_interval(values: &[f64]) -> Result<(f64, f64), StatsError> {
    if values.len() < 2 {
        return Err(StatsError::TooFew { what: "a t-interval", need: 2, have: values.len() });
    }
    let (mean, var) = mean_var(values);
    let n = values.len() as f64;
    let half = student(n - 1.0).inverse_cdf(0.5 + LEVEL / 2.0) * (var / n).sqrt();
    Ok((mean - half, mean + half))
}

/// The corrected resampled t-test (Nadeau & Bengio 2003) of paired differences `d` over J
/// resamples: `t = d̄ / √((1/J + ratio) · s²)`, J − 1 degrees of freedom, where `ratio` is
/// n_test / n_train of one resample (1/(K − 1) for K-fold cross-validation). With `ratio = 0`
/// this is the plain paired t-test. Needs two differences with some spread (or all zero: no
/// difference, p = 1).
pub fn corrected_t(d: &[f64], ratio: f64) -> Result<TTest, StatsError> {
    if d.len() < 2 {
        return Err(StatsError::TooFew { what: "a paired t-test", need: 2, have: d.len() });
    }
    let (mean, var) = mean_var(d);
    let j = d.len() as f64;
    let se = ((1.0 / j + ratio) * var).sqrt();
    let df = j - 1.0;
    if se == 0.0 {
        return if mean == 0.0 {
            Ok(TTest { mean, ci: (0.0, 0.0), t: 0.0, df, p: 1.0 })
        } else {
            Err(StatsError::NoSpread(
                "every paired difference is the same: the t-test is undefined",
            ))
        };
    }
    let dist = student(df);
    let t = mean / se;
    let half = dist.inverse_cdf(0.5 + LEVEL / 2.0) * se;
    let p = (2.0 * dist.sf(t.abs())).min(1.0);
    Ok(TTest { mean, ci: (mean - half, mean + half), t, df, p })
}
