//! What the tests of the project's CPU kernels share: comparing a kernel's tensor with Burn's.

use burn::backend::Flex;
use burn::prelude::*;

/// `a` within 1e-5 of `b`, relative to `b`'s largest magnitude.
pub fn assert_close<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>, what: &str) {
    let scale = b.clone().abs().max().into_scalar();
    let d = (a - b).abs().max().into_scalar() / scale;
    assert!(d < 1e-5, "{what}: relative difference {d}");
}

/// A tensor's values, row-major.
pub fn values<const D: usize>(t: Tensor<Flex, D>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// `len` values of a sine, `k` radians apart: test data in which no two rows are alike.
pub fn wave(len: usize, k: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * k).sin()).collect()
}

/// `f` gives the same result (its sums taken in the same order) on one thread and on three.
pub fn assert_same_on_1_and_3_threads<T: PartialEq + std::fmt::Debug + Send>(
    f: impl Fn() -> T + Send + Sync,
) {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(&f)
    };
    assert_eq!(on(1), on(3));
}
