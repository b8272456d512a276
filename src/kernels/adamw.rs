//! AdamW's update of a parameter and its two moments as one multi-threaded pass, with the same
//! f32 operations in the same order as Burn's `AdaptiveMomentumW::transform` and `AdamW::step`
//! (so the same bits), which compose it of a dozen element-wise passes on one thread.

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

/// The optimizer's settings (`AdamWConfig`'s).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
}

/// One step's constants, each the f32 that Burn's scalar operation uses.
pub struct Step {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 − lr·λ`; `None` without weight decay (Burn skips the product then).
    keep: Option<f32>,
    lr: f32,
    /// The first step: the moments start from the gradient alone.
    first: bool,
}

impl Step {
    /// Step `time` (from 1) at learning rate `lr`; `first` where there are no moments yet.
    pub fn new(o: &Settings, lr: f64, time: usize, first: bool) -> Self {
        let decay = lr * f64::from(o.weight_decay);
        Step {
            beta_1: o.beta_1,
            beta_2: o.beta_2,
            factor_1: 1.0 - o.beta_1,
            factor_2: 1.0 - o.beta_2,
            correction_1: 1f32 - o.beta_1.powi(time as i32),
            correction_2: 1f32 - o.beta_2.powi(time as i32),
            epsilon: o.epsilon,
            keep: (decay != 0.0).then_some((1.0 - decay) as f32),
            lr: lr as f32,
            first,
        }
    }

    /// The parameter `p` and its moments `m`, `v` after the step for gradient `g`, in place,
    /// on all cores.
    pub fn update(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| self.apply(p, m, v, g));
    }

    /// Burn's `AdaptiveMomentumW::transform` and `AdamW::step`, element by element.
    fn apply(&self, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            (*m, *v) = if self.first {
                (g * self.factor_1, (g * g) * self.factor_2)
            } else {
                (*m * self.beta_1 + g * self.factor_1, *v * self.beta_2 + (g * g) * self.factor_2)
            };
            let delta = (*m / self.correction_1) / ((*v / self.correction_2).sqrt() + self.epsilon);
            let kept = self.keep.map_or(*p, |k| *p * k);
            *p = kept - delta * self.lr;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Settings, Step};
    use crate::kernels::checks::{assert_same_on_1_and_3_threads, wave};

    /// Element-wise: the same bits on one thread as on three, over several chunks.
    #[test]
    fn steps_do_not_depend_on_the_thread_count() {
        let settings = Settings { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, weight_decay: 0.05 };
        let n = 3 * super::CHUNK + 77;
        let (p, m, v, g) = (wave(n, 0.37), wave(n, 0.11), wave(n, 0.53), wave(n, 0.7));
        let v: Vec<f32> = v.iter().map(|x| x * x).collect();
        assert_same_on_1_and_3_threads(|| {
            let (mut p, mut m, mut v) = (p.clone(), m.clone(), v.clone());
            Step::new(&settings, 1e-3, 2, false).update(&mut p, &mut m, &mut v, &g);
            (p, m, v)
        });
    }
}
