//! Passes over a step's gradients between the backward pass and the optimizer: f16's
//! unscaling ([`super::loss_scale`]) and clipping by the norm of all of them together
//! (`train.grad_clip`, [`clip_global`]).

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use super::grad_pass::{GradPass, each};
use super::loss_scale::{LossScale, LossScaleConfig};

/// The optimizer's step on a backward pass's `grads`: divided by f16's loss scale and clipped
/// to the global norm `clip` where those are asked for, or not taken where they overflowed
/// (the scale moves on either way). Returns the model after it, and whether it stepped.
pub fn optimizer_step<B: AutodiffBackend, M: AutodiffModule<B>, O: Optimizer<M, B>>(
    optim: &mut O,
    lr: f64,
    model: M,
    grads: GradientsParams,
    scaling: Option<(&mut LossScale, &LossScaleConfig)>,
    clip: Option<f64>,
) -> (M, bool) {
    let (grads, scaling) = match scaling {
        Some((scale, config)) => (scale.unscale(&model, grads), Some((scale, config))),
        None => (Some(grads), None),
    };
    let stepped = grads.is_some();
    if let Some((scale, config)) = scaling {
        scale.update(config, stepped);
    }
    match grads {
        Some(grads) => {
            let grads = match clip {
                Some(max_norm) => clip_global(&model, grads, max_norm),
                None => grads,
            };
            (optim.step(lr, model, grads), true)
        }
        None => (model, false),
    }
}

/// `grads` scaled so that, taken together as one vector, their L2 norm is at most `max_norm`:
/// PyTorch's `clip_grad_norm_`, which multiplies them by `max_norm / (norm + 10⁻⁶)` where
/// that is below 1. (Burn's own clipping bounds each parameter's gradient by its own norm.)
pub fn clip_global<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: GradientsParams,
    max_norm: f64,
) -> GradientsParams {
    let (grads, SquaredNorms(squares)) = each(model, grads, SquaredNorms(vec![]));
    if squares.is_empty() {
        return grads;
    }
    // Stays on the device: no read back between the two passes.
    let norm = Tensor::cat(squares, 0).sum().sqrt();
    let factor = norm.add_scalar(1e-6).recip().mul_scalar(max_norm).clamp_max(1.0);
    each(model, grads, Times(factor)).0
}

struct SquaredNorms<B: Backend>(Vec<Tensor<B, 1>>);

impl<B: Backend> GradPass<B> for SquaredNorms<B> {
    fn apply<const D: usize>(&mut self, grad: Tensor<B, D>) -> Tensor<B, D> {
        self.0.push(grad.clone().square().sum());
        grad
    }
}

/// Multiplies every gradient by a one-element tensor.
struct Times<B: Backend>(Tensor<B, 1>);

impl<B: Backend> GradPass<B> for Times<B> {
    fn apply<const D: usize>(&mut self, grad: Tensor<B, D>) -> Tensor<B, D> {
        grad.mul(self.0.clone().unsqueeze())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use crate::train::loss_scale::{LossScale, LossScaleConfig};

    type AD = Autodiff<Flex>;

    fn flat(layer: &Linear<AD>, grads: &GradientsParams) -> Vec<f32> {
        let w: Vec<f32> =
            grads.get::<Flex, 2>(layer.weight.id).unwrap().into_data().to_vec().unwrap();
        let b: Vec<f32> = grads
            .get::<Flex, 1>(layer.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        w.into_iter().chain(b).collect()
    }

    fn norm(v: &[f32]) -> f64 {
        v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn clipping_bounds_the_norm_of_all_gradients_together_and_keeps_their_direction() {
        let device = Default::default();
        let layer = LinearConfig::new(16, 4).init::<AD>(&device);
        let x = Tensor::<AD, 2>::random([8, 16], Distribution::Uniform(0.5, 1.0), &device);
        let grads =
            || GradientsParams::from_grads(layer.forward(x.clone()).sum().backward(), &layer);
        let plain = flat(&layer, &grads());
        let total = norm(&plain);
        assert!(total > 2.0, "{total}");

        let clipped = flat(&layer, &super::clip_global(&layer, grads(), 1.0));
        assert!((norm(&clipped) - 1.0).abs() < 1e-5, "{}", norm(&clipped));
        // One factor for all: the bias's gradient shrinks as much as the weight's (each on its
        // own norm, the bias's would shrink less, or not at all).
        let factor = 1.0 / (total + 1e-6);
        for (c, p) in clipped.iter().zip(&plain) {
            assert!((f64::from(*c) - factor * f64::from(*p)).abs() < 1e-6, "{c} against {p}");
        }
        // Under the bound: untouched, bit for bit.
        assert_eq!(flat(&layer, &super::clip_global(&layer, grads(), 2.0 * total)), plain);
    }

    /// f16's step: an overflowing one leaves the weights and backs the scale off; a finite one
    /// is unscaled, then clipped, then taken.
    #[test]
    fn a_step_is_skipped_on_overflow_and_otherwise_unscaled_clipped_and_taken() {
        let device = Default::default();
        let layer = LinearConfig::new(16, 4).init::<AD>(&device);
        let x = Tensor::<AD, 2>::random([8, 16], Distribution::Uniform(0.5, 1.0), &device);
        let weights = |l: &Linear<AD>| -> Vec<f32> { l.weight.val().into_data().to_vec().unwrap() };
        let config = LossScaleConfig::default();
        let mut scale = LossScale::new(&config);
        let mut optim = SgdConfig::new().init();
        let before = weights(&layer);

        let mut overflowed =
            GradientsParams::from_grads(layer.forward(x.clone()).sum().backward(), &layer);
        let grad = overflowed.remove::<Flex, 2>(layer.weight.id).unwrap();
        overflowed.register(layer.weight.id, grad.mul_scalar(f32::INFINITY));
        let (layer, stepped) = super::optimizer_step(
            &mut optim,
            0.1,
            layer,
            overflowed,
            Some((&mut scale, &config)),
            Some(1.0),
        );
        assert!(!stepped);
        assert_eq!(weights(&layer), before);
        assert_eq!(scale.scale, 32768.0);

        let plain = flat(
            &layer,
            &GradientsParams::from_grads(layer.forward(x.clone()).sum().backward(), &layer),
        );
        let factor = 1.0 / (norm(&plain) + 1e-6);
        let scaled = GradientsParams::from_grads(
            layer.forward(x.clone()).sum().mul_scalar(scale.scale).backward(),
            &layer,
        );
        let (layer, stepped) = super::optimizer_step(
            &mut optim,
            0.1,
            layer,
            scaled,
            Some((&mut scale, &config)),
            Some(1.0),
        );
        assert!(stepped);
        assert_eq!((scale.scale, scale.good_steps), (32768.0, 1));
        for ((a, b), g) in weights(&layer).iter().zip(&before).zip(&plain) {
            let want = f64::from(*b) - 0.1 * factor * f64::from(*g);
            assert!((f64::from(*a) - want).abs() < 1e-6, "{a} against {want}");
        }
    }
}
