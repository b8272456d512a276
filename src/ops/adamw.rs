//! AdamW's step on the CPU backend (flex): Burn's (the same state and records, the same bits)
//! as one multi-threaded pass over each parameter ([`crate::kernels::adamw`]). Burn composes
//! it of a dozen element-wise operations, each a pass of its own over the parameter, on one
//! thread: about 5% of a training step at 112 px. Elsewhere (CUDA, other dtypes, AMSGrad's
//! state) the step is Burn's own.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::optim::{AdamW, AdamWState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::prelude::*;
use burn::tensor::DType;

use super::flex::{flex, primitive, tensor};
use crate::kernels::adamw::{Settings, Step};

/// One step of `adamw` (Burn's, built with `settings`) on `Flex`.
pub fn plain<const D: usize>(
    adamw: &AdamW,
    settings: &Settings,
    lr: LearningRate,
    param: Tensor<Flex, D>,
    grad: Tensor<Flex, D>,
    state: Option<AdamWState<Flex, D>>,
) -> (Tensor<Flex, D>, Option<AdamWState<Flex, D>>) {
    let f32s = |t: &Tensor<Flex, D>| t.dtype() == DType::F32;
    let state_f32s = state.as_ref().is_none_or(|s| {
        f32s(&s.momentum.moment_1)
            && f32s(&s.momentum.moment_2)
            && s.momentum.max_moment_2.is_none()
    });
    if !(f32s(&param) && f32s(&grad) && state_f32s) {
        return adamw.step(lr, param, grad, state);
    }
    let shape = grad.dims();
    let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
    // Values from the buffer's start, so that its first n values are the tensor's.
    let flat = |t: Tensor<Flex, D>| {
        let t = primitive(t).to_contiguous();
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
    let step = Step::new(settings, lr, time, first);
    let g = g.as_slice::<f32>().expect("contiguous");
    let n = g.len();
    step.update(
        &mut p.storage_mut::<f32>()[..n],
        &mut m.storage_mut::<f32>()[..n],
        &mut v.storage_mut::<f32>()[..n],
        g,
    );
    let momentum = AdaptiveMomentumState {
        time,
        moment_1: tensor(m),
        moment_2: tensor(v),
        max_moment_2: None,
    };
    (tensor(p), Some(AdamWState { momentum }))
}
