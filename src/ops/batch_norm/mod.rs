//! BatchNorm's forward, alone or with ResNet's shortcut add and ReLU after it.
//!
//! On the CPU backend (flex, f32) it is one op of the project's ([`fused`], through
//! [`crate::kernels::batch_norm`]): three passes forward and two backward, where Burn's ops take
//! about twenty. Elsewhere (CUDA, bf16) it is
//! composed of Burn's ops ([`composed`]), laid out for flex's fast paths as well: Burn's own
//! `BatchNorm::forward` combines `[N, C, …]` with `[1, C, 1…]` statistics, a broadcast that on
//! flex walks every element through a strided iterator (a third of a ResNet-18 step); there the
//! input is viewed as `[N, C, L]`, the statistics are reduced along the contiguous last axis,
//! and every per-channel factor is repeated to `[N, C, 1]` first.
//!
//! Same module, same parameters and running statistics, same semantics as Burn's (batch
//! statistics and a running-average update when training on an autodiff backend, the running
//! statistics otherwise), but for the variance the running average takes in: the batch's
//! unbiased one, as PyTorch's `BatchNorm` (Burn's takes the biased one it normalises with).

use std::cell::Cell;

mod fused;

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::activation;

use super::scoped::{self, Guard};

thread_local! {
    static FROZEN: Cell<bool> = const { Cell::new(false) };
}

/// While the guard lives, BatchNorm layers on this thread still normalise with the batch's
/// statistics but leave the running statistics as they are (a data-parallel shard other than
/// the first).
pub fn frozen_statistics() -> Guard<bool> {
    scoped::set(&FROZEN, true)
}

/// `act(BN(x) + residual)` on `Flex` (`act` ReLU where `relu`, else the identity), `x`
/// `[n, c, …]`, with the running statistics (inference): one op where the tensors are f32.
pub fn plain<const D: usize>(
    bn: &BatchNorm<Flex>,
    x: Tensor<Flex, D>,
    residual: Option<Tensor<Flex, D>>,
    relu: bool,
) -> Tensor<Flex, D> {
    if !f32s(bn, &x, residual.as_ref()) {
        return composed_with(bn, x, residual, relu);
    }
    fused::plain(bn, x, residual, relu)
}

/// The same on `Autodiff<Flex, C>`, one node of the graph, with the batch's statistics (which
/// also update the running ones).
pub fn tracked<C: CheckpointStrategy, const D: usize>(
    bn: &BatchNorm<Autodiff<Flex, C>>,
    x: Tensor<Autodiff<Flex, C>, D>,
    residual: Option<Tensor<Autodiff<Flex, C>, D>>,
    relu: bool,
) -> Tensor<Autodiff<Flex, C>, D> {
    if !f32s(bn, &x, residual.as_ref()) {
        return composed_with(bn, x, residual, relu);
    }
    let device = x.device();
    let count = x.shape().num_elements() / x.dims()[1];
    let (z, (mean, var)) = fused::tracked(bn, x, residual, relu);
    let c = mean.len();
    let tensor = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [c]), &device);
    update_running(bn, tensor(mean), tensor(var), count);
    z
}

/// Whether the input, the residual and the parameters are f32 (the fused op's dtype).
fn f32s<B: Backend, const D: usize>(
    bn: &BatchNorm<B>,
    x: &Tensor<B, D>,
    residual: Option<&Tensor<B, D>>,
) -> bool {
    let dtypes = [Some(x.dtype()), residual.map(Tensor::dtype), Some(bn.gamma.val().dtype())];
    dtypes.into_iter().flatten().all(|d| d == DType::F32)
}

/// BatchNorm of Burn's ops ([`composed`]), then the residual added and the ReLU where asked.
pub fn composed_with<B: Backend, const D: usize>(
    bn: &BatchNorm<B>,
    x: Tensor<B, D>,
    residual: Option<Tensor<B, D>>,
    relu: bool,
) -> Tensor<B, D> {
    let y = composed(bn, x);
    let y = match residual {
        Some(r) => y + r,
        None => y,
    };
    if relu { activation::relu(y) } else { y }
}

/// BatchNorm of Burn's ops, laid out for flex's fast paths (see the module's notes).
fn composed<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    let (n, c) = (dims[0], dims[1]);
    let l: usize = dims[2..].iter().product();
    let x = x.reshape([n, c, l]);
    let per_row = |t: Tensor<B, 1>| t.reshape([1, c, 1]).repeat_dim(0, n);
    let y = if B::ad_enabled(&x.device()) {
        let mean = x.clone().mean_dim(2).mean_dim(0); // [1, C, 1]
        let centered = x - mean.clone().repeat_dim(0, n);
        let var = centered.clone().square().mean_dim(2).mean_dim(0);
        update_running(bn, mean.reshape([c]), var.clone().reshape([c]), n * l);
        let scale = bn.gamma.val().reshape([1, c, 1]) / var.add_scalar(bn.epsilon).sqrt();
        centered * scale.repeat_dim(0, n) + per_row(bn.beta.val())
    } else {
        let device = x.device();
        let mean = bn.running_mean.value().to_device(&device);
        let var = bn.running_var.value().to_device(&device);
        let scale = bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt();
        let shift = bn.beta.val() - mean * scale.clone();
        x * per_row(scale) + per_row(shift)
    };
    y.reshape(dims)
}

/// Blends a batch's `mean` and biased `var` over `count` values per channel into the
/// running statistics, the variance made unbiased first (as PyTorch).
fn update_running<B: Backend>(
    bn: &BatchNorm<B>,
    mean: Tensor<B, 1>,
    var: Tensor<B, 1>,
    count: usize,
) {
    if FROZEN.with(Cell::get) {
        return;
    }
    let var = if count > 1 { var.mul_scalar(count as f64 / (count - 1) as f64) } else { var };
    let device = mean.device();
    let m = bn.momentum;
    let blend = |running: Tensor<B, 1>, batch: Tensor<B, 1>| {
        running.to_device(&device).mul_scalar(1.0 - m) + batch.detach().mul_scalar(m)
    };
    bn.running_mean.update(blend(bn.running_mean.value_sync(), mean).detach());
    bn.running_var.update(blend(bn.running_var.value_sync(), var).detach());
}

#[cfg(test)]
mod tests {
    use burn::backend::autodiff::checkpoint::strategy::{
        BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
    };
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use burn::module::{Param, RunningState};
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use crate::kernels::batch_norm as kernels;
    use crate::ops::batch_norm;

    type AD = Autodiff<Flex>;

    #[test]
    fn frozen_statistics_normalise_but_keep_the_running_statistics() {
        let device = Default::default();
        let bn = BatchNormConfig::new(4).init::<AD>(&device);
        let x = Tensor::<AD, 3>::random([2, 4, 9], Distribution::Normal(3.0, 1.0), &device);
        let y = {
            let _frozen = super::frozen_statistics();
            batch_norm(&bn, x.clone())
        };
        assert!(y.inner().mean().into_scalar().abs() < 1e-4, "normalised with the batch's mean");
        assert_eq!(
            bn.running_mean.value_sync().into_data(),
            Tensor::<AD, 1>::zeros([4], &device).into_data()
        );
        // Unfrozen again once the scope ends.
        let _ = batch_norm(&bn, x);
        assert!(bn.running_mean.value_sync().inner().min().into_scalar() > 0.1);
    }

    fn max_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Burn's running variance after one update from ones (momentum 0.1, `0.9 + 0.1·v` for
    /// the biased batch variance `v`) as it is with `v` made unbiased over `count` values.
    fn unbiased(burns: Tensor<Flex, 1>, count: usize) -> Tensor<Flex, 1> {
        burns.clone() + burns.sub_scalar(0.9).div_scalar((count - 1) as f32)
    }

    #[test]
    fn matches_burns_batch_norm_in_training_and_inference() {
        matches_burns_batch_norm(batch_norm, batch_norm);
        matches_burns_batch_norm(super::composed, super::composed);
    }

    /// `norm` (training, rank 4) and `infer` (inference, rank 3) against Burn's `BatchNorm`.
    fn matches_burns_batch_norm(
        norm: fn(&BatchNorm<AD>, Tensor<AD, 4>) -> Tensor<AD, 4>,
        infer: fn(&BatchNorm<Flex>, Tensor<Flex, 3>) -> Tensor<Flex, 3>,
    ) {
        let device = Default::default();
        let ours = BatchNormConfig::new(6).init::<AD>(&device);
        // A copy with running statistics of its own (a plain clone would share them).
        let theirs = BatchNorm {
            running_mean: RunningState::new(ours.running_mean.value()),
            running_var: RunningState::new(ours.running_var.value()),
            ..ours.clone()
        };
        let x = Tensor::<AD, 4>::random([3, 6, 5, 7], Distribution::Normal(1.5, 2.0), &device)
            .require_grad();
        let w = Tensor::<AD, 4>::random([3, 6, 5, 7], Distribution::Default, &device);

        let y_ours = norm(&ours, x.clone());
        let y_theirs = theirs.forward(x.clone());
        assert!(max_diff(y_ours.clone().inner(), y_theirs.clone().inner()) < 1e-5);
        let g_ours = (y_ours * w.clone()).sum().backward();
        let g_theirs = (y_theirs * w).sum().backward();
        assert!(
            max_diff(x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap()) < 1e-4,
            "input gradients"
        );
        let (ga, gb) = (ours.gamma.grad(&g_ours).unwrap(), theirs.gamma.grad(&g_theirs).unwrap());
        assert!(max_diff(ga, gb) < 1e-4, "gamma gradients");
        // The running statistics moved, and alike.
        let stat = |s: &RunningState<Tensor<AD, 1>>| s.value_sync().inner();
        let moved = max_diff(stat(&ours.running_mean), Tensor::zeros([6], &device));
        assert!(moved > 0.05, "running mean updated ({moved})");
        assert!(max_diff(stat(&ours.running_mean), stat(&theirs.running_mean)) < 1e-5);
        let var = unbiased(stat(&theirs.running_var), 3 * 5 * 7);
        assert!(max_diff(stat(&ours.running_var), var) < 1e-5, "unbiased running variance");

        // Inference, on the running statistics (ours in both), for a rank-3 input.
        let ours = ours.valid();
        let theirs = BatchNorm {
            running_mean: RunningState::new(ours.running_mean.value()),
            running_var: RunningState::new(ours.running_var.value()),
            ..theirs.valid()
        };
        let x = Tensor::<Flex, 3>::random([2, 6, 9], Distribution::Normal(0.0, 3.0), &device);
        assert!(max_diff(infer(&ours, x.clone()), theirs.forward(x)) < 1e-5);
    }

    /// `relu(BN(x) + r)` as one op: its output is the kernels' (the fused path was taken) and,
    /// with every gradient (x, γ, β, r) and the running statistics, agrees with Burn's
    /// `BatchNorm`, add and ReLU; with and without balanced checkpointing, and in inference.
    fn with_residual_and_relu<C: CheckpointStrategy>() {
        type A<C> = Autodiff<Flex, C>;
        let device = Default::default();
        let ours = BatchNormConfig::new(5).init::<A<C>>(&device);
        let theirs = BatchNorm {
            running_mean: RunningState::new(ours.running_mean.value()),
            running_var: RunningState::new(ours.running_var.value()),
            ..ours.clone()
        };
        // γ and β away from 1 and 0, so that their gradients and the ReLU's cut both matter.
        let param = |v: [f32; 5]| Param::from_tensor(Tensor::<A<C>, 1>::from_floats(v, &device));
        let (gamma, beta) = ([1.5, 0.5, 2.0, 1.0, 0.8], [-0.3, 0.2, 0.0, -1.0, 0.5]);
        let ours = BatchNorm { gamma: param(gamma), beta: param(beta), ..ours };
        let theirs = BatchNorm { gamma: param(gamma), beta: param(beta), ..theirs };
        let x0 = Tensor::<Flex, 4>::random([3, 5, 6, 7], Distribution::Normal(0.5, 2.0), &device);
        let r0 = Tensor::<Flex, 4>::random([3, 5, 6, 7], Distribution::Default, &device);
        let weights = Tensor::<A<C>, 4>::from_inner(Tensor::random(
            [3, 5, 6, 7],
            Distribution::Default,
            &device,
        ));
        type Op<C> = dyn Fn(&BatchNorm<A<C>>, Tensor<A<C>, 4>, Tensor<A<C>, 4>) -> Tensor<A<C>, 4>;
        let run = |bn: &BatchNorm<A<C>>, f: &Op<C>| {
            let (x, r) = (
                Tensor::<A<C>, 4>::from_inner(x0.clone()).require_grad(),
                Tensor::<A<C>, 4>::from_inner(r0.clone()).require_grad(),
            );
            let z = f(bn, x.clone(), r.clone());
            let grads = (z.clone() * weights.clone()).sum().backward();
            let grad = |p: &Param<Tensor<A<C>, 1>>| p.grad(&grads).unwrap().unsqueeze::<4>();
            (
                z.inner(),
                [x.grad(&grads).unwrap(), r.grad(&grads).unwrap(), grad(&bn.gamma), grad(&bn.beta)],
            )
        };
        let (z, grads) = run(&ours, &|bn, x, r| crate::ops::batch_norm_relu(bn, x, Some(r)));
        let (want_z, want_grads) =
            run(&theirs, &|bn, x, r| burn::tensor::activation::relu(bn.forward(x) + r));
        let planes = kernels::Planes { n: 3, c: 5, l: 42 };
        let affine = kernels::Affine::of_batch(
            &planes,
            &x0.to_data().to_vec::<f32>().unwrap(),
            &gamma,
            &beta,
            ours.epsilon,
        );
        let kernel = kernels::forward(
            &planes,
            &affine,
            &x0.to_data().to_vec::<f32>().unwrap(),
            Some(&r0.to_data().to_vec::<f32>().unwrap()),
            true,
        );
        assert_eq!(z.to_data().to_vec::<f32>().unwrap(), kernel, "the fused op's output");
        assert!(kernel.iter().filter(|&&v| v == 0.0).count() > 20, "the ReLU cuts");
        assert!(max_diff(z, want_z) < 1e-5, "output");
        for (what, (g, want)) in
            ["x", "residual", "gamma", "beta"].into_iter().zip(grads.into_iter().zip(want_grads))
        {
            let d = max_diff(g, want.clone()) / want.abs().max().into_scalar();
            assert!(d < 1e-5, "{what} gradient: relative difference {d}");
        }
        let stat = |s: &RunningState<Tensor<A<C>, 1>>| s.value_sync().inner();
        assert!(max_diff(stat(&ours.running_mean), stat(&theirs.running_mean)) < 1e-6);
        let var = unbiased(stat(&theirs.running_var), 3 * 6 * 7);
        assert!(max_diff(stat(&ours.running_var), var) < 1e-5, "unbiased running variance");

        let ours = ours.valid();
        let theirs = BatchNorm {
            running_mean: RunningState::new(ours.running_mean.value()),
            running_var: RunningState::new(ours.running_var.value()),
            ..theirs.valid()
        };
        let z = crate::ops::batch_norm_relu(&ours, x0.clone(), Some(r0.clone()));
        assert!(
            max_diff(z, burn::tensor::activation::relu(theirs.forward(x0) + r0)) < 1e-5,
            "inference"
        );
    }

    #[test]
    fn with_residual_and_relu_matches_burns_ops() {
        with_residual_and_relu::<BalancedCheckpointing>();
        with_residual_and_relu::<NoCheckpointing>();
    }
}
