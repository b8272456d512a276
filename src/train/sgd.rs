//! SGD as `torch.optim.SGD` computes it: weight decay added to the gradient, then momentum
//! without dampening (PyTorch's default; Burn's `MomentumConfig` defaults to 0.1), Nesterov's
//! look-ahead where asked.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Sgd, SgdConfig};

use crate::ops::AutodiffBackend;

/// `torch.optim.SGD(momentum, weight_decay, nesterov)` (0: none) with, if given, Burn's
/// per-parameter clipping.
pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
    momentum: f64,
    weight_decay: f64,
    nesterov: bool,
    clip: Option<GradientClippingConfig>,
) -> OptimizerAdaptor<Sgd<B::InnerBackend>, M, B> {
    let momentum = (momentum > 0.0).then(|| {
        MomentumConfig::new().with_momentum(momentum).with_dampening(0.0).with_nesterov(nesterov)
    });
    SgdConfig::new()
        .with_momentum(momentum)
        .with_weight_decay(
            (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
        )
        .with_gradient_clipping(clip)
        .init()
}
