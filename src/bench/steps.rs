//! `runner bench steps`: the first training steps on a backend beside the same steps on the
//! CPU, to check that a GPU (or a lower precision) trains the same model: both start from the
//! same weights (built on the CPU, moved as a Burn record) and take AdamW steps on the same
//! batch, with every random layer off (dropout, stochastic depth), so that only arithmetic
//! differs. Prints one JSON line per model with both loss sequences, their largest relative
//! difference and, in f16, how many steps the loss scaling skipped (a skipped step repeats
//! the loss before it).

use burn::prelude::*;
use burn::record::Recorder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::{Value, json};

use super::models::{ModelBench, labels, trainer};
use crate::config::RuntimeConfig;
use crate::model::{ModelConfig, build};
use crate::ops::AutodiffBackend;
use crate::train::Precision;
use crate::train::checkpoint::RecordBytes;
use crate::train::compute::{self, ComputeError, OnBackend};

/// `opts.models` on `opts.runtime` / `opts.precision` against the CPU in fp32, `steps` steps
/// at learning rate `lr`; each model's line goes to `emit`.
pub fn steps(
    opts: &ModelBench,
    steps: usize,
    lr: f64,
    emit: &mut dyn FnMut(Value),
) -> Result<(), ComputeError> {
    compute::check(&opts.runtime)?;
    for &which in &opts.models {
        let config = deterministic(which.config(opts.swin));
        let work =
            Work { config: &config, opts, precision: Precision::Fp32, steps, lr, weights: None };
        let (cpu, weights, _) = compute::dispatch(&RuntimeConfig::default(), work)?;
        let work = Work {
            config: &config,
            opts,
            precision: opts.precision,
            steps,
            lr,
            weights: Some(weights),
        };
        let (other, _, skipped) = compute::dispatch(&opts.runtime, work)?;
        let max_rel = cpu
            .iter()
            .zip(&other)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-12))
            .fold(0.0, f64::max);
        emit(json!({
            "bench": "steps", "model": which.name(), "backend": format!("{:?}", opts.runtime.backend).to_lowercase(),
            "devices": opts.runtime.devices.len(), "precision": opts.precision.name(),
            "img": opts.img, "frames": opts.frames, "batch": opts.batch, "lr": lr,
            "cpu_losses": cpu, "losses": other, "max_rel_diff": max_rel, "skipped_steps": skipped,
        }));
    }
    Ok(())
}

/// The model with every random layer off, so two backends can take the same steps.
fn deterministic(mut config: ModelConfig) -> ModelConfig {
    match &mut config {
        ModelConfig::CnnLstm(m) => m.head.dropout = 0.0,
        ModelConfig::R2plus1d(m) => m.head.dropout = 0.0,
        ModelConfig::SwinGlobal(m) => {
            (m.backbone.drop_path, m.temporal.dropout, m.head.dropout) = (Some(0.0), 0.0, 0.0);
        }
        ModelConfig::SwinHybrid(m) => {
            (m.backbone.drop_path, m.temporal.dropout, m.head.dropout) = (Some(0.0), 0.0, 0.0);
        }
    }
    config
}

struct Work<'a> {
    config: &'a ModelConfig,
    opts: &'a ModelBench,
    precision: Precision,
    steps: usize,
    lr: f64,
    /// The starting weights; `None`: initialise them here (seed 0) and return them.
    weights: Option<Vec<u8>>,
}

impl OnBackend for Work<'_> {
    /// The losses, the starting weights as a record, and the steps f16's loss scaling skipped.
    type Output = (Vec<f64>, Vec<u8>, usize);

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, _: &'static str) -> Self::Output {
        let device = &devices[0];
        B::seed(device, 0);
        let (o, config) = (self.opts, self.config);
        let (mut model, _) =
            build::<B>(config, o.img, o.frames, device).expect("the bench models are valid");
        // Burn initialises parameters lazily, when first read: recording a clone draws its own
        // values, so the model is loaded from the record on both sides.
        let weights = match self.weights {
            Some(bytes) => bytes,
            None => RecordBytes::new().record(model.clone().into_record(), ()).expect("a record"),
        };
        model = model.load_record(
            RecordBytes::new().load(weights.clone(), device).expect("a record this build wrote"),
        );
        let mut trainer = trainer::<B>(devices.clone(), self.precision);
        let shape = [o.batch, o.frames, 3, o.img, o.img];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let values: Vec<f32> =
            (0..shape.iter().product()).map(|_| StandardNormal.sample(&mut rng)).collect();
        let x = Tensor::<B, 5>::from_data(TensorData::new(values, shape), device);
        let labels = labels(o.batch);
        let losses = (0..self.steps)
            .map(|_| {
                let (stepped, loss) = trainer.step(model.clone(), x.clone(), &labels, self.lr);
                model = stepped;
                loss
            })
            .collect();
        (losses, weights, trainer.skipped)
    }
}
