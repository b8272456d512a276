//! LayerNorm over the last axis (Swin's and the temporal layers') on the CPU backend (flex,
//! f32) as one op of the project's ([`crate::kernels::layer_norm`]). Under autodiff Burn
//! composes it of about ten ops (mean, centring, variance, division, scale, shift and each
//! one's gradient, with the `[…, 1]` statistics broadcast back), most of them on one thread:
//! 5–8% of a Swin training step. Here it is one pass forward and one backward over all cores,
//! and one memory-bound node: with balanced checkpointing its output is recomputed from its
//! input, not kept.
//!
//! Every LayerNorm of the models is built by [`config`], with [`EPSILON`] (Burn keeps a
//! module's ε private; the op reads this one). Every other backend and dtype (CUDA, bf16)
//! goes through Burn's `LayerNorm::forward`.

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::retro_forward::RetroForward;
use burn::backend::autodiff::checkpoint::state::BackwardStates;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;

use super::flex::{flex, host_values, primitive, tensor, values};
use crate::kernels::layer_norm as kernels;

/// The ε of every LayerNorm of the models (PyTorch's and timm's default).
pub const EPSILON: f64 = 1e-5;

/// A LayerNorm over `d` features, with [`EPSILON`].
pub fn config(d: usize) -> LayerNormConfig {
    LayerNormConfig::new(d).with_epsilon(EPSILON)
}

/// `[…, d]` → same shape, normalised over the last axis, as `LayerNorm::forward`, on `Flex`.
pub fn plain<const D: usize>(ln: &LayerNorm<Flex>, x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    match norm(ln, &x) {
        Some(op) => tensor(forward(&op, primitive(x))),
        None => ln.forward(x),
    }
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy, const D: usize>(
    ln: &LayerNorm<Autodiff<Flex, C>>,
    x: Tensor<Autodiff<Flex, C>, D>,
) -> Tensor<Autodiff<Flex, C>, D> {
    let Some(op) = norm(ln, &x) else {
        return ln.forward(x);
    };
    tensor(node::<C>(
        Arc::new(op),
        primitive(x),
        primitive(ln.gamma.val()),
        ln.beta.as_ref().map(|b| primitive(b.val())),
    ))
}

/// The op of `ln` on `x`, where the kernels compute it (f32 tensors and parameters).
fn norm<B: Backend, const D: usize>(ln: &LayerNorm<B>, x: &Tensor<B, D>) -> Option<Norm> {
    let params = [Some(ln.gamma.val()), ln.beta.as_ref().map(|b| b.val())];
    let f32s = x.dtype() == DType::F32 && params.iter().flatten().all(|p| p.dtype() == DType::F32);
    f32s.then(|| Norm {
        d: x.dims()[D - 1],
        gamma: host_values(ln.gamma.val()),
        beta: ln.beta.as_ref().map(|b| host_values(b.val())),
    })
}

/// One call's features per row and parameters.
#[derive(Debug)]
struct Norm {
    d: usize,
    gamma: Vec<f32>,
    beta: Option<Vec<f32>>,
}

fn forward(op: &Norm, x: FlexTensor) -> FlexTensor {
    let x = x.to_contiguous();
    let y = kernels::forward(op.d, values(&x), &op.gamma, op.beta.as_deref(), EPSILON as f32);
    FlexTensor::from_data(TensorData::new(y, x.layout().shape().clone()))
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

fn node<C: CheckpointStrategy>(
    op: Arc<Norm>,
    x: AdTensor,
    gamma: AdTensor,
    beta: Option<AdTensor>,
) -> AdTensor {
    let retro = RetroNorm { op: op.clone(), x: x.node.id };
    let output = || forward(&op, x.primitive.clone());
    match &beta {
        Some(b) => {
            let prep = <NormBackward as Backward<Flex, 3>>::prepare::<C>(
                NormBackward(op.clone()),
                [x.node.clone(), gamma.node.clone(), b.node.clone()],
            );
            finish(
                prep.memory_bound().retro_forward(retro).parents([&x, &gamma, b]).stateful(),
                &x,
                output,
            )
        }
        None => {
            let prep = <NormBackward as Backward<Flex, 2>>::prepare::<C>(
                NormBackward(op.clone()),
                [x.node.clone(), gamma.node.clone()],
            );
            finish(
                prep.memory_bound().retro_forward(retro).parents([&x, &gamma]).stateful(),
                &x,
                output,
            )
        }
    }
}

fn finish<C: CheckpointStrategy, const N: usize>(
    kind: OpsKind<NormBackward, Flex, NodeId, C, N>,
    x: &AdTensor,
    output: impl FnOnce() -> FlexTensor,
) -> AdTensor {
    match kind {
        OpsKind::Tracked(mut prep) => {
            let state = prep.checkpoint(x);
            prep.finish(state, output())
        }
        OpsKind::UnTracked(prep) => prep.finish(output()),
    }
}

/// Gradients for `x`, γ and (third parent, where there is one) β.
#[derive(Debug)]
struct NormBackward(Arc<Norm>);

impl<const N: usize> Backward<Flex, N> for NormBackward {
    type State = NodeId;

    fn backward(self, ops: Ops<NodeId, N>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let x = checkpointer.retrieve_node_output::<FlexTensor>(ops.state).to_contiguous();
        let d = self.0.d;
        let (dx, d_gamma, d_beta) =
            kernels::backward(d, values(&x), &self.0.gamma, EPSILON as f32, values(&dy));
        let found = [
            FlexTensor::from_data(TensorData::new(dx, x.layout().shape().clone())),
            flex(d_gamma, [d]),
            flex(d_beta, [d]),
        ];
        for (parent, grad) in ops.parents.into_iter().zip(found) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// Recomputes the output from the input, for balanced checkpointing.
#[derive(Debug, Clone)]
struct RetroNorm {
    op: Arc<Norm>,
    x: NodeId,
}

impl RetroForward for RetroNorm {
    fn forward(&self, states: &mut BackwardStates, out_node: NodeId) {
        let x: FlexTensor = states.get_state(&self.x);
        states.save(out_node, forward(&self.op, x));
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::module::Param;
    use burn::nn::LayerNorm;
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use super::{EPSILON, config};
    use crate::kernels::layer_norm as kernels;
    use crate::ops::checks::{assert_close, values};

    /// Through autodiff, with and without β: the output is the kernels' bit for bit (this path
    /// was taken), and it and the gradients of x, γ and β agree with Burn's LayerNorm.
    fn gradients_on<C: CheckpointStrategy>() {
        type A<C> = Autodiff<Flex, C>;
        let device = Default::default();
        let x0 = Tensor::<Flex, 3>::random([4, 7, 40], Distribution::Normal(0.3, 2.0), &device);
        let weights = Tensor::<A<C>, 3>::from_inner(Tensor::random(
            [4, 7, 40],
            Distribution::Default,
            &device,
        ));
        let param = |t: Tensor<Flex, 1>| Param::from_tensor(Tensor::<A<C>, 1>::from_inner(t));
        for bias in [true, false] {
            let gamma0 = Tensor::<Flex, 1>::random([40], Distribution::Normal(1.0, 0.5), &device);
            let beta0 = Tensor::<Flex, 1>::random([40], Distribution::Default, &device);
            let build = || {
                let mut ln: LayerNorm<A<C>> = config(40).with_bias(bias).init(&device);
                ln.gamma = param(gamma0.clone());
                ln.beta = bias.then(|| param(beta0.clone()));
                ln
            };
            type Norm<C> = dyn Fn(&LayerNorm<A<C>>, Tensor<A<C>, 3>) -> Tensor<A<C>, 3>;
            let run = |f: &Norm<C>| {
                let ln = build();
                let x = Tensor::<A<C>, 3>::from_inner(x0.clone()).require_grad();
                let y = f(&ln, x.clone());
                let grads = (y.clone() * weights.clone()).sum().backward();
                let beta = ln.beta.as_ref().map(|b| b.grad(&grads).unwrap());
                (y.inner(), x.grad(&grads).unwrap(), ln.gamma.grad(&grads).unwrap(), beta)
            };
            let (y, dx, dg, db) = run(&|ln, x| crate::ops::layer_norm(ln, x));
            let (by, bdx, bdg, bdb) = run(&|ln, x| ln.forward(x));
            let beta = bias.then(|| values(beta0.clone()));
            assert_eq!(
                values(y.clone()),
                kernels::forward(
                    40,
                    &values(x0.clone()),
                    &values(gamma0.clone()),
                    beta.as_deref(),
                    EPSILON as f32
                ),
                "bias {bias}"
            );
            assert_close(y, by, "output");
            assert_close(dx, bdx, "input gradient");
            assert_close(dg, bdg, "gamma gradient");
            assert_eq!(db.is_some(), bias);
            if let (Some(db), Some(bdb)) = (db, bdb) {
                assert_close(db, bdb, "beta gradient");
            }
        }
    }

    #[test]
    fn gradients_are_the_kernels_and_agree_with_burns() {
        gradients_on::<BalancedCheckpointing>();
        gradients_on::<NoCheckpointing>();
    }

    #[test]
    fn inference_agrees_with_burns() {
        let device = Default::default();
        let mut ln: LayerNorm<Flex> = config(24).init(&device);
        ln.gamma = ln.gamma.map(|g| g.add_scalar(0.5));
        let x = Tensor::<Flex, 4>::random([2, 3, 5, 24], Distribution::Normal(-1.0, 3.0), &device);
        assert_close(crate::ops::layer_norm(&ln, x.clone()), ln.forward(x), "inference");
    }
}
