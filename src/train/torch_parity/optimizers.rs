//! The optimizers as the fold builds them, stepped the fold's way ([`optimizer_step`], rates
//! from the cosine schedule), against `torch.optim` over five steps of given gradients.

use std::collections::BTreeMap;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::module::{Module, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;

use super::{fixture, values, worst};
use crate::train::grads::optimizer_step;
use crate::train::schedule::learning_rate;
use crate::train::{OptimizerConfig, ScheduleConfig, adamw, sgd};

type AD = burn::backend::Autodiff<Flex, BalancedCheckpointing>;

const STEPS: u32 = 5;
const BASE_LR: f64 = 0.05;

#[derive(Module, Debug)]
struct Pair<B: Backend> {
    a: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 1>>,
}

/// Steps `optim` through the fixture's gradients at the schedule's rates, checking the
/// parameters after every step against those of `torch.optim`'s `name`.
fn steps_like_torch<O: Optimizer<Pair<AD>, AD>>(
    fx: &BTreeMap<String, TensorData>,
    name: &str,
    mut optim: O,
    clip: Option<f64>,
) {
    let device = Default::default();
    let tensor = |key: &str| fx.get(key).unwrap_or_else(|| panic!("no `{key}`")).clone();
    let mut model = Pair {
        a: Param::from_tensor(Tensor::from_data(tensor("a"), &device)),
        b: Param::from_tensor(Tensor::from_data(tensor("b"), &device)),
    };
    let schedule = ScheduleConfig::Cosine { t_max: None, eta_min: 1e-3, warmup_epochs: 0 };
    let torch_lr = values(&tensor("lr"));
    for t in 0..STEPS {
        // One step per "epoch": CosineAnnealingLR(T_max=5, eta_min=1e-3) stepped each time.
        let lr = learning_rate(&schedule, STEPS, BASE_LR, t);
        let want = f64::from(torch_lr[t as usize]);
        assert!((lr - want).abs() < 1e-8, "step {t}: lr {lr} vs torch {want}");
        let mut grads = GradientsParams::new();
        grads.register(
            model.a.id,
            Tensor::<Flex, 2>::from_data(tensor(&format!("grad.{t}.a")), &device),
        );
        grads.register(
            model.b.id,
            Tensor::<Flex, 1>::from_data(tensor(&format!("grad.{t}.b")), &device),
        );
        let stepped;
        (model, stepped) = optimizer_step(&mut optim, lr, model, grads, None, clip);
        assert!(stepped);
        for (p, ours) in [("a", model.a.val().into_data()), ("b", model.b.val().into_data())] {
            let (err, _) = worst(&values(&ours), &values(&tensor(&format!("{name}.{t}.{p}"))));
            // Parameters of size ~1 after a handful of f32 updates (PyTorch computes
            // `lr / (1 − β₁ᵗ)` and `1 − lr·λ` in f64, the runner in f32): a few ulps each.
            assert!(err < 2e-6, "{name}, step {t}, `{p}`: off by {err}");
        }
    }
}

#[test]
fn adamw_matches_torch_over_five_scheduled_steps() {
    let fx = fixture("optimizers.safetensors");
    // The runner's defaults, mapped as the fold maps them.
    let OptimizerConfig::Adamw { beta1, beta2, eps, weight_decay, .. } = OptimizerConfig::default()
    else {
        panic!("AdamW is the default optimizer")
    };
    let defaults = adamw::init(beta1 as f32, beta2 as f32, eps as f32, weight_decay as f32, None);
    steps_like_torch(&fx, "adamw", defaults, None);
    // Every setting away from its default (eps 1e-6 moves the entries of tiny gradients).
    steps_like_torch(&fx, "adamw_custom", adamw::init(0.8, 0.99, 1e-6, 0.1, None), None);
}

#[test]
fn sgd_matches_torch_with_momentum_nesterov_weight_decay_and_clipping() {
    let fx = fixture("optimizers.safetensors");
    steps_like_torch(&fx, "sgd", sgd::init(0.0, 0.0, false, None), None);
    steps_like_torch(&fx, "sgd_momentum", sgd::init(0.9, 0.01, false, None), None);
    steps_like_torch(&fx, "sgd_nesterov", sgd::init(0.8, 0.05, true, None), None);
    // clip_grad_norm_(1.0) before each step: the loop's global clipping.
    steps_like_torch(&fx, "sgd_momentum_clip", sgd::init(0.9, 0.0, false, None), Some(1.0));
}
