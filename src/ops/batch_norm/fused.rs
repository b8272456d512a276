//! BatchNorm → (+ shortcut) → (ReLU) as one op on the CPU backend (flex, f32). Composed
//! of Burn's ops it is about twenty passes over the activations, forward and backward (means,
//! centring, squares, broadcasts, the add, the ReLU and each one's gradient), most of them on
//! one thread; here the forward is three passes (mean, variance, output) and the backward two,
//! over all cores ([`crate::kernels::batch_norm`]).
//!
//! Under autodiff it is one memory-bound node, as Burn's element-wise ops are: with balanced
//! checkpointing its output is not kept but recomputed from its input when a later gradient
//! needs it, and the backward recomputes the pre-activation for the ReLU's mask.

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
use burn::module::RunningState;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;

use crate::kernels::batch_norm::{self as kernels, Affine, Planes};
use crate::ops::flex::{flex, host_values, primitive, tensor, values};

/// The op's parameters for one call: shape, per-channel affine map, γ, and whether a ReLU
/// follows.
#[derive(Debug)]
struct Fused {
    planes: Planes,
    affine: Affine,
    gamma: Vec<f32>,
    relu: bool,
}

/// `act(BN(x) + residual)` on `Flex`, `x` `[n, c, …]` f32, with the running statistics
/// (inference).
pub fn plain<const D: usize>(
    bn: &BatchNorm<Flex>,
    x: Tensor<Flex, D>,
    residual: Option<Tensor<Flex, D>>,
    relu: bool,
) -> Tensor<Flex, D> {
    let dims = x.dims();
    let planes = Planes { n: dims[0], c: dims[1], l: dims[2..].iter().product() };
    let (gamma, beta) = (host_values(bn.gamma.val()), host_values(bn.beta.val()));
    let device = x.device();
    let running = |s: &RunningState<Tensor<Flex, 1>>| host_values(s.value().to_device(&device));
    let affine = Affine::of_running(
        running(&bn.running_mean),
        running(&bn.running_var),
        &gamma,
        &beta,
        bn.epsilon,
    );
    let op = Fused { planes, affine, gamma, relu };
    tensor(forward(&op, primitive(x), residual.map(primitive)))
}

/// A batch's per-channel mean and biased variance.
type Statistics = (Vec<f32>, Vec<f32>);

/// `act(BN(x) + residual)` on `Autodiff<Flex, C>`, one node of the graph, with the batch's
/// statistics, which it also returns (mean, biased variance).
pub fn tracked<C: CheckpointStrategy, const D: usize>(
    bn: &BatchNorm<Autodiff<Flex, C>>,
    x: Tensor<Autodiff<Flex, C>, D>,
    residual: Option<Tensor<Autodiff<Flex, C>, D>>,
    relu: bool,
) -> (Tensor<Autodiff<Flex, C>, D>, Statistics) {
    let dims = x.dims();
    let planes = Planes { n: dims[0], c: dims[1], l: dims[2..].iter().product() };
    let (gamma, beta) = (host_values(bn.gamma.val()), host_values(bn.beta.val()));
    let x: AdTensor = primitive(x);
    let affine =
        Affine::of_batch(&planes, values(&x.primitive.to_contiguous()), &gamma, &beta, bn.epsilon);
    let statistics = (affine.mean.clone(), affine.var.clone());
    let op = Arc::new(Fused { planes, affine, gamma, relu });
    let (gamma, beta) = (primitive(bn.gamma.val()), primitive(bn.beta.val()));
    (tensor(node::<C>(op, x, gamma, beta, residual.map(primitive))), statistics)
}

fn forward(op: &Fused, x: FlexTensor, residual: Option<FlexTensor>) -> FlexTensor {
    let (x, residual) = (x.to_contiguous(), residual.map(|r| r.to_contiguous()));
    let shape = x.layout().shape().clone();
    let z = kernels::forward(
        &op.planes,
        &op.affine,
        values(&x),
        residual.as_ref().map(values),
        op.relu,
    );
    FlexTensor::from_data(TensorData::new(z, shape))
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

fn node<C: CheckpointStrategy>(
    op: Arc<Fused>,
    x: AdTensor,
    gamma: AdTensor,
    beta: AdTensor,
    residual: Option<AdTensor>,
) -> AdTensor {
    let retro =
        RetroFused { op: op.clone(), x: x.node.id, residual: residual.as_ref().map(|r| r.node.id) };
    let output =
        || forward(&op, x.primitive.clone(), residual.as_ref().map(|r| r.primitive.clone()));
    match &residual {
        Some(r) => {
            let prep = <Node as Backward<Flex, 4>>::prepare::<C>(
                Node(op.clone()),
                [x.node.clone(), gamma.node.clone(), beta.node.clone(), r.node.clone()],
            );
            finish(
                prep.memory_bound().retro_forward(retro).parents([&x, &gamma, &beta, r]).stateful(),
                &x,
                Some(r),
                output,
            )
        }
        None => {
            let prep = <Node as Backward<Flex, 3>>::prepare::<C>(
                Node(op.clone()),
                [x.node.clone(), gamma.node.clone(), beta.node.clone()],
            );
            finish(
                prep.memory_bound().retro_forward(retro).parents([&x, &gamma, &beta]).stateful(),
                &x,
                None,
                output,
            )
        }
    }
}

fn finish<C: CheckpointStrategy, const N: usize>(
    kind: OpsKind<Node, Flex, (NodeId, Option<NodeId>), C, N>,
    x: &AdTensor,
    residual: Option<&AdTensor>,
    output: impl FnOnce() -> FlexTensor,
) -> AdTensor {
    match kind {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(x), residual.map(|r| prep.checkpoint(r)));
            prep.finish(state, output())
        }
        OpsKind::UnTracked(prep) => prep.finish(output()),
    }
}

/// Gradients for `x`, γ, β and (fourth parent, where there is one) the residual.
#[derive(Debug)]
struct Node(Arc<Fused>);

impl<const N: usize> Backward<Flex, N> for Node {
    type State = (NodeId, Option<NodeId>);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dz = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, residual) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output::<FlexTensor>(x).to_contiguous();
        let residual: Option<FlexTensor> =
            residual.map(|r| checkpointer.retrieve_node_output::<FlexTensor>(r).to_contiguous());
        let op = &self.0;
        let g = kernels::backward(
            &op.planes,
            &op.affine,
            &op.gamma,
            values(&x),
            residual.as_ref().map(values),
            op.relu,
            values(&dz),
        );
        let shape = x.layout().shape().clone();
        let c = op.planes.c;
        let mut found = [
            Some(FlexTensor::from_data(TensorData::new(g.x, shape.clone()))),
            Some(flex(g.gamma, [c])),
            Some(flex(g.beta, [c])),
            g.residual.map(|r| FlexTensor::from_data(TensorData::new(r, shape))),
        ]
        .into_iter();
        for parent in ops.parents {
            let grad = found.next().flatten();
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// Recomputes the output from the input (and residual), for balanced checkpointing.
#[derive(Debug, Clone)]
struct RetroFused {
    op: Arc<Fused>,
    x: NodeId,
    residual: Option<NodeId>,
}

impl RetroForward for RetroFused {
    fn forward(&self, states: &mut BackwardStates, out_node: NodeId) {
        let x: FlexTensor = states.get_state(&self.x);
        let residual: Option<FlexTensor> = self.residual.map(|r| states.get_state(&r));
        states.save(out_node, forward(&self.op, x, residual));
    }
}
