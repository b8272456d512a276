//! Dynamic loss scaling for `train.precision = "f16"`, as PyTorch's `GradScaler` does it: the
//! loss is multiplied by a scale before the backward pass, so that gradients too small for
//! f16 (below 6·10⁻⁸) survive the half-precision products; the gradients are divided by it
//! again before the optimizer sees them. A step whose gradients overflowed (inf or NaN) is
//! skipped and the scale halved; after `growth_interval` good steps in a row it doubles.
//!
//! The scale and the count of good steps are part of the loop's state, checkpointed with it,
//! so a resumed run scales exactly as an uninterrupted one. Growth and backoff by 2 keep the
//! scale a power of two, and multiplying or dividing by a power of two is exact: the fp32
//! parts of the backward pass (weights, the f32 side of each cast) lose nothing to the scale.

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::grad_pass::{GradPass, each};

/// `train.loss_scale`: PyTorch's `GradScaler` settings and defaults. Only with
/// `precision = "f16"`, where it is always on (these defaults when the section is absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LossScaleConfig {
    /// The first scale.
    #[schemars(range(min = 1.0, max = 1e30))]
    pub init: f64,
    /// The scale is multiplied by this after `growth_interval` steps in a row without overflow.
    #[schemars(extend("exclusiveMinimum" = 1), range(max = 1000.0))]
    pub growth_factor: f64,
    /// The scale is multiplied by this after a step whose gradients overflowed (the step is
    /// skipped).
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 1))]
    pub backoff_factor: f64,
    #[schemars(range(min = 1, max = 1000000))]
    pub growth_interval: u32,
}

impl Default for LossScaleConfig {
    fn default() -> Self {
        Self { init: 65536.0, growth_factor: 2.0, backoff_factor: 0.5, growth_interval: 2000 }
    }
}

/// Where the scaling stands: the loop's state carries it between steps and into checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Steps in a row without overflow since the scale last changed.
    pub good_steps: u32,
}

impl LossScale {
    pub fn new(config: &LossScaleConfig) -> Self {
        Self { scale: config.init, good_steps: 0 }
    }

    /// `grads` of the loss times `self.scale`, divided by it again; `None` where any of them
    /// is inf or NaN (the step is to be skipped).
    pub fn unscale<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        grads: GradientsParams,
    ) -> Option<GradientsParams> {
        let (grads, Unscale { finite, .. }) =
            each(model, grads, Unscale { inverse: 1.0 / self.scale, finite: vec![] });
        // One read of the device for all the parameters.
        (finite.is_empty() || Tensor::cat(finite, 0).all().into_scalar().to_bool()).then_some(grads)
    }

    /// Moves the scale on after a step that was taken (`stepped`) or skipped.
    pub fn update(&mut self, config: &LossScaleConfig, stepped: bool) {
        if !stepped {
            (self.scale, self.good_steps) = (self.scale * config.backoff_factor, 0);
        } else if self.good_steps + 1 >= config.growth_interval {
            (self.scale, self.good_steps) = (self.scale * config.growth_factor, 0);
        } else {
            self.good_steps += 1;
        }
    }

    /// Whether the scale has backed off out of f32's normal range: the gradients overflow
    /// whatever the scale, and training has diverged.
    pub fn exhausted(&self) -> bool {
        self.scale < f64::from(f32::MIN_POSITIVE)
    }
}

struct Unscale<B: Backend> {
    inverse: f64,
    /// Per parameter: whether all of its gradient is finite.
    finite: Vec<Tensor<B, 1, Bool>>,
}

impl<B: Backend> GradPass<B> for Unscale<B> {
    fn apply<const D: usize>(&mut self, grad: Tensor<B, D>) -> Tensor<B, D> {
        let grad = grad.mul_scalar(self.inverse);
        self.finite.push(grad.clone().is_finite().all());
        grad
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::prelude::*;
    use burn::tensor::{Distribution, FloatDType};

    use super::{LossScale, LossScaleConfig};
    use crate::ops::autocast;

    type AD = Autodiff<Flex>;

    fn layer_and_input() -> (Linear<AD>, Tensor<AD, 2>) {
        let device = Default::default();
        (
            LinearConfig::new(16, 4).init::<AD>(&device),
            Tensor::<AD, 2>::random([8, 16], Distribution::Uniform(0.5, 1.0), &device),
        )
    }

    /// The gradients of `factor · Σ linear(x)` with the products in `dtype` (`None`: fp32).
    fn grads(
        layer: &Linear<AD>,
        x: &Tensor<AD, 2>,
        dtype: Option<FloatDType>,
        factor: f64,
    ) -> GradientsParams {
        let _scope = autocast::scope(dtype);
        let loss = crate::ops::linear(layer, x.clone()).sum().mul_scalar(factor);
        GradientsParams::from_grads(loss.backward(), layer)
    }

    fn weight_grad(layer: &Linear<AD>, grads: &GradientsParams) -> Vec<f32> {
        grads.get::<Flex, 2>(layer.weight.id).unwrap().into_data().to_vec().unwrap()
    }

    #[test]
    fn scale_doubles_after_the_interval_and_halves_on_overflow() {
        let config = LossScaleConfig { growth_interval: 3, ..Default::default() };
        let mut s = LossScale::new(&config);
        let mut seen = vec![];
        for stepped in [true, true, false, true, true, true, true] {
            s.update(&config, stepped);
            seen.push((s.scale, s.good_steps));
        }
        let k = 65536.0;
        // An overflow restarts the count; the third good step in a row doubles the scale.
        assert_eq!(
            seen,
            [(k, 1), (k, 2), (k / 2.0, 0), (k / 2.0, 1), (k / 2.0, 2), (k, 0), (k, 1)]
        );
        assert!(!s.exhausted());
        s.scale = 1e-39;
        assert!(s.exhausted());
    }

    /// Why f16 needs the scale: a gradient below f16's smallest subnormal (6·10⁻⁸) is lost in
    /// the half-precision product; scaled up by 2¹⁶ it survives, and comes back exact to f16's
    /// precision once divided again.
    #[test]
    fn scaling_keeps_f16_gradients_that_would_underflow() {
        let (layer, x) = layer_and_input();
        let tiny = 1e-8;
        let fp32 = weight_grad(&layer, &grads(&layer, &x, None, tiny));
        assert!(fp32.iter().all(|g| *g > 1e-9), "{fp32:?}");
        let unscaled = weight_grad(&layer, &grads(&layer, &x, Some(FloatDType::F16), tiny));
        assert!(unscaled.iter().all(|g| *g == 0.0), "f16 without scaling: {unscaled:?}");

        let s = LossScale::new(&LossScaleConfig::default());
        let back = s
            .unscale(&layer, grads(&layer, &x, Some(FloatDType::F16), tiny * s.scale))
            .expect("finite");
        for (a, b) in weight_grad(&layer, &back).iter().zip(&fp32) {
            assert!((a - b).abs() <= 2e-3 * b, "{a} against fp32's {b}");
        }
    }

    #[test]
    fn overflowing_gradients_are_refused_and_finite_ones_divided_exactly() {
        let (layer, x) = layer_and_input();
        let s = LossScale::new(&LossScaleConfig::default());
        // 2¹⁶ · 10 per output overflows f16 (65504) in the weight gradient's product.
        assert!(
            s.unscale(&layer, grads(&layer, &x, Some(FloatDType::F16), 10.0 * s.scale)).is_none()
        );
        // In fp32, a power-of-two scale multiplies and divides exactly.
        let plain = weight_grad(&layer, &grads(&layer, &x, None, 1.0));
        let back = s.unscale(&layer, grads(&layer, &x, None, s.scale)).expect("finite");
        assert_eq!(weight_grad(&layer, &back), plain);
    }
}
