//! The learning rate per epoch and the seeds of the backend's random stream.

use super::ScheduleConfig;
use crate::config::Experiment;

/// The learning rate of an epoch: linear warm-up, then cosine annealing (PyTorch's
/// CosineAnnealingLR stepped per epoch) or constant.
pub fn learning_rate(exp: &Experiment, base: f64, epoch: u32) -> f64 {
    let (warmup, cosine) = match exp.train.schedule {
        ScheduleConfig::Cosine { t_max, eta_min, warmup_epochs } => (warmup_epochs, Some((t_max.unwrap_or(exp.train.epochs), eta_min))),
        ScheduleConfig::Constant { warmup_epochs } => (warmup_epochs, None),
    };
    if epoch < warmup {
        return base * f64::from(epoch + 1) / f64::from(warmup + 1);
    }
    match cosine {
        Some((t_max, eta_min)) => {
            let t = f64::from(epoch - warmup) / f64::from(t_max.max(1));
            eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
        }
        None => base,
    }
}

fn derive(domain: &[u8], parts: &[u64]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    for p in parts {
        h.update(&p.to_le_bytes());
    }
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Seed of fold `k`'s backend stream at initialisation.
pub fn fold_seed(seed: u64, k: usize) -> u64 {
    derive(b"echo-runner/fold/v1", &[seed, k as u64])
}

/// Seed of the backend stream (dropout, stochastic depth) for one training batch: reseeding
/// per batch makes a run resumed at any batch boundary draw what an uninterrupted one draws.
pub fn batch_seed(seed: u64, k: usize, epoch: u32, batch: usize) -> u64 {
    derive(b"echo-runner/batch/v1", &[seed, k as u64, u64::from(epoch), batch as u64])
}
