//! Normalisation measured on training videos, as echonet/dynamic's `get_mean_and_std`: the
//! mean and standard deviation of every pixel (scaled to [0, 1]) of a seeded sample of a
//! fold's training videos, the same for the three channels (the grey frame is copied into
//! them). Each fold keeps what it measured in `fold-<k>/normalize.json`.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::NormalizeConfig;

/// The file a fold keeps its measured normalisation in.
pub const FILE: &str = "normalize.json";

/// Which of `candidates` videos are measured: `n` of them drawn without replacement from
/// `seed`, in their original order; all of them where there are no more than `n`.
pub fn pick(n: usize, candidates: usize, seed: u64) -> Vec<usize> {
    if candidates <= n {
        return (0..candidates).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, candidates, n).into_vec();
    picked.sort_unstable();
    picked
}

/// Pixel moments in integers, so the result does not depend on the order videos are added.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moments {
    pixels: u64,
    sum: u64,
    sum_sq: u64,
}

impl Moments {
    pub fn add(&mut self, frames: &[u8]) {
        self.pixels += frames.len() as u64;
        for &p in frames {
            let p = u64::from(p);
            self.sum += p;
            self.sum_sq += p * p;
        }
    }

    /// Mean and (population) standard deviation of the pixels scaled to [0, 1]; `None` with
    /// no pixels, or where they are all one value (a zero standard deviation cannot divide).
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        if self.pixels == 0 {
            return None;
        }
        let n = self.pixels as f64;
        let mean = self.sum as f64 / n;
        let var = (self.sum_sq as f64 / n - mean * mean).max(0.0);
        (var > 0.0).then(|| (mean / 255.0, var.sqrt() / 255.0))
    }
}

/// What a fold measured: the videos, and the mean and standard deviation per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub videos: Vec<String>,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

impl Measured {
    pub fn new(videos: Vec<String>, (mean, std): (f64, f64)) -> Measured {
        Measured { videos, mean: [mean; 3], std: [std; 3] }
    }

    /// The normalisation to render clips with.
    pub fn config(&self) -> NormalizeConfig {
        NormalizeConfig { mean: self.mean, std: self.std, from_videos: 0 }
    }

    pub fn write(&self, fold_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("normalisation is JSON");
        crate::atomic::write_file(&fold_dir.join(FILE), &json)
    }

    /// Reads `fold_dir`'s measured normalisation, the error naming the file.
    pub fn read(fold_dir: &Path) -> Result<Measured, String> {
        let path = fold_dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m: Measured =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if m.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || m.mean.iter().any(|v| !v.is_finite())
        {
            return Err(format!("{}: mean and std must be finite and std > 0", path.display()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_give_the_mean_and_population_std_of_scaled_pixels() {
        let mut m = Moments::default();
        // Half black, half white: mean 0.5, std 0.5; then a second "video" of mid-grey 51.
        m.add(&[0, 255, 0, 255]);
        let (mean, std) = m.mean_std().unwrap();
        assert_eq!((mean, std), (0.5, 0.5));
        m.add(&[51, 51]);
        // numpy: a = np.array([0,255,0,255,51,51]) / 255; a.mean(), a.std()
        let (mean, std) = m.mean_std().unwrap();
        assert!((mean - 0.4).abs() < 1e-15, "{mean}");
        assert!((std - 0.432_049_379_893_856_9).abs() < 1e-12, "{std}");
        let mut flat = Moments::default();
        flat.add(&[7, 7, 7]);
        assert_eq!(flat.mean_std(), None);
        assert_eq!(Moments::default().mean_std(), None);
    }

    #[test]
    fn picks_are_seeded_sorted_distinct_and_all_when_few() {
        assert_eq!(pick(128, 5, 1), vec![0, 1, 2, 3, 4]);
        let a = pick(10, 100, 3);
        assert_eq!(a, pick(10, 100, 3));
        assert_ne!(a, pick(10, 100, 4));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "{a:?}");
        assert!(a.iter().all(|&i| i < 100));
    }
}
