//! What the ops' tests share: comparing a kernel's tensor with Burn's.

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
