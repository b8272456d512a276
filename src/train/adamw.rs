//! AdamW as Burn's — the same state and records, the same f32 operations in the same order, so
//! the same bits — but on the CPU in one multi-threaded pass over each parameter. Burn's
//! composes its step from a dozen element-wise operations, each a pass of its own over the
//! parameter, on one thread: about 5% of a training step at 112 px. Elsewhere (CUDA, other
//! dtypes, a non-contiguous tensor) the step is Burn's own.

use burn::backend::flex::FlexTensor;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, SimpleOptimizer,
};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use rayon::prelude::*;

use crate::model::flex::{OnFlex, flex, primitive, tensor};

/// Burn's AdamW (`AdamWConfig`'s step) with its CPU step fused.
#[derive(Clone)]
pub struct FusedAdamW {
    burn: AdamW,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
}

impl FusedAdamW {
    /// `AdamWConfig::new()`'s optimizer with these settings.
    fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let config = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay);
        FusedAdamW { burn: config.build(), beta_1, beta_2, epsilon, weight_decay }
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

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let f32s = |t: &Tensor<B, D>| t.dtype() == DType::F32;
        let on_cpu = matches!(OnFlex::of::<B>(), Some(OnFlex::Plain));
        let state_f32s = state.as_ref().is_none_or(|s| {
            f32s(&s.momentum.moment_1)
                && f32s(&s.momentum.moment_2)
                && s.momentum.max_moment_2.is_none()
        });
        if !(on_cpu && f32s(&param) && f32s(&grad) && state_f32s) {
            return self.burn.step(lr, param, grad, state);
        }
        let shape = grad.dims();
        let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
        // Values from the buffer's start, so that its first n values are the tensor's.
        let flat = |t: Tensor<B, D>| {
            let t = primitive::<B, FlexTensor, D>(t).to_contiguous();
            match t.layout().contiguous_offsets() {
                Some((0, _)) => t,
                _ => FlexTensor::from_data(t.into_data()),
            }
        };
        let (g, mut p) = (flat(grad), flat(param));
        let (mut m, mut v, first) = match state {
            Some(s) => (flat(s.momentum.moment_1), flat(s.momentum.moment_2), false),
            None => (
                flex(vec![0.0; g.layout().num_elements()], shape),
                flex(vec![0.0; g.layout().num_elements()], shape),
                true,
            ),
        };
        let step = Step::new(self, lr, time, first);
        let g = g.as_slice::<f32>().expect("contiguous");
        let n = g.len();
        let (p_values, m_values, v_values) = (
            &mut p.storage_mut::<f32>()[..n],
            &mut m.storage_mut::<f32>()[..n],
            &mut v.storage_mut::<f32>()[..n],
        );
        p_values
            .par_chunks_mut(CHUNK)
            .zip(m_values.par_chunks_mut(CHUNK))
            .zip(v_values.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| step.apply(p, m, v, g));
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: tensor(m),
            moment_2: tensor(v),
            max_moment_2: None,
        };
        (tensor(p), Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <AdamW as SimpleOptimizer<B>>::to_device(state, device)
    }
}

/// One step's constants, each the f32 that Burn's scalar operation uses.
struct Step {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 − lr·λ`; `None` without weight decay (Burn skips the product then).
    keep: Option<f32>,
    lr: f32,
    /// The first step: the moments start from the gradient alone.
    first: bool,
}

impl Step {
    fn new(o: &FusedAdamW, lr: LearningRate, time: usize, first: bool) -> Self {
        let decay = lr * f64::from(o.weight_decay);
        Step {
            beta_1: o.beta_1,
            beta_2: o.beta_2,
            factor_1: 1.0 - o.beta_1,
            factor_2: 1.0 - o.beta_2,
            correction_1: 1f32 - o.beta_1.powi(time as i32),
            correction_2: 1f32 - o.beta_2.powi(time as i32),
            epsilon: o.epsilon,
            keep: (decay != 0.0).then_some((1.0 - decay) as f32),
            lr: lr as f32,
            first,
        }
    }

    /// Burn's `AdaptiveMomentumW::transform` and `AdamW::step`, element by element.
    fn apply(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            (*m, *v) = if self.first {
                (g * self.factor_1, (g * g) * self.factor_2)
            } else {
                (*m * self.beta_1 + g * self.factor_1, *v * self.beta_2 + (g * g) * self.factor_2)
            };
            let delta = (*m / self.correction_1) / ((*v / self.correction_2).sqrt() + self.epsilon);
            let kept = self.keep.map_or(*p, |k| *p * k);
            *p = kept - delta * self.lr;
        }
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
