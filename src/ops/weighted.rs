//! The project's CPU ops of an input, a weight and an optional bias (the 2-D convolution, the
//! linear layer) on flex, inference and autodiff alike: each op is its shape plus its four
//! kernels ([`WeightedOp`]); this module turns it into a tensor op and one compute-bound node
//! of the autodiff graph (as Burn's own convolution and matmul are).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;

use super::flex::{primitive, tensor};

/// An op's shape and kernels, on flex tensors (any layout: the kernels make them contiguous).
pub trait WeightedOp: Copy + Send + Sync + std::fmt::Debug + 'static {
    fn forward(self, x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor;
    fn grad_input(self, weight: FlexTensor, dy: &FlexTensor) -> FlexTensor;
    fn grad_weight(self, x: FlexTensor, dy: &FlexTensor) -> FlexTensor;
    fn grad_bias(self, dy: &FlexTensor) -> FlexTensor;
}

/// `op` on `Flex`.
pub fn plain<O: WeightedOp, const D: usize, const E: usize, const F: usize>(
    op: O,
    x: Tensor<Flex, D>,
    weight: Tensor<Flex, E>,
    bias: Option<Tensor<Flex, 1>>,
) -> Tensor<Flex, F> {
    tensor(op.forward(primitive(x), primitive(weight), bias.map(primitive)))
}

/// `op` on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C, O, const D: usize, const E: usize, const F: usize>(
    op: O,
    x: Tensor<Autodiff<Flex, C>, D>,
    weight: Tensor<Autodiff<Flex, C>, E>,
    bias: Option<Tensor<Autodiff<Flex, C>, 1>>,
) -> Tensor<Autodiff<Flex, C>, F>
where
    C: CheckpointStrategy,
    O: WeightedOp,
{
    tensor(node::<C, O>(op, primitive(x), primitive(weight), bias.map(primitive)))
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

/// The op as one node of the autodiff graph, with [`Node`] as its backward.
fn node<C: CheckpointStrategy, O: WeightedOp>(
    op: O,
    x: AdTensor,
    weight: AdTensor,
    bias: Option<AdTensor>,
) -> AdTensor {
    let output = || {
        op.forward(
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.as_ref().map(|b| b.primitive.clone()),
        )
    };
    match &bias {
        Some(b) => {
            let prep = <Node<O> as Backward<Flex, 3>>::prepare::<C>(
                Node(op),
                [x.node.clone(), weight.node.clone(), b.node.clone()],
            );
            finish(prep.compute_bound().stateful(), &x, &weight, output)
        }
        None => {
            let prep = <Node<O> as Backward<Flex, 2>>::prepare::<C>(
                Node(op),
                [x.node.clone(), weight.node.clone()],
            );
            finish(prep.compute_bound().stateful(), &x, &weight, output)
        }
    }
}

fn finish<C: CheckpointStrategy, O: WeightedOp, const N: usize>(
    kind: OpsKind<Node<O>, Flex, (NodeId, NodeId), C, N>,
    x: &AdTensor,
    weight: &AdTensor,
    output: impl FnOnce() -> FlexTensor,
) -> AdTensor {
    match kind {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(x), prep.checkpoint(weight));
            prep.finish(state, output())
        }
        OpsKind::UnTracked(prep) => prep.finish(output()),
    }
}

/// Gradients for the input, the weight and (third parent, where there is one) the bias.
#[derive(Debug)]
struct Node<O>(O);

impl<O: WeightedOp, const N: usize> Backward<Flex, N> for Node<O> {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x);
        let weight: FlexTensor = checkpointer.retrieve_node_output(weight);
        let mut parents = ops.parents.into_iter();
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, self.0.grad_input(weight, &dy));
        }
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, self.0.grad_weight(x, &dy));
        }
        if let Some(node) = parents.next().flatten() {
            grads.register::<Flex>(node.id, self.0.grad_bias(&dy));
        }
    }
}
