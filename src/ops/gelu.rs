//! The exact GELU, `x·Φ(x)` (timm's Swin and the temporal layers use it), on the CPU backend
//! (flex) through the kernels ([`crate::kernels::gelu`]), f32 only; every other backend or dtype
//! goes through Burn's `gelu`. Under autodiff it is memory-bound as Burn's own: with balanced
//! checkpointing its output is recomputed from its input in the backward pass, not kept.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::retro_forward::RetroForward;
use burn::backend::autodiff::checkpoint::state::BackwardStates;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::gelu as burn_gelu;
use burn::tensor::ops::FloatTensor;

use super::flex::{primitive, tensor, values};
use crate::kernels::gelu as kernels;

/// `x·Φ(x)` on `Flex`.
pub fn plain<const D: usize>(x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    if x.dtype() != DType::F32 {
        return burn_gelu(x);
    }
    tensor(forward(primitive(x)))
}

/// `x·Φ(x)` on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy, const D: usize>(
    x: Tensor<Autodiff<Flex, C>, D>,
) -> Tensor<Autodiff<Flex, C>, D> {
    if x.dtype() != DType::F32 {
        return burn_gelu(x);
    }
    tensor(node::<C>(primitive(x)))
}

fn forward(x: FlexTensor) -> FlexTensor {
    let contiguous = x.to_contiguous();
    drop(x);
    let mut x = contiguous;
    // Values no one else holds (inference: the layer before's output) are overwritten.
    if let Some(values) = x.try_storage_mut::<f32>() {
        kernels::forward_in_place(values);
        return x;
    }
    like(kernels::forward(values(&x)), &x)
}

/// `dy · (Φ(x) + x·φ(x))`.
fn backward(x: &FlexTensor, dy: &FlexTensor) -> FlexTensor {
    let (x, dy) = (x.to_contiguous(), dy.to_contiguous());
    like(kernels::backward(values(&x), values(&dy)), &x)
}

/// `values` in `t`'s shape.
fn like(values: Vec<f32>, t: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, t.layout().shape().clone()))
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

fn node<C: CheckpointStrategy>(x: AdTensor) -> AdTensor {
    let prep = <GeluBackward as Backward<Flex, 1>>::prepare::<C>(GeluBackward, [x.node.clone()]);
    let kind =
        prep.memory_bound().retro_forward(RetroGelu { input: x.node.id }).parents([&x]).stateful();
    match kind {
        OpsKind::Tracked(mut prep) => {
            let state = prep.checkpoint(&x);
            prep.finish(state, forward(x.primitive.clone()))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive)),
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = NodeId;

    fn backward(self, ops: Ops<NodeId, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let x: FlexTensor = checkpointer.retrieve_node_output(ops.state);
        let [parent] = ops.parents;
        if let Some(node) = parent {
            grads.register::<Flex>(node.id, backward(&x, &dy));
        }
    }
}

/// Recomputes the output from the input, for balanced checkpointing.
#[derive(Debug, Clone)]
struct RetroGelu {
    input: NodeId,
}

impl RetroForward for RetroGelu {
    fn forward(&self, states: &mut BackwardStates, out_node: NodeId) {
        let x: FlexTensor = states.get_state(&self.input);
        states.save(out_node, forward(x));
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    use burn::backend::flex::FlexTensor;
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;

    use crate::ops::flex::{primitive, tensor};

    /// Through autodiff (balanced checkpointing recomputes the output), the values and the
    /// gradient agree with Burn's GELU, for any shape.
    #[test]
    fn agrees_with_burns_gelu_forward_and_backward() {
        type AD = Autodiff<Flex, BalancedCheckpointing>;
        let device = Default::default();
        let x0 = Tensor::<Flex, 3>::random(
            [3, 70_000, 2],
            burn::tensor::Distribution::Normal(0.0, 3.0),
            &device,
        );
        let run = |gelu: fn(Tensor<AD, 3>) -> Tensor<AD, 3>| {
            let x = Tensor::<AD, 3>::from_inner(x0.clone()).require_grad();
            // A product after the GELU, so the backward needs its output (recomputed).
            let y = gelu(x.clone());
            let grads = (y.clone() * y.clone()).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (y, dx) = run(crate::ops::gelu);
        let (by, bdx) = run(burn::tensor::activation::gelu);
        assert_eq!(y.dims(), [3, 70_000, 2]);
        let close = |a: Tensor<Flex, 3>, b: Tensor<Flex, 3>, what: &str| {
            let d = (a - b.clone()).abs().max().into_scalar() / b.abs().max().into_scalar();
            assert!(d < 1e-6, "{what}: relative difference {d}");
        };
        close(y, by, "output");
        close(dx, bdx, "gradient");
        let inference = crate::ops::gelu(x0.clone());
        close(inference, burn::tensor::activation::gelu(x0), "inference");
    }

    /// Values no one else holds are overwritten in place, with the values of the path that
    /// writes a fresh output; values still held elsewhere are left as they were.
    #[test]
    fn inference_overwrites_only_what_it_alone_holds() {
        let x = Tensor::<Flex, 2>::random(
            [5, 30_001],
            burn::tensor::Distribution::Normal(0.0, 2.0),
            &Default::default(),
        );
        let before = x.to_data();
        let held: FlexTensor = primitive(x.clone());
        let fresh = super::forward(held.clone());
        assert_ne!(
            fresh.bytes().as_ptr(),
            held.bytes().as_ptr(),
            "a shared input gets a fresh output"
        );
        assert_eq!(tensor::<Flex, 2>(held).to_data(), before, "the shared input is unchanged");
        let alone: FlexTensor = primitive(x + 0.0);
        let at = alone.bytes().as_ptr();
        let in_place = super::forward(alone);
        assert_eq!(in_place.bytes().as_ptr(), at, "an input held alone is overwritten");
        assert_eq!(in_place.bytes(), fresh.bytes(), "the same values either way");
    }
}
