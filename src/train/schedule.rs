//! The learning rate per epoch and the seeds of the backend's random stream.

use super::ScheduleConfig;

/// The learning rate of an epoch of `epochs`: linear warm-up, then cosine annealing
/// (PyTorch's CosineAnnealingLR stepped per epoch), step decay (StepLR) or constant.
pub fn learning_rate(schedule: &ScheduleConfig, epochs: u32, base: f64, epoch: u32) -> f64 {
    let warmup = match *schedule {
        ScheduleConfig::Cosine { warmup_epochs, .. }
        | ScheduleConfig::Constant { warmup_epochs }
        | ScheduleConfig::Step { warmup_epochs, .. } => warmup_epochs,
    };
    if epoch < warmup {
        return base * f64::from(epoch + 1) / f64::from(warmup + 1);
    }
    let after = epoch - warmup;
    match *schedule {
        ScheduleConfig::Cosine { t_max, eta_min, .. } => {
            let t = f64::from(after) / f64::from(t_max.unwrap_or(epochs).max(1));
            eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
        }
        ScheduleConfig::Step { step_size, gamma, .. } => {
            base * gamma.powi((after / step_size.max(1)) as i32)
        }
        ScheduleConfig::Constant { .. } => base,
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

/// Seed of the draw of fold `k`'s videos that normalisation is measured on.
pub fn normalize_seed(seed: u64, k: usize) -> u64 {
    derive(b"echo-runner/normalize/v1", &[seed, k as u64])
}

/// Seed of the backend stream (dropout, stochastic depth) for one training batch: reseeding
/// per batch makes a run resumed at any batch boundary draw what an uninterrupted one draws.
pub fn batch_seed(seed: u64, k: usize, epoch: u32, batch: usize) -> u64 {
    derive(b"echo-runner/batch/v1", &[seed, k as u64, u64::from(epoch), batch as u64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_runs_from_the_base_rate_to_eta_min_like_pytorch() {
        let cosine = ScheduleConfig::Cosine { t_max: None, eta_min: 1e-6, warmup_epochs: 0 };
        let lr = |e| learning_rate(&cosine, 20, 1e-4, e);
        assert_eq!(lr(0), 1e-4);
        // torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-6), epoch 5 and 10.
        assert!((lr(5) - 8.55017856687341e-05).abs() < 1e-15, "{}", lr(5));
        assert!((lr(10) - 5.05e-05).abs() < 1e-15, "{}", lr(10));
        assert!((lr(20) - 1e-6).abs() < 1e-18);
    }

    #[test]
    fn step_decay_multiplies_by_gamma_every_step_size_epochs_like_steplr() {
        // torch.optim.lr_scheduler.StepLR(opt, step_size=15, gamma=0.1), lr 1e-4, per epoch:
        // epochs 0–14 at 1e-4, 15–29 at 1e-5, 30–44 at 1e-6.
        let step = ScheduleConfig::Step { step_size: 15, gamma: 0.1, warmup_epochs: 0 };
        let lr = |e| learning_rate(&step, 45, 1e-4, e);
        for (epoch, want) in [(0, 1e-4), (14, 1e-4), (15, 1e-5), (29, 1e-5), (30, 1e-6), (44, 1e-6)]
        {
            assert!((lr(epoch) - want).abs() < 1e-18, "epoch {epoch}: {} vs {want}", lr(epoch));
        }
        let warm = ScheduleConfig::Step { step_size: 2, gamma: 0.5, warmup_epochs: 1 };
        let lrs: Vec<f64> = (0..6).map(|e| learning_rate(&warm, 6, 1.0, e)).collect();
        assert_eq!(lrs, [0.5, 1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn warm_up_climbs_linearly_then_the_schedule_starts() {
        let constant = ScheduleConfig::Constant { warmup_epochs: 3 };
        let lrs: Vec<f64> = (0..5).map(|e| learning_rate(&constant, 10, 1.0, e)).collect();
        assert_eq!(lrs, [0.25, 0.5, 0.75, 1.0, 1.0]);
        let cosine = ScheduleConfig::Cosine { t_max: Some(4), eta_min: 0.0, warmup_epochs: 1 };
        assert_eq!(learning_rate(&cosine, 10, 1.0, 1), 1.0);
        assert!((learning_rate(&cosine, 10, 1.0, 3) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn batch_seeds_differ_by_every_coordinate() {
        let base = batch_seed(1, 0, 0, 0);
        for other in [
            batch_seed(2, 0, 0, 0),
            batch_seed(1, 1, 0, 0),
            batch_seed(1, 0, 1, 0),
            batch_seed(1, 0, 0, 1),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(base, batch_seed(1, 0, 0, 0));
    }
}
