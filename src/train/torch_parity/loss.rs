//! The fold's cross-entropy against `F.cross_entropy`, with and without class weights and
//! label smoothing: the loss and its gradient with respect to the logits.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;

use super::{fixture, take, values, worst};
use crate::train::step::cross_entropy;

type AD = Autodiff<Flex>;

#[test]
fn cross_entropy_matches_torch_with_class_weights_and_label_smoothing() {
    let device = Default::default();
    let mut fx = fixture("cross_entropy.safetensors");
    let logits = Tensor::<Flex, 2>::from_data(take(&mut fx, "logits"), &device);
    let labels: Vec<i64> = values(&take(&mut fx, "labels")).iter().map(|&c| c as i64).collect();
    let labels = Tensor::<AD, 1, Int>::from_data(TensorData::new(labels, [6]), &device);
    // As the fold builds it: an unweighted loss has weights of ones.
    for (case, weights, smoothing) in [
        ("plain", [1.0, 1.0], 0.0),
        ("weighted", [0.7, 1.9], 0.0),
        ("smoothed", [1.0, 1.0], 0.1),
        ("weighted_smoothed", [0.4, 2.5], 0.2),
    ] {
        let x = Tensor::<AD, 2>::from_inner(logits.clone()).require_grad();
        let loss =
            cross_entropy(weights, smoothing).init(&device).forward(x.clone(), labels.clone());
        let grad = x.grad(&loss.backward()).expect("a gradient");
        let value = loss.into_scalar();
        let want = values(&take(&mut fx, &format!("loss.{case}")))[0];
        // f32 sums of six terms of size ~1: a few ulps.
        assert!((value - want).abs() < 1e-6, "{case}: loss {value} vs torch {want}");
        let (err, _) =
            worst(&values(&grad.into_data()), &values(&take(&mut fx, &format!("grad.{case}"))));
        assert!(err < 1e-6, "{case}: logits' gradient off by {err}");
    }
}
