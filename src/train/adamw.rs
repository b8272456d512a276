//! AdamW as Burn's — the same state and records, the same f32 operations in the same order, so
//! the same bits — with each backend's step ([`crate::ops::Backend::adamw_step`]): on the CPU
//! one multi-threaded pass over each parameter, elsewhere Burn's own.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, AdamWState, LearningRate, SimpleOptimizer};
use burn::prelude::*;

use crate::kernels::adamw::Settings;
use crate::ops::{AutodiffBackend, Backend};

/// Burn's AdamW (`AdamWConfig`'s step) with its CPU step fused.
#[derive(Clone)]
pub struct FusedAdamW {
    burn: AdamW,
    settings: Settings,
}

impl FusedAdamW {
    /// `AdamWConfig::new()`'s optimizer with these settings.
    fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let config = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay);
        let settings = Settings { beta_1, beta_2, epsilon, weight_decay };
        FusedAdamW { burn: config.build(), settings }
    }
}

/// The optimizer of `AdamWConfig::new()` with these settings and, if given, Burn's
/// per-parameter clipping.
pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    clip: Option<GradientClippingConfig>,
) -> OptimizerAdaptor<FusedAdamW, M, B> {
    let optim = OptimizerAdaptor::from(FusedAdamW::new(beta_1, beta_2, epsilon, weight_decay));
    match clip {
        Some(clip) => optim.with_grad_clipping(clip.init()),
        None => optim,
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        B::adamw_step(&self.burn, &self.settings, lr, param, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <AdamW as SimpleOptimizer<B>>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::optim::{AdamWConfig, AdamWState, SimpleOptimizer};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use super::FusedAdamW;

    fn bits<const D: usize>(t: &Tensor<Flex, D>) -> Vec<u32> {
        t.clone().into_data().to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
    }

    /// Four steps of both on the same gradients: the same parameters and moments, bit for bit,
    /// with and without weight decay, on tensors of one and of four dimensions.
    #[test]
    fn the_fused_step_gives_burns_bits() {
        let device = Default::default();
        for weight_decay in [0.0, 0.05] {
            let burn = AdamWConfig::new()
                .with_beta_1(0.9)
                .with_beta_2(0.999)
                .with_epsilon(1e-8)
                .with_weight_decay(weight_decay)
                .build();
            let fused = FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay);
            let check = |shape: [usize; 4]| {
                let start =
                    Tensor::<Flex, 4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
                let (mut a, mut b) = (start.clone(), start);
                let (mut sa, mut sb): (Option<AdamWState<Flex, 4>>, Option<AdamWState<Flex, 4>>) =
                    (None, None);
                for step in 0..4 {
                    let grad =
                        Tensor::<Flex, 4>::random(shape, Distribution::Normal(0.0, 1e-2), &device);
                    let lr = 1e-3 / (step + 1) as f64;
                    (a, sa) = burn.step(lr, a, grad.clone(), sa);
                    (b, sb) = fused.step(lr, b, grad, sb);
                    assert_eq!(
                        bits(&a),
                        bits(&b),
                        "parameters after step {step}, weight decay {weight_decay}"
                    );
                    let (ma, mb) = (&sa.as_ref().unwrap().momentum, &sb.as_ref().unwrap().momentum);
                    assert_eq!(ma.time, mb.time);
                    assert_eq!(bits(&ma.moment_1), bits(&mb.moment_1));
                    assert_eq!(bits(&ma.moment_2), bits(&mb.moment_2));
                }
            };
            check([3, 5, 7, 11]);
            // Several parallel chunks, the last one short.
            check([1, 1, 1, (1 << 15) + 77]);
        }
    }
}
