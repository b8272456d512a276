//! `runner bench models`: a training step (forward, backward, AdamW) and an inference forward
//! of each phase's model on random clips, timed after a warm-up as the median of several
//! repetitions. Each model prints one JSON line in the shape of the PyTorch reference
//! (`src/bench/torch_reference.py`), so the two can be run side by side and compared as ratios.
//!
//! The models are the phases' own (`model::build`) with the reference's dimensions: ResNet-18
//! with LSTM(512) for phase 1, a Swin preset (Tiny by default) with 2 temporal layers (8 heads,
//! FFN 512) for phases 2–3, torchvision's R(2+1)D-18 for `r2plus1d` (no PyTorch reference
//! line), head 512; every parameter trains. The step is the training loop's
//! own (`train::step::DataParallel`), on the backend and devices the options name.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::Optimizer;
use burn::prelude::*;
use serde_json::{Value, json};

use crate::config::RuntimeConfig;
use crate::model::{Classifier, ModelConfig, SwinPreset};
use crate::model::{build, count_params, summary};
use crate::ops::AutodiffBackend;
use crate::train::Precision;
use crate::train::adamw;
use crate::train::compute::{self, ComputeError, OnBackend};
use crate::train::grads::optimizer_step;
use crate::train::loss_scale::{LossScale, LossScaleConfig};
use crate::train::shards;
use crate::train::step::{Criterion, DataParallel, Targets};

/// The three phases, by the names the PyTorch reference uses, and R(2+1)D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum BenchModel {
    CnnLstm,
    SwinGlobal,
    SwinHybrid,
    R2plus1d,
}

impl BenchModel {
    pub fn name(self) -> &'static str {
        match self {
            BenchModel::CnnLstm => "cnn_lstm",
            BenchModel::SwinGlobal => "swin_global",
            BenchModel::SwinHybrid => "swin_hybrid",
            BenchModel::R2plus1d => "r2plus1d",
        }
    }

    /// The phase's model with the reference's dimensions, all parameters trainable.
    pub fn config(self, swin: SwinPreset) -> ModelConfig {
        let temporal = json!({"layers": 2, "heads": 8, "ffn": 512, "dropout": 0.1});
        let head = json!({"hidden": 512, "dropout": 0.4});
        let value = match self {
            BenchModel::CnnLstm => {
                json!({"kind": "cnn_lstm", "freeze": "none", "backbone": {"depth": "18"},
                                          "lstm": {"hidden": 512, "layers": 1}, "head": head})
            }
            BenchModel::R2plus1d => json!({"kind": "r2plus1d", "freeze": "none", "head": head}),
            BenchModel::SwinGlobal | BenchModel::SwinHybrid => {
                json!({"kind": self.name(), "freeze": "none", "pooling": "mean", "backbone": {"preset": swin},
                        "temporal": temporal, "head": head})
            }
        };
        let mut config: ModelConfig = serde_json::from_value(value).expect("a valid model section");
        match &mut config {
            ModelConfig::SwinGlobal(m) => m.backbone.resolve(),
            ModelConfig::SwinHybrid(m) => m.backbone.resolve(),
            ModelConfig::CnnLstm(_) | ModelConfig::R2plus1d(_) => {}
        }
        config
    }
}

#[derive(Debug, Clone)]
pub struct ModelBench {
    pub models: Vec<BenchModel>,
    pub swin: SwinPreset,
    pub img: usize,
    pub frames: usize,
    pub batch: usize,
    /// Timed repetitions after one warm-up; the median is reported.
    pub reps: usize,
    pub runtime: RuntimeConfig,
    pub precision: Precision,
}

/// Runs the benchmark, handing each model's line to `emit` as soon as it is measured.
pub fn models(opts: &ModelBench, emit: &mut dyn FnMut(Value)) -> Result<(), ComputeError> {
    compute::dispatch(&opts.runtime, Job { opts, emit })
}

struct Job<'a> {
    opts: &'a ModelBench,
    emit: &'a mut dyn FnMut(Value),
}

impl OnBackend for Job<'_> {
    type Output = ();

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, backend: &'static str) {
        for &model in &self.opts.models {
            (self.emit)(measure::<B>(self.opts, model, &devices, backend));
        }
    }
}

/// The training loop's step on `devices`, an AdamW as the reference's (PyTorch's ε and
/// weight decay) and, in f16, the loop's loss scaling at PyTorch's defaults.
pub(super) struct Trainer<B: AutodiffBackend, O> {
    step: DataParallel<B>,
    optim: O,
    scaling: Option<LossScale>,
    /// f16: steps skipped so far because their gradients overflowed.
    pub(super) skipped: usize,
}

pub(super) fn trainer<B: AutodiffBackend>(
    devices: Vec<B::Device>,
    precision: Precision,
) -> Trainer<B, impl Optimizer<Classifier<B>, B>> {
    Trainer {
        step: DataParallel::new(
            devices,
            &Criterion::CrossEntropy(CrossEntropyLossConfig::new()),
            precision.autocast(),
        ),
        optim: adamw::init(0.9, 0.999, 1e-8, 0.01, None),
        scaling: (precision == Precision::F16).then(|| LossScale::new(&LossScaleConfig::default())),
        skipped: 0,
    }
}

impl<B: AutodiffBackend, O: Optimizer<Classifier<B>, B>> Trainer<B, O> {
    /// One training step at learning rate `lr` on clips `x` of classes `labels`: the model
    /// after it, and the batch's loss.
    pub(super) fn step(
        &mut self,
        model: Classifier<B>,
        x: Tensor<B, 5>,
        labels: &[usize],
        lr: f64,
    ) -> (Classifier<B>, f64) {
        let loss_scale = self.scaling.as_ref().map_or(1.0, |s| s.scale);
        let out = self
            .step
            .forward_backward(&model, x, Targets::classes(labels), 0, loss_scale)
            .expect("a bench step");
        let config = LossScaleConfig::default();
        let scaling = self.scaling.as_mut().map(|s| (s, &config));
        let (model, stepped) = optimizer_step(&mut self.optim, lr, model, out.grads, scaling, None);
        self.skipped += usize::from(!stepped);
        (model, out.loss)
    }
}

/// A bench batch's class indices: alternating, both classes in every batch of two or more.
pub(super) fn labels(batch: usize) -> Vec<usize> {
    (0..batch).map(|i| i % 2).collect()
}

fn measure<B: AutodiffBackend>(
    opts: &ModelBench,
    which: BenchModel,
    devices: &[B::Device],
    backend: &str,
) -> Value {
    let config = which.config(opts.swin);
    let device = &devices[0];
    B::seed(device, 0);
    reset_peak_rss();
    let (mut model, _) =
        build::<B>(&config, opts.img, opts.frames, device).expect("the bench models are valid");
    let params = count_params(&model);
    let mut trainer = trainer::<B>(devices.to_vec(), opts.precision);
    let shape = [opts.batch, opts.frames, 3, opts.img, opts.img];
    let x = Tensor::<B, 5>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), device);
    let labels = labels(opts.batch);

    let mut train = || {
        model = trainer.step(model.clone(), x.clone(), &labels, 1e-4).0;
        B::sync(device).expect("the device finishes the step");
    };
    let train_s = median_seconds(opts.reps, &mut train);
    let valid = model.valid();
    let x = x.inner();
    let mut infer = || {
        std::hint::black_box(
            shards::forward(&valid, x.clone(), devices, opts.precision.autocast()).into_data(),
        );
    };
    let infer_s = median_seconds(opts.reps, &mut infer);

    let gflops = summary(&config, opts.img, opts.frames).map_or(f64::NAN, |s| s.gflops_per_clip);
    let train_clips = opts.batch as f64 / train_s;
    json!({
        "framework": format!("burn 0.21.0, {backend}, {}", opts.precision.name()),
        "model": which.name(),
        "params": params,
        "img": opts.img, "frames": opts.frames, "batch": opts.batch,
        "threads": rayon::current_num_threads(),
        "devices": devices.len(),
        "train_clips_per_s": train_clips,
        "infer_clips_per_s": opts.batch as f64 / infer_s,
        // Forward + backward ≈ 3 × the forward's FLOPs (the analytic count of `validate --print-model`).
        "train_tflops_per_s": 3.0 * gflops * train_clips / 1e3,
        "peak_rss_mib": peak_rss_mib(),
    })
}

/// Median wall time of `reps` calls (at least one), after one untimed warm-up call.
fn median_seconds(reps: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    let times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// The middle value, or the mean of the two middle values of an even count.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// Resets the process's peak resident set size (Linux: `clear_refs` 5), so each model's peak is
/// its own; elsewhere the peak stays the process's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size in MiB (Linux `VmHWM`), or null where it cannot be read.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.0]), 7.0);
    }

    #[test]
    fn one_untimed_warm_up_then_the_timed_calls() {
        let mut calls = 0;
        let mut f = || calls += 1;
        median_seconds(4, &mut f);
        assert_eq!(calls, 5, "one warm-up and four timed calls");
    }

    #[test]
    fn bench_models_have_the_reference_parameter_counts() {
        // torch_anchor.py's counts at 112 px, 16 frames (timm's swin_tiny and resnet18).
        let params =
            |m: BenchModel| summary(&m.config(SwinPreset::Tiny), 112, 16).unwrap().total_params;
        assert_eq!(params(BenchModel::SwinGlobal), 34_228_476);
        assert_eq!(params(BenchModel::SwinHybrid), 34_237_692);
        // The seed's phase-1 head has a 512-wide hidden layer; the reference's is one Linear(512, 2).
        assert_eq!(params(BenchModel::CnnLstm), 13_278_786 + 512 * 512 + 512);
        // torchvision's r2plus1d_18 with this head (make_r2plus1d_fixture.py).
        assert_eq!(params(BenchModel::R2plus1d), 31_563_807);
    }

    #[test]
    fn peak_memory_is_read_after_a_reset() {
        reset_peak_rss();
        let mib = peak_rss_mib().expect("Linux reports VmHWM");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_rss_mib().unwrap();
        assert!(after >= mib + 60.0, "a 64 MiB allocation raises the peak: {mib} → {after}");
    }
}
