//! Multi-head attention with an additive bias, `softmax(q·kᵀ/√d + bias + mask)·v` per window and
//! head, as one op on the CPU backend (flex), forward and backward
//! ([`crate::kernels::attention`]). Composed of Burn's ops, Swin's window attention spent most
//! of its time outside the products: flex copies the head transposes and the broadcast bias
//! and mask element by element, and the backward adds three zero-filled slice gradients and a
//! strided reshape of the whole `qkv` gradient. Fused, it reads `qkv` in the linear layer's layout and writes the output in the next one's.
//!
//! `Flex` and `Autodiff<Flex, C>` take this path for f32 tensors outside an autocast scope;
//! every other backend (CUDA) or compute dtype (bf16) composes Burn's ops ([`composed`]).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::softmax;
use burn::tensor::ops::FloatTensor;

use super::autocast;
use super::flex::{flex, primitive, tensor, values};
use crate::kernels::attention::{self as kernels, Shape};

/// `qkv` `[windows, n, 3·c]` (per token: q, k, v, each `heads` heads of `c / heads`), `bias`
/// `[heads, n, n]`, `mask` `[masks, n, n]` (window `w` adds `mask[w % masks]`; windows of one
/// image consecutive) → `[windows, n, c]`, the heads side by side; on `Flex`.
pub fn plain(
    qkv: Tensor<Flex, 3>,
    heads: usize,
    bias: Tensor<Flex, 3>,
    mask: Option<Tensor<Flex, 3>>,
) -> Tensor<Flex, 3> {
    let Some(s) = shape(&qkv, heads, &bias, mask.as_ref()) else {
        return composed(qkv, heads, bias, mask);
    };
    tensor(forward(primitive(qkv), primitive(bias), mask.map(primitive), s))
}

/// The same on `Autodiff<Flex, C>`, one node of the graph.
pub fn tracked<C: CheckpointStrategy>(
    qkv: Tensor<Autodiff<Flex, C>, 3>,
    heads: usize,
    bias: Tensor<Autodiff<Flex, C>, 3>,
    mask: Option<Tensor<Autodiff<Flex, C>, 3>>,
) -> Tensor<Autodiff<Flex, C>, 3> {
    let Some(s) = shape(&qkv, heads, &bias, mask.as_ref()) else {
        return composed(qkv, heads, bias, mask);
    };
    tensor(node::<C>(primitive(qkv), primitive(bias), mask.map(constant), s))
}

/// The attention's shape, where the kernels compute it: f32 tensors, outside an autocast scope.
fn shape<B: Backend>(
    qkv: &Tensor<B, 3>,
    heads: usize,
    bias: &Tensor<B, 3>,
    mask: Option<&Tensor<B, 3>>,
) -> Option<Shape> {
    let f32s = [Some(qkv), Some(bias), mask].into_iter().flatten().all(|t| t.dtype() == DType::F32);
    if !f32s || autocast::compute_dtype().is_some() {
        return None;
    }
    let [windows, n, c3] = qkv.dims();
    Some(Shape { windows, n, heads, hd: c3 / 3 / heads, masks: mask.map_or(0, |m| m.dims()[0]) })
}

/// The same attention in Burn's ops, for every backend and dtype.
pub fn composed<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    bias: Tensor<B, 3>,
    mask: Option<Tensor<B, 3>>,
) -> Tensor<B, 3> {
    let [bw, n, c3] = qkv.dims();
    let (c, hd) = (c3 / 3, c3 / 3 / heads);
    // q, k and v stay 5-D views `[1, bw, heads, N, hd]` of the projection: the batched matmuls
    // read them through their strides, where reshaping them to 4-D would copy each.
    let qkv = qkv.reshape([bw, n, 3, heads, hd]).permute([2, 0, 3, 1, 4]);
    let part = |i: usize| qkv.clone().slice([i..i + 1, 0..bw, 0..heads, 0..n, 0..hd]);
    let (q, k, v) = (part(0), part(1), part(2));
    let mut attn = autocast::matmul(q, k.swap_dims(3, 4)).mul_scalar((hd as f64).powf(-0.5))
        + bias.unsqueeze::<5>();
    if let Some(mask) = mask {
        let windows = mask.dims()[0];
        attn = (attn.reshape([bw / windows, windows, heads, n, n])
            + mask.unsqueeze_dim::<4>(1).unsqueeze::<5>())
        .reshape([1, bw, heads, n, n]);
    }
    autocast::matmul(softmax(attn, 4), v).swap_dims(2, 3).reshape([bw, n, c])
}

fn forward(qkv: FlexTensor, bias: FlexTensor, mask: Option<FlexTensor>, s: Shape) -> FlexTensor {
    let (qkv, bias, mask) =
        (qkv.to_contiguous(), bias.to_contiguous(), mask.map(|m| m.to_contiguous()));
    let out = kernels::forward(&s, values(&qkv), values(&bias), mask.as_ref().map(values));
    flex(out, [s.windows, s.n, s.heads * s.hd])
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

/// A tensor without a gradient (the mask) as its flex values.
fn constant<C: CheckpointStrategy>(t: Tensor<Autodiff<Flex, C>, 3>) -> FlexTensor {
    primitive(t).primitive
}

/// The attention as one node of the autodiff graph, with [`AttentionBackward`] as its backward.
fn node<C: CheckpointStrategy>(
    qkv: AdTensor,
    bias: AdTensor,
    mask: Option<FlexTensor>,
    s: Shape,
) -> AdTensor {
    let prep = <AttentionBackward as Backward<Flex, 2>>::prepare::<C>(
        AttentionBackward,
        [qkv.node.clone(), bias.node.clone()],
    );
    match prep.compute_bound().stateful() {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(&qkv), prep.checkpoint(&bias), mask.clone(), s);
            prep.finish(state, forward(qkv.primitive, bias.primitive, mask, s))
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(qkv.primitive, bias.primitive, mask, s)),
    }
}

/// Gradients for `qkv` and the bias (the mask is a constant).
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 2> for AttentionBackward {
    type State = (NodeId, NodeId, Option<FlexTensor>, Shape);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let dout = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (qkv, bias, mask, s) = ops.state;
        let qkv = checkpointer.retrieve_node_output::<FlexTensor>(qkv).to_contiguous();
        let bias = checkpointer.retrieve_node_output::<FlexTensor>(bias).to_contiguous();
        let mask = mask.map(|m| m.to_contiguous());
        let (dqkv, dbias) = kernels::backward(
            &s,
            values(&qkv),
            values(&bias),
            mask.as_ref().map(values),
            values(&dout),
        );
        let [qkv_node, bias_node] = ops.parents;
        if let Some(node) = qkv_node {
            grads.register::<Flex>(node.id, flex(dqkv, [s.windows, s.n, 3 * s.heads * s.hd]));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, flex(dbias, [s.heads, s.n, s.n]));
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::prelude::*;
    use burn::tensor::{Distribution, FloatDType, TensorData};

    use crate::kernels::attention::{self as kernels, Shape};
    use crate::ops::checks::{assert_close, values};

    /// timm's shifted-window mask values: 0 within a region, −100 across.
    fn mask(masks: usize, n: usize) -> Tensor<Flex, 3> {
        let values: Vec<f32> = (0..masks * n * n)
            .map(|i| if (i / n + i % n + i / (n * n)).is_multiple_of(3) { -100.0 } else { 0.0 })
            .collect();
        Tensor::from_data(TensorData::new(values, [masks, n, n]), &Default::default())
    }

    /// Through autodiff, the output and both gradients are the kernels' (bit for bit: this path
    /// was taken) and agree with the same attention composed of Burn's ops.
    fn gradients_on<C: CheckpointStrategy>(
        windows: usize,
        n: usize,
        heads: usize,
        hd: usize,
        masks: usize,
    ) {
        type F = Flex;
        let device = Default::default();
        let c = heads * hd;
        let qkv0 =
            Tensor::<F, 3>::random([windows, n, 3 * c], Distribution::Normal(0.0, 1.5), &device);
        let bias0 = Tensor::<F, 3>::random([heads, n, n], Distribution::Default, &device);
        let mask0 = (masks > 0).then(|| mask(masks, n));
        let dout0 = Tensor::<F, 3>::random([windows, n, c], Distribution::Default, &device);
        type Attention<C> = fn(
            Tensor<Autodiff<F, C>, 3>,
            usize,
            Tensor<Autodiff<F, C>, 3>,
            Option<Tensor<Autodiff<F, C>, 3>>,
        ) -> Tensor<Autodiff<F, C>, 3>;
        let run = |attention: Attention<C>| {
            let qkv = Tensor::<Autodiff<F, C>, 3>::from_inner(qkv0.clone()).require_grad();
            let bias = Tensor::<Autodiff<F, C>, 3>::from_inner(bias0.clone()).require_grad();
            let mask = mask0.clone().map(Tensor::from_inner);
            let y = attention(qkv.clone(), heads, bias.clone(), mask);
            // A weighting per output entry, so every gradient entry differs.
            let grads = (y.clone() * Tensor::from_inner(dout0.clone())).sum().backward();
            (y.inner(), qkv.grad(&grads).unwrap(), bias.grad(&grads).unwrap())
        };
        let what = format!("{windows} windows of {n}, {heads} heads of {hd}, {masks} masks");
        let (y, dqkv, dbias) = run(crate::ops::Backend::window_attention);
        let (by, bdqkv, bdbias) = run(super::composed);
        let s = Shape { windows, n, heads, hd, masks };
        let mask_values = mask0.clone().map(values);
        let (qkv, bias, dout) =
            (values(qkv0.clone()), values(bias0.clone()), values(dout0.clone()));
        assert_eq!(
            values(y.clone()),
            kernels::forward(&s, &qkv, &bias, mask_values.as_deref()),
            "{what}: output"
        );
        let (want_dqkv, want_dbias) =
            kernels::backward(&s, &qkv, &bias, mask_values.as_deref(), &dout);
        assert_eq!(values(dqkv.clone()), want_dqkv, "{what}: qkv gradient");
        assert_eq!(values(dbias.clone()), want_dbias, "{what}: bias gradient");
        assert_close(y, by, &format!("{what}: output"));
        assert_close(dqkv, bdqkv, &format!("{what}: qkv gradient"));
        assert_close(dbias, bdbias, &format!("{what}: bias gradient"));
        // Inference takes the kernels too.
        let plain = crate::ops::window_attention(qkv0.clone(), heads, bias0.clone(), mask0.clone());
        assert_eq!(
            values(plain),
            kernels::forward(&s, &qkv, &bias, mask_values.as_deref()),
            "{what}: inference"
        );
    }

    #[test]
    fn gradients_are_the_kernels_and_agree_with_burns_ops() {
        gradients_on::<BalancedCheckpointing>(8, 9, 3, 4, 4);
        gradients_on::<NoCheckpointing>(8, 9, 3, 4, 4);
        // Swin's last stage at 112 px (one window per image, no mask); more windows than
        // backward chunks.
        gradients_on::<BalancedCheckpointing>(70, 16, 2, 8, 0);
        gradients_on::<BalancedCheckpointing>(3, 5, 1, 3, 1);
    }

    /// Under an autocast scope, Burn's ops (in the compute dtype) instead of the f32 kernels.
    #[test]
    fn autocast_scopes_compose_burns_ops() {
        let device = Default::default();
        let qkv = Tensor::<Flex, 3>::random([4, 9, 12], Distribution::Default, &device);
        let bias = Tensor::<Flex, 3>::random([2, 9, 9], Distribution::Default, &device);
        let _bf16 = crate::ops::autocast(Some(FloatDType::BF16));
        let fused = crate::ops::window_attention(qkv.clone(), 2, bias.clone(), Some(mask(2, 9)));
        assert_eq!(fused.into_data(), super::composed(qkv, 2, bias, Some(mask(2, 9))).into_data());
    }
}
