//! Burn's `Lstm` layer run over a whole sequence as one op on the CPU backend (flex), forward
//! and backward ([`crate::kernels::lstm`]). Burn's own layer takes eight small products per
//! step (each gate's input and hidden transforms) and writes each step's hidden state into the
//! output by `slice_assign`; its backward then adds each step's weight gradients, one
//! weight-sized outer product per gate and step, and copies the output once per step. Here
//! the input's products for every step are one GEMM, and so is each weight gradient.
//!
//! The parameters stay Burn's (`Lstm`'s gate controllers, so records and checkpoints are
//! unchanged): the four gates' weights are concatenated for the op and their gradients flow
//! back through the concatenation. `Flex` and `Autodiff<Flex, C>` take this path for f32 outside
//! an autocast scope, for the layers the project builds (sigmoid gates, tanh cell and hidden
//! activations, biases, batch-first, forwards, no clipping or coupled gates, zero initial
//! state); everything else runs Burn's layer.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::nn::activation::Activation;
use burn::nn::{GateController, Lstm};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;

use super::autocast;
use super::flex::{flex, primitive, tensor, values};
use crate::kernels::lstm::{self as kernels, Shape};

/// The hidden states `[batch, steps, hidden]` of `lstm` over `x` `[batch, steps, input]`, from
/// zero states: `lstm.forward(x, None).0`, on `Flex`.
pub fn plain(lstm: &Lstm<Flex>, x: Tensor<Flex, 3>) -> Tensor<Flex, 3> {
    let Some((s, (w_ih, w_hh, bias))) = covered(lstm, &x) else {
        return lstm.forward(x, None).0;
    };
    tensor(forward(primitive(x), primitive(w_ih), primitive(w_hh), primitive(bias), s).0)
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy>(
    lstm: &Lstm<Autodiff<Flex, C>>,
    x: Tensor<Autodiff<Flex, C>, 3>,
) -> Tensor<Autodiff<Flex, C>, 3> {
    let Some((s, (w_ih, w_hh, bias))) = covered(lstm, &x) else {
        return lstm.forward(x, None).0;
    };
    tensor(node::<C>([primitive(x), primitive(w_ih), primitive(w_hh), primitive(bias)], s))
}

/// The shape and the stacked parameters ([`stacked`]), where the kernels compute the layer on
/// `x`: f32, outside an autocast scope.
#[allow(clippy::type_complexity)]
fn covered<B: Backend>(
    lstm: &Lstm<B>,
    x: &Tensor<B, 3>,
) -> Option<(Shape, (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>))> {
    if x.dtype() != DType::F32 || autocast::compute_dtype().is_some() {
        return None;
    }
    let [batch, steps, input] = x.dims();
    let s = Shape { batch, steps, input, hidden: lstm.d_hidden };
    Some((s, stacked(lstm, input)?))
}

/// The gates' input weights `[input, 4·hidden]`, hidden weights `[hidden, 4·hidden]` and
/// summed biases `[4·hidden]` side by side (input, forget, output, cell gate), where the layer
/// is one the kernels compute on `input`-wide rows (f32 weights in Burn's row layout).
#[allow(clippy::type_complexity)]
fn stacked<B: Backend>(
    lstm: &Lstm<B>,
    input: usize,
) -> Option<(Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 1>)> {
    let plain = lstm.batch_first && !lstm.reverse && lstm.clip.is_none() && !lstm.input_forget;
    let activations = matches!(lstm.gate_activation, Activation::Sigmoid(_))
        && matches!(lstm.cell_activation, Activation::Tanh(_))
        && matches!(lstm.hidden_activation, Activation::Tanh(_));
    let gates: [&GateController<B>; 4] =
        [&lstm.input_gate, &lstm.forget_gate, &lstm.output_gate, &lstm.cell_gate];
    let hidden = lstm.d_hidden;
    let rows = gates.iter().all(|g| {
        let (wi, wh) = (&g.input_transform.weight, &g.hidden_transform.weight);
        wi.dims() == [input, hidden]
            && wh.dims() == [hidden, hidden]
            && wi.dtype() == DType::F32
            && wh.dtype() == DType::F32
    });
    if !(plain && activations && rows) {
        return None;
    }
    let mut biases = Vec::with_capacity(4);
    for gate in gates {
        let (Some(bi), Some(bh)) = (&gate.input_transform.bias, &gate.hidden_transform.bias) else {
            return None;
        };
        biases.push(bi.val() + bh.val());
    }
    let cat = |weight: fn(&GateController<B>) -> Tensor<B, 2>| {
        Tensor::cat(gates.iter().map(|g| weight(g)).collect(), 1)
    };
    Some((
        cat(|g| g.input_transform.weight.val()),
        cat(|g| g.hidden_transform.weight.val()),
        Tensor::cat(biases, 0),
    ))
}

/// The hidden states and the backward's cache.
fn forward(
    x: FlexTensor,
    w_ih: FlexTensor,
    w_hh: FlexTensor,
    bias: FlexTensor,
    s: Shape,
) -> (FlexTensor, FlexTensor) {
    let [x, w_ih, w_hh, bias] = [x, w_ih, w_hh, bias].map(|t| t.to_contiguous());
    let (h, cache) = kernels::forward(&s, values(&x), values(&w_ih), values(&w_hh), values(&bias));
    (flex(h, [s.batch, s.steps, s.hidden]), flex(cache, [s.batch, s.steps, 5 * s.hidden]))
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

/// The layer as one node of the autodiff graph, with [`LstmBackward`] as its backward.
fn node<C: CheckpointStrategy>(inputs: [AdTensor; 4], s: Shape) -> AdTensor {
    let [x, w_ih, w_hh, bias] = inputs;
    let run = || {
        forward(
            x.primitive.clone(),
            w_ih.primitive.clone(),
            w_hh.primitive.clone(),
            bias.primitive.clone(),
            s,
        )
    };
    let prep = <LstmBackward as Backward<Flex, 4>>::prepare::<C>(
        LstmBackward,
        [&x, &w_ih, &w_hh, &bias].map(|t| t.node.clone()),
    );
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let (h, cache) = run();
            let state =
                (prep.checkpoint(&x), prep.checkpoint(&w_ih), prep.checkpoint(&w_hh), cache, s);
            prep.finish(state, h)
        }
        OpsKind::UnTracked(prep) => prep.finish(run().0),
    }
}

/// Gradients for the input, the stacked weights and the summed biases.
#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 4> for LstmBackward {
    type State = (NodeId, NodeId, NodeId, FlexTensor, Shape);

    fn backward(
        self,
        ops: Ops<Self::State, 4>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dh = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, w_ih, w_hh, cache, s) = ops.state;
        let [x, w_ih, w_hh] = [x, w_ih, w_hh]
            .map(|id| checkpointer.retrieve_node_output::<FlexTensor>(id).to_contiguous());
        let [dx, dw_ih, dw_hh, dbias] = kernels::backward(
            &s,
            values(&x),
            values(&w_ih),
            values(&w_hh),
            values(&cache),
            values(&dh),
        );
        let shapes = [
            vec![s.batch, s.steps, s.input],
            vec![s.input, 4 * s.hidden],
            vec![s.hidden, 4 * s.hidden],
            vec![4 * s.hidden],
        ];
        for ((node, grad), shape) in
            ops.parents.into_iter().zip([dx, dw_ih, dw_hh, dbias]).zip(shapes)
        {
            if let Some(node) = node {
                grads
                    .register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(grad, shape)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::module::Param;
    use burn::nn::LstmConfig;
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use crate::ops::checks::assert_close;

    /// Through autodiff, the hidden states and the gradients of the input and of all four
    /// gates' input weights, hidden weights and both biases agree with Burn's own layer
    /// (which this path replaces).
    fn agrees_with_burn<C: CheckpointStrategy>() {
        type A<C> = Autodiff<Flex, C>;
        let device = Default::default();
        let lstm = LstmConfig::new(6, 5, true).init::<A<C>>(&device);
        assert!(super::stacked(&lstm, 6).is_some(), "a layer the kernels compute");
        let x0 = Tensor::<Flex, 3>::random([2, 7, 6], Distribution::Default, &device);
        let weights = Tensor::<Flex, 3>::random([2, 7, 5], Distribution::Default, &device);
        let gates = [
            ("input", &lstm.input_gate),
            ("forget", &lstm.forget_gate),
            ("cell", &lstm.cell_gate),
            ("output", &lstm.output_gate),
        ];
        let run = |ours: bool| {
            let x = Tensor::<A<C>, 3>::from_inner(x0.clone()).require_grad();
            let h = if ours {
                crate::ops::lstm(&lstm, x.clone())
            } else {
                lstm.forward(x.clone(), None).0
            };
            let grads = (h.clone() * Tensor::from_inner(weights.clone())).sum().backward();
            let grad = |p: &Param<Tensor<A<C>, 2>>| p.val().grad(&grads).unwrap();
            let bias = |p: &Option<Param<Tensor<A<C>, 1>>>| {
                p.as_ref().unwrap().val().grad(&grads).unwrap()
            };
            let per_gate: Vec<_> = gates
                .iter()
                .map(|(_, g)| {
                    let (input, hidden) = (&g.input_transform, &g.hidden_transform);
                    (
                        grad(&input.weight),
                        grad(&hidden.weight),
                        bias(&input.bias),
                        bias(&hidden.bias),
                    )
                })
                .collect();
            (h.inner(), x.grad(&grads).unwrap(), per_gate)
        };
        let (ours, burn) = (run(true), run(false));
        assert_close(ours.0, burn.0, "hidden states");
        assert_close(ours.1, burn.1, "input gradient");
        assert_eq!(ours.2.len(), 4);
        for (((name, _), o), b) in gates.iter().zip(ours.2).zip(burn.2) {
            assert_close(o.0, b.0, &format!("{name} gate's input weight gradient"));
            assert_close(o.1, b.1, &format!("{name} gate's hidden weight gradient"));
            assert_close(o.2, b.2, &format!("{name} gate's input bias gradient"));
            assert_close(o.3, b.3, &format!("{name} gate's hidden bias gradient"));
        }
    }

    #[test]
    fn agrees_with_burns_layer_through_autodiff() {
        agrees_with_burn::<NoCheckpointing>();
        agrees_with_burn::<BalancedCheckpointing>();
    }

    /// Inference (plain flex) gives the training path's hidden states, and a layer the kernels
    /// do not cover (a reversed one) still runs, as Burn's.
    #[test]
    fn inference_and_uncovered_layers() {
        let device = Default::default();
        let x = Tensor::<Flex, 3>::random([3, 4, 6], Distribution::Default, &device);
        let lstm = LstmConfig::new(6, 5, true).init::<Flex>(&device);
        assert_close(
            crate::ops::lstm(&lstm, x.clone()),
            lstm.forward(x.clone(), None).0,
            "inference",
        );
        let reversed = LstmConfig::new(6, 5, true).with_reverse(true).init::<Flex>(&device);
        assert!(super::stacked(&reversed, 6).is_none());
        assert_eq!(
            crate::ops::lstm(&reversed, x.clone()).into_data(),
            reversed.forward(x, None).0.into_data()
        );
    }
}
