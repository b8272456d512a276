//! The exact GELU, `x·Φ(x)` (timm's Swin and the temporal layers use it), forward and backward.
//! Flex computes it one element at a time through libm's scalar `erff` (8% of a Swin training
//! step on the CPU); here `erf` and `exp` are branch-free polynomials that the compiler
//! vectorises over whole slices. Absolute error within
//! 2.5·10⁻⁷ of the exact function (Abramowitz & Stegun's erf, in f32).
//!
//! `Flex` and `Autodiff<Flex>` take this path for f32; every other backend or dtype goes
//! through Burn's `gelu`. Under autodiff it is memory-bound as Burn's own: with balanced
//! checkpointing its output is recomputed from its input in the backward pass, not kept.

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, PI};

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::retro_forward::RetroForward;
use burn::backend::autodiff::checkpoint::state::BackwardStates;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation::gelu as burn_gelu;
use burn::tensor::ops::FloatTensor;
use multiversion::multiversion;
use rayon::prelude::*;

use super::exp::exp;
use super::flex::{OnFlex, primitive, tensor, values};
use super::fresh;

/// `x·Φ(x)`, element-wise, as `burn::tensor::activation::gelu`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    match OnFlex::of::<B>().filter(|_| x.dtype() == DType::F32) {
        Some(OnFlex::Plain) => tensor(forward(primitive(x))),
        Some(OnFlex::Balanced) => tensor(tracked::<BalancedCheckpointing>(primitive(x))),
        Some(OnFlex::Unbalanced) => tensor(tracked::<NoCheckpointing>(primitive(x))),
        None => burn_gelu(x),
    }
}

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;

fn forward(x: FlexTensor) -> FlexTensor {
    let contiguous = x.to_contiguous();
    drop(x);
    let mut x = contiguous;
    // Values no one else holds (inference: the layer before's output) are overwritten.
    if let Some(values) = x.try_storage_mut::<f32>() {
        values.par_chunks_mut(CHUNK).for_each(gelu_in_place);
        return x;
    }
    let y =
        fresh::par_init(x.layout().num_elements(), CHUNK, values(&x).par_chunks(CHUNK), |y, x| {
            let y = y.write_copy_of_slice(x);
            gelu_in_place(y);
            y
        });
    like(y, &x)
}

/// `dy · (Φ(x) + x·φ(x))`.
fn backward(x: &FlexTensor, dy: &FlexTensor) -> FlexTensor {
    let (x, dy) = (x.to_contiguous(), dy.to_contiguous());
    let chunks = values(&dy).par_chunks(CHUNK).zip(values(&x).par_chunks(CHUNK));
    let dx = fresh::par_init(x.layout().num_elements(), CHUNK, chunks, |dx, (dy, x)| {
        let dx = dx.write_copy_of_slice(dy);
        chain_in_place(dx, x);
        dx
    });
    like(dx, &x)
}

/// `x·Φ(x)` for each value. Like the other element-wise loops of the CPU kernels, compiled for
/// the widest vectors the CPU has (the build's baseline is SSE2); the arithmetic is the same,
/// so the values are too.
#[multiversion(targets = "simd")]
fn gelu_in_place(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v *= cdf_pdf(*v).0);
}

/// `dy ← dy·(Φ(x) + x·φ(x))` for each pair.
#[multiversion(targets = "simd")]
fn chain_in_place(dy: &mut [f32], x: &[f32]) {
    dy.iter_mut().zip(x).for_each(|(d, &x)| {
        let (cdf, pdf) = cdf_pdf(x);
        *d *= cdf + x * pdf;
    });
}

/// `values` in `t`'s shape.
fn like(values: Vec<f32>, t: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, t.layout().shape().clone()))
}

/// Φ(x) and φ(x), the standard normal's distribution and density.
#[inline(always)]
fn cdf_pdf(x: f32) -> (f32, f32) {
    // erf(z), z = |x|/√2 ≥ 0. Below ½ its Maclaurin series to z¹¹ (truncation < 2·10⁻⁸);
    // above, Abramowitz & Stegun 7.1.26, 1 − t·P(t)·e^(−z²) with t = 1/(1 + p·z) (absolute
    // error ≤ 1.5·10⁻⁷; near 0 it would lose digits to cancellation). Both are computed and
    // one picked, which keeps the loop branch-free.
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    const S: [f32; 6] = [1.0, -1.0 / 3.0, 1.0 / 10.0, -1.0 / 42.0, 1.0 / 216.0, -1.0 / 1320.0];
    let z = x.abs() * FRAC_1_SQRT_2;
    let z2 = z * z;
    let e = exp(-z2);
    let t = 1.0 / (1.0 + P * z);
    let tail = 1.0 - t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4])))) * e;
    let series = FRAC_2_SQRT_PI
        * z
        * (S[0] + z2 * (S[1] + z2 * (S[2] + z2 * (S[3] + z2 * (S[4] + z2 * S[5])))));
    let erf = if z < 0.5 { series } else { tail }.copysign(x);
    (0.5 * (1.0 + erf), e * (0.5 / PI).sqrt())
}

type AdTensor = FloatTensor<Autodiff<Flex>>;

fn tracked<C: CheckpointStrategy>(x: AdTensor) -> AdTensor {
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

    use crate::model::flex::{primitive, tensor};

    /// Against f64's definition (erf from its series, exact enough here) over the range
    /// activations take, and the tails.
    #[test]
    fn values_and_derivatives_are_within_2_5e7_of_the_exact_function() {
        fn erf(x: f64) -> f64 {
            // Maclaurin series; converges for |x| ≤ 6 in f64 with 200 terms.
            let (mut term, mut sum) = (x, x);
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        }
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let (cdf, pdf) = super::cdf_pdf(x);
            let xd = f64::from(x);
            let want_cdf = 0.5 * (1.0 + erf(xd / 2f64.sqrt()));
            let want_pdf = (-xd * xd / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((f64::from(cdf) - want_cdf).abs() < 2.5e-7, "Φ({x}): {cdf} vs {want_cdf}");
            assert!((f64::from(pdf) - want_pdf).abs() < 2.5e-7, "φ({x}): {pdf} vs {want_pdf}");
        }
        assert_eq!(super::cdf_pdf(-200.0).0, 0.0);
        let (cdf, pdf) = super::cdf_pdf(200.0);
        assert!(cdf == 1.0 && pdf < 1e-37, "far tail: Φ {cdf}, φ {pdf}");
    }

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
        let (y, dx) = run(super::gelu);
        let (by, bdx) = run(burn::tensor::activation::gelu);
        assert_eq!(y.dims(), [3, 70_000, 2]);
        let close = |a: Tensor<Flex, 3>, b: Tensor<Flex, 3>, what: &str| {
            let d = (a - b.clone()).abs().max().into_scalar() / b.abs().max().into_scalar();
            assert!(d < 1e-6, "{what}: relative difference {d}");
        };
        close(y, by, "output");
        close(dx, bdx, "gradient");
        let inference = super::gelu(x0.clone());
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
        assert_eq!(tensor::<Flex, _, 2>(held).to_data(), before, "the shared input is unchanged");
        let alone: FlexTensor = primitive(x + 0.0);
        let at = alone.bytes().as_ptr();
        let in_place = super::forward(alone);
        assert_eq!(in_place.bytes().as_ptr(), at, "an input held alone is overwritten");
        assert_eq!(in_place.bytes(), fresh.bytes(), "the same values either way");
    }
}
