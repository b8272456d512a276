//! The masks of the random layers (dropout, drop-path), drawn from a ChaCha stream that the
//! training step seeds, not from the backend's generator. Flex keeps one generator for the
//! whole process: the shards of a batch, trained on several threads, would take each other's
//! draws in whatever order the threads happen to run. With a stream per thread ([`scope`],
//! seeded per batch and shard) every mask is a function of the run's seed alone.
//! Outside a scope the backend's generator draws, as Burn's own layers do.

use std::cell::Cell;

use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ops::scoped::{self, Guard};

thread_local! {
    static STREAM: Cell<Option<ChaCha8Rng>> = const { Cell::new(None) };
}

/// While the guard lives, random layers on this thread draw from a stream seeded with `seed`.
pub fn scope(seed: u64) -> Guard<Option<ChaCha8Rng>> {
    scoped::set(&STREAM, Some(ChaCha8Rng::seed_from_u64(seed)))
}

/// 1 with probability `keep`, else 0, in `shape`.
fn keep_mask<B: Backend, const D: usize>(
    shape: [usize; D],
    keep: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let n = shape.iter().product();
    let drawn = STREAM.with(|s| {
        let mut rng = s.take()?;
        let values: Vec<f32> =
            (0..n).map(|_| if rng.random_bool(keep) { 1.0 } else { 0.0 }).collect();
        s.set(Some(rng));
        Some(values)
    });
    match drawn {
        Some(values) => Tensor::from_data(TensorData::new(values, shape), device),
        None => Tensor::random(shape, Distribution::Bernoulli(keep), device),
    }
}

/// `x` with the elements (or whole samples) a `mask`-shaped draw drops zeroed, and the rest
/// scaled by 1/(1−p), in training (an autodiff backend); `x` itself otherwise.
fn drop<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64, mask: [usize; D]) -> Tensor<B, D> {
    if p == 0.0 || !B::ad_enabled(&x.device()) {
        return x;
    }
    let keep = keep_mask::<B, D>(mask, 1.0 - p, &x.device());
    x * keep.div_scalar(1.0 - p)
}

/// Burn's `Dropout::forward`: each element dropped with probability `p`.
pub fn dropout<B: Backend, const D: usize>(layer: &Dropout, x: Tensor<B, D>) -> Tensor<B, D> {
    let mask = x.dims();
    drop(x, layer.prob, mask)
}

/// Stochastic depth: whole samples' residual branches dropped with probability `p`.
pub fn drop_path<B: Backend, const D: usize>(x: Tensor<B, D>, p: f64) -> Tensor<B, D> {
    let mut mask = [1; D];
    mask[0] = x.dims()[0];
    drop(x, p, mask)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::DropoutConfig;
    use burn::prelude::*;

    type AD = Autodiff<Flex>;

    fn dropped(seed: u64) -> Vec<f32> {
        let x = Tensor::<AD, 2>::ones([64, 32], &Default::default());
        let _stream = super::scope(seed);
        super::dropout(&DropoutConfig::new(0.25).init(), x).into_data().to_vec().unwrap()
    }

    #[test]
    fn masks_follow_the_seed_on_any_thread() {
        let here = dropped(7);
        let there = std::thread::spawn(|| dropped(7)).join().unwrap();
        assert_eq!(here, there);
        assert_ne!(here, dropped(8));
        // Kept elements are scaled by 1/(1 − p); about a quarter are dropped.
        assert!(here.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        let zeros = here.iter().filter(|&&v| v == 0.0).count() as f64 / here.len() as f64;
        assert!((0.2..0.3).contains(&zeros), "{zeros}");
    }

    #[test]
    fn inference_and_zero_rates_are_the_identity() {
        let x = Tensor::<Flex, 2>::ones([4, 4], &Default::default());
        let _stream = super::scope(1);
        let out = super::dropout(&DropoutConfig::new(0.5).init(), x.clone());
        assert_eq!(out.into_data(), x.clone().into_data());
        let ad = Tensor::<AD, 2>::ones([4, 4], &Default::default());
        assert_eq!(super::drop_path(ad.clone(), 0.0).into_data(), ad.into_data());
    }
}
