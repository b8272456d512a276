//! BatchNorm's forward, computed so the CPU backend takes its fast paths.
//!
//! Burn's own `BatchNorm::forward` combines `[N, C, …]` with `[1, C, 1…]` statistics: on the
//! flex backend that broadcast (stride 0 over N, then over the spatial dims) misses its SIMD
//! kernels and walks every element through a strided iterator, and the statistics are taken
//! over a transposed copy of the input. In ResNet-18 that was a third of a training step. Here
//! the input is viewed as `[N, C, L]`, the statistics are reduced along the contiguous last
//! axis, and every per-channel factor is repeated to `[N, C, 1]` first (N·C values), which the
//! backend broadcasts along L with its vectorised per-row kernel.
//!
//! Same module, same parameters and running statistics, same semantics as Burn's (batch
//! statistics and a running-average update when training on an autodiff backend, the running
//! statistics otherwise; biased variance in both, as Burn keeps it).

use std::cell::Cell;

use burn::nn::BatchNorm;
use burn::prelude::*;

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

/// `[N, C, …]` → same shape, normalised per channel.
pub fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    let (n, c) = (dims[0], dims[1]);
    let l: usize = dims[2..].iter().product();
    let x = x.reshape([n, c, l]);
    let per_row = |t: Tensor<B, 1>| t.reshape([1, c, 1]).repeat_dim(0, n);
    let y = if B::ad_enabled(&x.device()) {
        let mean = x.clone().mean_dim(2).mean_dim(0); // [1, C, 1]
        let centered = x - mean.clone().repeat_dim(0, n);
        let var = centered.clone().square().mean_dim(2).mean_dim(0);
        update_running(bn, mean.reshape([c]), var.clone().reshape([c]));
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

fn update_running<B: Backend>(bn: &BatchNorm<B>, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
    if FROZEN.with(Cell::get) {
        return;
    }
    let device = mean.device();
    let m = bn.momentum;
    let blend = |running: Tensor<B, 1>, batch: Tensor<B, 1>| running.to_device(&device).mul_scalar(1.0 - m) + batch.detach().mul_scalar(m);
    bn.running_mean.update(blend(bn.running_mean.value_sync(), mean).detach());
    bn.running_var.update(blend(bn.running_var.value_sync(), var).detach());
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::AutodiffModule;
    use burn::module::RunningState;
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    use super::batch_norm;

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
        assert_eq!(bn.running_mean.value_sync().into_data(), Tensor::<AD, 1>::zeros([4], &device).into_data());
        // Unfrozen again once the scope ends.
        let _ = batch_norm(&bn, x);
        assert!(bn.running_mean.value_sync().inner().min().into_scalar() > 0.1);
    }

    fn max_diff<const D: usize>(a: Tensor<Flex, D>, b: Tensor<Flex, D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn matches_burns_batch_norm_in_training_and_inference() {
        let device = Default::default();
        let ours = BatchNormConfig::new(6).init::<AD>(&device);
        // A copy with running statistics of its own (a plain clone would share them).
        let theirs = BatchNorm {
            running_mean: RunningState::new(ours.running_mean.value()),
            running_var: RunningState::new(ours.running_var.value()),
            ..ours.clone()
        };
        let x = Tensor::<AD, 4>::random([3, 6, 5, 7], Distribution::Normal(1.5, 2.0), &device).require_grad();
        let w = Tensor::<AD, 4>::random([3, 6, 5, 7], Distribution::Default, &device);

        let y_ours = batch_norm(&ours, x.clone());
        let y_theirs = theirs.forward(x.clone());
        assert!(max_diff(y_ours.clone().inner(), y_theirs.clone().inner()) < 1e-5);
        let g_ours = (y_ours * w.clone()).sum().backward();
        let g_theirs = (y_theirs * w).sum().backward();
        assert!(max_diff(x.grad(&g_ours).unwrap(), x.grad(&g_theirs).unwrap()) < 1e-4, "input gradients");
        let (ga, gb) = (ours.gamma.grad(&g_ours).unwrap(), theirs.gamma.grad(&g_theirs).unwrap());
        assert!(max_diff(ga, gb) < 1e-4, "gamma gradients");
        // The running statistics moved, and alike.
        let stat = |s: &RunningState<Tensor<AD, 1>>| s.value_sync().inner();
        let moved = max_diff(stat(&ours.running_mean), Tensor::zeros([6], &device));
        assert!(moved > 0.05, "running mean updated ({moved})");
        assert!(max_diff(stat(&ours.running_mean), stat(&theirs.running_mean)) < 1e-5);
        assert!(max_diff(stat(&ours.running_var), stat(&theirs.running_var)) < 1e-5);

        // Inference, on the running statistics, for a rank-3 input.
        let (ours, theirs) = (ours.valid(), theirs.valid());
        let x = Tensor::<Flex, 3>::random([2, 6, 9], Distribution::Normal(0.0, 3.0), &device);
        assert!(max_diff(batch_norm(&ours, x.clone()), theirs.forward(x)) < 1e-5);
    }
}
