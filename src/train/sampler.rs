//! The order in which a fold's training videos are visited in an epoch, and class weights.
//!
//! The draws come from a ChaCha8 stream keyed by blake3 of (seed, fold, epoch) alone, so the
//! order of any epoch can be recomputed after a resume without saving RNG state (which the
//! seed does not do, so its resumed runs diverge).

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{ClassWeights, SamplerConfig};
use crate::data::labels::Class;

/// Why class weights or an epoch order cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplerError {
    #[error("class weights must be finite and non-negative, got {0:?}")]
    InvalidWeights([f64; 2]),
    #[error("no training video has a positive sampling weight")]
    NothingToDraw,
}

/// Videos per class, indexed by [`Class::index`].
pub fn class_counts(classes: &[Class]) -> [usize; 2] {
    let mut counts = [0; 2];
    for c in classes {
        counts[c.index()] += 1;
    }
    counts
}

/// Per-class weights `[normal, abnormal]` for a fold whose training set has `counts`.
///
/// - `MinorityTimes { factor }`: the class with fewer training videos gets `factor`, the
///   other 1; on a tie there is no minority and both get 1.
/// - `InverseFrequency`: `n / (2 · count)` (sklearn's "balanced"; only ratios matter to the
///   sampler and to a weighted-mean loss); an absent class gets 0.
/// - `Explicit`: as given.
pub fn class_weights(weights: &ClassWeights, counts: [usize; 2]) -> Result<[f64; 2], SamplerError> {
    let w = match *weights {
        ClassWeights::MinorityTimes { factor } => match counts[0].cmp(&counts[1]) {
            std::cmp::Ordering::Less => [factor, 1.0],
            std::cmp::Ordering::Greater => [1.0, factor],
            std::cmp::Ordering::Equal => [1.0, 1.0],
        },
        ClassWeights::InverseFrequency => {
            let n = (counts[0] + counts[1]) as f64;
            counts.map(|c| if c == 0 { 0.0 } else { n / (2.0 * c as f64) })
        }
        ClassWeights::Explicit { normal, abnormal } => [normal, abnormal],
    };
    if w.iter().all(|x| x.is_finite() && *x >= 0.0) {
        Ok(w)
    } else {
        Err(SamplerError::InvalidWeights(w))
    }
}

/// Weights of the class-weighted cross-entropy (`loss.class_weights`); `None` is the plain
/// cross-entropy, `[1, 1]`.
pub fn loss_weights(
    weights: Option<&ClassWeights>,
    counts: [usize; 2],
) -> Result<[f32; 2], SamplerError> {
    match weights {
        None => Ok([1.0, 1.0]),
        Some(w) => Ok(class_weights(w, counts)?.map(|x| x as f32)),
    }
}

/// The RNG of one (seed, fold, epoch): ChaCha8 keyed by blake3 of the three numbers.
pub fn epoch_rng(seed: u64, fold: usize, epoch: usize) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new();
    // The domain tag keeps this stream apart from any other blake3-derived stream.
    hasher.update(b"echo-runner/sampler/v1");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&(fold as u64).to_le_bytes());
    hasher.update(&(epoch as u64).to_le_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

/// The training videos of one epoch, as positions into `train` (the fold's training classes).
///
/// `None`: a permutation, each video once. `Weighted`: PyTorch's `WeightedRandomSampler` —
/// `train.len()` draws with replacement, video `i` drawn with probability proportional to its
/// class's weight (weights from [`class_weights`] on this fold's counts).
pub fn epoch_order(
    cfg: &SamplerConfig,
    train: &[Class],
    seed: u64,
    fold: usize,
    epoch: usize,
) -> Result<Vec<usize>, SamplerError> {
    let mut rng = epoch_rng(seed, fold, epoch);
    match cfg {
        SamplerConfig::None => {
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.shuffle(&mut rng);
            Ok(order)
        }
        SamplerConfig::Weighted { weights } => {
            let w = class_weights(weights, class_counts(train))?;
            weighted_draws(train, w, &mut rng)
        }
    }
}

/// `train.len()` draws with replacement: inverse-CDF sampling over the cumulative per-video
/// weights.
fn weighted_draws(
    train: &[Class],
    w: [f64; 2],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<usize>, SamplerError> {
    let cumulative: Vec<f64> = train
        .iter()
        .scan(0.0, |acc, c| {
            *acc += w[c.index()];
            Some(*acc)
        })
        .collect();
    let total = cumulative.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return Err(SamplerError::NothingToDraw);
    }
    Ok((0..train.len())
        .map(|_| {
            let u = rng.random::<f64>() * total;
            // First video whose cumulative weight exceeds u; zero-weight videos are never hit.
            cumulative.partition_point(|&c| c <= u).min(train.len() - 1)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_to_one() -> Vec<Class> {
        (0..20_000).map(|i| if i % 4 == 3 { Class::Abnormal } else { Class::Normal }).collect()
    }

    #[test]
    fn weighted_draws_match_the_configured_ratio() {
        let train = three_to_one(); // 15,000 normal : 5,000 abnormal
        let cfg = SamplerConfig::default(); // minority × 7
        let order = epoch_order(&cfg, &train, 42, 0, 0).expect("draws");
        assert_eq!(order.len(), train.len());
        // P(abnormal) = 7·5000 / (7·5000 + 1·15000) = 0.7; its standard error over 20,000
        // draws is sqrt(0.7·0.3/20000) ≈ 0.00324; allow 4 of them.
        let share = order.iter().filter(|&&i| train[i] == Class::Abnormal).count() as f64
            / order.len() as f64;
        let se = (0.7f64 * 0.3 / 20_000.0).sqrt();
        assert!((share - 0.7).abs() < 4.0 * se, "abnormal share {share}");
        // With replacement: some videos repeat.
        let mut unique = order.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(unique.len() < order.len());
    }

    #[test]
    fn draws_are_a_function_of_seed_fold_and_epoch() {
        let train = three_to_one();
        let cfg = SamplerConfig::default();
        let draw = |seed, fold, epoch| epoch_order(&cfg, &train, seed, fold, epoch).expect("draws");
        let a = draw(42, 1, 3);
        assert_eq!(a, draw(42, 1, 3));
        assert_ne!(a, draw(42, 1, 4));
        assert_ne!(a, draw(42, 2, 3));
        assert_ne!(a, draw(43, 1, 3));
    }

    #[test]
    fn no_sampler_is_a_permutation() {
        let train = three_to_one();
        let order = epoch_order(&SamplerConfig::None, &train, 7, 0, 0).expect("order");
        assert_ne!(order, (0..train.len()).collect::<Vec<_>>());
        let mut sorted = order;
        sorted.sort_unstable();
        assert_eq!(sorted, (0..train.len()).collect::<Vec<_>>());
    }

    #[test]
    fn class_weight_schemes() {
        let minority = ClassWeights::MinorityTimes { factor: 7.0 };
        assert_eq!(class_weights(&minority, [30, 10]), Ok([1.0, 7.0]));
        assert_eq!(class_weights(&minority, [10, 30]), Ok([7.0, 1.0]));
        assert_eq!(class_weights(&minority, [10, 10]), Ok([1.0, 1.0]));
        // 40 videos: 40 / (2·30) and 40 / (2·10).
        assert_eq!(
            class_weights(&ClassWeights::InverseFrequency, [30, 10]),
            Ok([40.0 / 60.0, 2.0])
        );
        assert_eq!(class_weights(&ClassWeights::InverseFrequency, [30, 0]), Ok([0.5, 0.0]));
        let explicit = ClassWeights::Explicit { normal: 0.5, abnormal: 3.0 };
        assert_eq!(class_weights(&explicit, [1, 1]), Ok([0.5, 3.0]));
        let negative = ClassWeights::Explicit { normal: -1.0, abnormal: 3.0 };
        assert!(class_weights(&negative, [1, 1]).is_err());
        assert_eq!(loss_weights(None, [30, 10]), Ok([1.0, 1.0]));
        assert_eq!(loss_weights(Some(&minority), [30, 10]), Ok([1.0f32, 7.0]));
    }

    #[test]
    fn zero_weights_give_an_error_and_are_never_drawn() {
        let train = three_to_one();
        let only_abnormal = SamplerConfig::Weighted {
            weights: ClassWeights::Explicit { normal: 0.0, abnormal: 1.0 },
        };
        let order = epoch_order(&only_abnormal, &train, 1, 0, 0).expect("draws");
        assert!(order.iter().all(|&i| train[i] == Class::Abnormal));
        let nothing = SamplerConfig::Weighted {
            weights: ClassWeights::Explicit { normal: 0.0, abnormal: 0.0 },
        };
        assert_eq!(epoch_order(&nothing, &train, 1, 0, 0), Err(SamplerError::NothingToDraw));
        assert_eq!(
            epoch_order(&SamplerConfig::default(), &[], 1, 0, 0),
            Err(SamplerError::NothingToDraw)
        );
    }
}
