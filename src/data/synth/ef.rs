//! The ejection-fraction sampler: a two-component normal mixture truncated to 7–97 %, fitted
//! to EchoNet-Dynamic's skewed distribution (mean 55.7, SD 12.4, median 59.2; 22.4 % below 50,
//! 3.2 % above 70, so 25.6 % abnormal under the seed's 50–70 rule). A single normal with that
//! mean and SD would put about 44 % outside 50–70.

use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// Weight of the broad reduced-EF component.
const LOW_WEIGHT: f64 = 0.296;
const LOW_MEAN: f64 = 41.32;
const LOW_SD: f64 = 13.75;
const MAIN_MEAN: f64 = 61.41;
const MAIN_SD: f64 = 4.83;
pub(crate) const EF_MIN: f64 = 7.0;
pub(crate) const EF_MAX: f64 = 97.0;

/// One EF in percent.
pub(crate) fn sample_ef<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    loop {
        let z: f64 = rng.sample(StandardNormal);
        let ef = if rng.random::<f64>() < LOW_WEIGHT {
            LOW_MEAN + LOW_SD * z
        } else {
            MAIN_MEAN + MAIN_SD * z
        };
        if (EF_MIN..=EF_MAX).contains(&ef) {
            return ef;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn ef_sampler_matches_echonet_shares() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut efs: Vec<f64> = (0..20_000).map(|_| sample_ef(&mut rng)).collect();
        let n = efs.len() as f64;
        let below = efs.iter().filter(|&&e| e < 50.0).count() as f64 / n;
        let above = efs.iter().filter(|&&e| e > 70.0).count() as f64 / n;
        let mean = efs.iter().sum::<f64>() / n;
        let sd = (efs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
        efs.sort_by(f64::total_cmp);
        let median = efs[efs.len() / 2];
        assert!((below - 0.224).abs() < 0.015, "below 50: {below}");
        assert!((above - 0.032).abs() < 0.008, "above 70: {above}");
        assert!((below + above - 0.256).abs() < 0.015, "abnormal: {}", below + above);
        assert!((mean - 55.7).abs() < 0.8, "mean {mean}");
        assert!((sd - 12.4).abs() < 0.8, "sd {sd}");
        assert!((median - 59.2).abs() < 0.8, "median {median}");
        assert!(efs[0] >= EF_MIN && efs[efs.len() - 1] <= EF_MAX);
    }
}
