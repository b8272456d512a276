//! A pass over a step's gradients, parameter by parameter: what f16's unscaling
//! ([`super::loss_scale`]) and global-norm clipping ([`super::grads`]) are made of.

use std::marker::PhantomData;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// What a pass does to each parameter's gradient, whatever its rank.
pub trait GradPass<B: Backend> {
    fn apply<const D: usize>(&mut self, grad: Tensor<B, D>) -> Tensor<B, D>;
}

/// Runs `pass` over the gradient of each parameter of `model` that has one (frozen ones have
/// none), in the model's order; hands back the gradients and the pass.
pub fn each<B: AutodiffBackend, M: AutodiffModule<B>, P: GradPass<B::InnerBackend>>(
    model: &M,
    grads: GradientsParams,
    pass: P,
) -> (GradientsParams, P) {
    let mut visitor = Each { grads, pass, backend: PhantomData::<B> };
    model.visit(&mut visitor);
    (visitor.grads, visitor.pass)
}

struct Each<B, P> {
    grads: GradientsParams,
    pass: P,
    backend: PhantomData<B>,
}

impl<B: AutodiffBackend, P: GradPass<B::InnerBackend>> ModuleVisitor<B> for Each<B, P> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let grad = self.pass.apply(grad);
            self.grads.register(param.id, grad);
        }
    }
}
