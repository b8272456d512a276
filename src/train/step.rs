//! One optimisation step's forward and backward, on one device or split across several of one
//! node or across threads of the CPU (data parallel). Each device takes a contiguous shard of
//! the batch and a replica of the model; a shard's loss is scaled by its share of the batch's
//! class weight, so the shards' gradients, summed on the first device, are the whole batch's
//! gradient. The optimizer then updates the one model on the first device, and the next step
//! forks it again.
//!
//! As in PyTorch's DistributedDataParallel without SyncBatchNorm, BatchNorm layers normalise
//! each shard with its own statistics, and the running statistics kept are the first shard's.
//! Each shard draws its dropout and drop-path masks from a stream of its own, so the step is
//! deterministic however the threads run.

use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::error::TrainError;
use super::objective::Objective;
use super::shards::{self, materialize};
use crate::data::labels::LabelRule;
use crate::model::{Classifier, random_streams};
use crate::ops::AutodiffBackend;
use crate::ops::{autocast, frozen_statistics};

/// The cross-entropy of a fold: `F.cross_entropy(weight=class_weights,
/// label_smoothing=label_smoothing)` (weights of ones for an unweighted loss).
pub fn cross_entropy(class_weights: [f32; 2], label_smoothing: f64) -> CrossEntropyLossConfig {
    let config = CrossEntropyLossConfig::new().with_weights(Some(class_weights.to_vec()));
    if label_smoothing > 0.0 { config.with_smoothing(Some(label_smoothing as f32)) } else { config }
}

/// The loss a step minimises.
#[derive(Clone)]
pub enum Criterion {
    /// On two logits, against the class index.
    CrossEntropy(CrossEntropyLossConfig),
    /// `F.mse_loss` of the one output against the EF (echonet/dynamic's loss), scored by a
    /// label rule.
    SquaredError(LabelRule),
}

/// A batch's targets, row for row: class indices, and the EFs a regression head learns
/// (empty for a classifier).
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    pub classes: &'a [usize],
    pub ef: &'a [f64],
}

impl<'a> Targets<'a> {
    pub fn classes(classes: &'a [usize]) -> Self {
        Self { classes, ef: &[] }
    }

    fn slice(self, range: std::ops::Range<usize>) -> Self {
        let ef = if self.ef.is_empty() { self.ef } else { &self.ef[range.clone()] };
        Self { classes: &self.classes[range], ef }
    }
}

enum DeviceLoss<B: Backend> {
    CrossEntropy(CrossEntropyLoss<B>),
    SquaredError,
}

/// What one step computed: the batch's loss, each clip's output (in batch order: P(abnormal),
/// or the predicted EF for a regression head) and the gradients on the first device.
pub struct StepOutput {
    pub loss: f64,
    pub outputs: Vec<f64>,
    pub grads: GradientsParams,
}

/// The devices a step runs on, each with the loss function placed there, and the dtype the
/// forward's products compute in.
pub struct DataParallel<B: AutodiffBackend> {
    devices: Vec<B::Device>,
    losses: Vec<DeviceLoss<B>>,
    /// Each class's weight in the loss (ones for the squared error).
    class_weights: Vec<f32>,
    objective: Objective,
    autocast: Option<FloatDType>,
}

impl<B: AutodiffBackend> DataParallel<B> {
    /// `criterion`: what every shard minimises (a cross-entropy's class weights set; all ones
    /// when none). `autocast`: see [`crate::ops::autocast`] (`None`: fp32).
    pub fn new(
        devices: Vec<B::Device>,
        criterion: &Criterion,
        autocast: Option<FloatDType>,
    ) -> Self {
        assert!(!devices.is_empty(), "at least one device");
        let (class_weights, objective, losses) = match criterion {
            Criterion::CrossEntropy(loss) => (
                loss.weights.clone().unwrap_or_else(|| vec![1.0, 1.0]),
                Objective::Classify,
                devices.iter().map(|d| DeviceLoss::CrossEntropy(loss.init(d))).collect(),
            ),
            Criterion::SquaredError(rule) => (
                vec![1.0, 1.0],
                Objective::RegressEf(rule.clone()),
                devices.iter().map(|_| DeviceLoss::SquaredError).collect(),
            ),
        };
        Self { devices, losses, class_weights, objective, autocast }
    }

    /// The device that holds the model the optimizer updates.
    pub fn main(&self) -> &B::Device {
        &self.devices[0]
    }

    /// All the devices, the main one first.
    pub fn devices(&self) -> &[B::Device] {
        &self.devices
    }

    /// Forward and backward of `model` (on the first device) on clips `x` `[N, T, 3, S, S]`
    /// (on the first device) with `targets`. `seed`: the batch's seed for the
    /// random layers' masks; shard `i` draws from `seed + i` (on one device, exactly `seed`).
    /// The gradients are those of the loss times `loss_scale` ([`super::loss_scale`]; 1 for
    /// none); the loss returned is not scaled.
    pub fn forward_backward(
        &self,
        model: &Classifier<B>,
        x: Tensor<B, 5>,
        targets: Targets,
        seed: u64,
        loss_scale: f64,
    ) -> Result<StepOutput, TrainError> {
        let n = targets.classes.len();
        let shards = shards::ranges(n, self.devices.len());
        if shards.len() == 1 {
            return self.shard(0, model, x, targets, (1.0, loss_scale), seed);
        }
        materialize(model);
        let weight =
            |ls: &[usize]| ls.iter().map(|&c| f64::from(self.class_weights[c])).sum::<f64>();
        let total = weight(targets.classes);
        let inputs = |i: usize| {
            let range = shards[i].clone();
            let xs = shards::slice(&x, range.clone(), &self.devices[i]);
            let ts = targets.slice(range);
            (xs, ts, (weight(ts.classes) / total, loss_scale), seed.wrapping_add(i as u64))
        };
        // The first shard runs on this thread, the others on threads of their own. BatchNorm's
        // running statistics are the first shard's: Burn's running state averages the updates
        // of all threads, in whatever order they come, so the others leave them alone.
        let others = (1..shards.len()).map(|i| {
            let replica = model.clone().fork(&self.devices[i]);
            let (xs, ls, scales, seed) = inputs(i);
            move || {
                let out = self.shard(i, &replica, xs, ls, scales, seed)?;
                // Gradients travel to the first device, keyed by the (shared) parameter ids.
                Ok(StepOutput { grads: out.grads.to_device(&self.devices[0], &replica), ..out })
            }
        });
        let first = || {
            let (xs, ls, scales, seed) = inputs(0);
            self.shard(0, model, xs, ls, scales, seed)
        };
        let outputs: Vec<Result<StepOutput, TrainError>> = shards::side_by_side(first, others);
        let mut accumulator = GradientsAccumulator::<Classifier<B>>::new();
        let (mut loss, mut values) = (0.0, Vec::with_capacity(n));
        for out in outputs {
            let out = out?;
            loss += out.loss;
            values.extend(out.outputs);
            accumulator.accumulate(model, out.grads);
        }
        Ok(StepOutput { loss, outputs: values, grads: accumulator.grads() })
    }

    /// One device's share: its loss is the shard's weighted mean times `share`, so that the
    /// shards' losses (and gradients) add up to the whole batch's; its gradients are those of
    /// the loss times `loss_scale`. Its masks come from `seed`; only the first shard updates
    /// BatchNorm's running statistics.
    fn shard(
        &self,
        i: usize,
        model: &Classifier<B>,
        x: Tensor<B, 5>,
        targets: Targets,
        (share, loss_scale): (f64, f64),
        seed: u64,
    ) -> Result<StepOutput, TrainError> {
        let device = &self.devices[i];
        let n = targets.classes.len();
        let out = {
            let (_autocast, _masks) = (autocast(self.autocast), random_streams(seed));
            let _frozen = (i > 0).then(frozen_statistics);
            model.forward(x)
        };
        let mut loss = match &self.losses[i] {
            DeviceLoss::CrossEntropy(ce) => {
                let y: Vec<i64> = targets.classes.iter().map(|&c| c as i64).collect();
                let y = Tensor::<B, 1, Int>::from_data(TensorData::new(y, [n]), device);
                ce.forward(out.clone(), y)
            }
            DeviceLoss::SquaredError => {
                let ef: Vec<f32> = targets.ef.iter().map(|&e| e as f32).collect();
                let y = Tensor::<B, 1>::from_data(TensorData::new(ef, [n]), device);
                (out.clone().reshape([n]) - y).powi_scalar(2).mean()
            }
        };
        if share != 1.0 {
            loss = loss.mul_scalar(share);
        }
        let value = loss.clone().into_scalar().elem::<f64>();
        if loss_scale != 1.0 {
            loss = loss.mul_scalar(loss_scale);
        }
        let outputs = self.objective.outputs(out.inner())?;
        let grads = GradientsParams::from_grads(loss.backward(), model);
        Ok(StepOutput { loss: value, outputs, grads })
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::module::{AutodiffModule, list_param_ids};
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::prelude::*;

    use super::{Criterion, DataParallel, Targets};
    use crate::model::{ModelConfig, build};
    use crate::train::shards;

    type AD = Autodiff<Flex>;

    /// A small phase-2 model with no random layers (no dropout, no stochastic depth) and no
    /// BatchNorm, so that a split batch must give the whole batch's loss and gradients.
    fn small_model(task: &str) -> crate::model::Classifier<AD> {
        let config: ModelConfig = serde_json::from_value(serde_json::json!({
            "kind": "swin_global", "freeze": "none", "pooling": "mean",
            "backbone": {"preset": "micro", "embed_dim": 8, "depths": [1, 1], "heads": [1, 2], "window": 4, "drop_path": 0.0},
            "temporal": {"layers": 1, "heads": 2, "ffn": 16, "dropout": 0.0},
            "head": {"hidden": 8, "dropout": 0.0, "task": task}
        }))
        .unwrap();
        let device = Default::default();
        <AD as Backend>::seed(&device, 3);
        build::<AD>(&config, 32, 4, &device).unwrap().0
    }

    /// One step of `criterion` on two "devices" (both the CPU: the same sharding, fork and
    /// gather as on GPUs) from a model no step has read yet, then on one device from the same
    /// model: the replicas must start from its weights and the shards add up to the batch.
    fn split_matches_whole(task: &str, criterion: &Criterion, targets: Targets) {
        let device = Default::default();
        let x = Tensor::<AD, 5>::random(
            [5, 4, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let model = small_model(task);
        let two = DataParallel::<AD>::new(vec![device, device], criterion, None)
            .forward_backward(&model, x.clone(), targets, 9, 1.0)
            .unwrap();
        let one = DataParallel::<AD>::new(vec![device], criterion, None)
            .forward_backward(&model, x, targets, 9, 1.0)
            .unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * (1.0 + a.abs());
        assert!(close(one.loss, two.loss), "loss {} vs {}", one.loss, two.loss);
        assert_eq!(one.outputs.len(), 5);
        for (a, b) in one.outputs.iter().zip(&two.outputs) {
            assert!(close(*a, *b), "output {a} vs {b}");
        }
        let ids = list_param_ids(&model);
        assert_eq!((one.grads.len(), two.grads.len()), (ids.len(), ids.len()));
        let mut largest = 0.0f32;
        for id in ids {
            let flat = |t: Option<Tensor<Flex, 1>>| {
                // Read whatever the rank: `into_data` keeps the primitive's own shape.
                t.map(|t| t.into_data().to_vec::<f32>().unwrap()).expect("a gradient")
            };
            let (a, b) = (flat(one.grads.get::<Flex, 1>(id)), flat(two.grads.get::<Flex, 1>(id)));
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                largest = largest.max((x - y).abs() / (1e-3 + x.abs()));
            }
        }
        assert!(largest < 1e-3, "largest relative gradient difference {largest}");
    }

    #[test]
    fn a_batch_split_over_devices_gives_the_whole_batch_loss_and_gradients() {
        let ce = CrossEntropyLossConfig::new().with_weights(Some(vec![0.7, 1.9]));
        let targets = Targets::classes(&[0, 1, 1, 0, 1]);
        split_matches_whole("classify", &Criterion::CrossEntropy(ce), targets);
    }

    #[test]
    fn a_regression_batch_split_over_devices_gives_the_whole_batch_squared_error() {
        let mse = Criterion::SquaredError(crate::data::labels::LabelRule::default());
        let classes = [0, 1, 1, 0, 1];
        let ef = [55.0, 31.5, 74.0, 62.0, 12.0];
        split_matches_whole("regress_ef", &mse, Targets { classes: &classes, ef: &ef });
    }

    #[test]
    fn shards_cover_the_batch_in_order_and_evenly() {
        assert_eq!(shards::ranges(8, 1), vec![0..8]);
        assert_eq!(shards::ranges(8, 3), vec![0..3, 3..6, 6..8]);
        assert_eq!(shards::ranges(2, 4), vec![0..1, 1..2]);
        assert_eq!(shards::ranges(0, 2), vec![0..0]);
    }

    /// Inference split over two threads gives the whole batch's logits, in batch order, from
    /// a model whose parameters no forward has read yet (each replica must not draw its own).
    #[test]
    fn inference_split_over_devices_gives_the_whole_batch_logits() {
        let device = Default::default();
        let x = Tensor::<Flex, 5>::random(
            [5, 4, 3, 32, 32],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let model = small_model("classify").valid();
        let two = shards::forward(&model, x.clone(), &[device, device], None);
        let one = shards::forward(&model, x, &[device], None);
        assert_eq!(two.dims(), [5, 2]);
        let d = (one.clone() - two).abs().max().into_scalar() / one.abs().max().into_scalar();
        assert!(d < 1e-5, "relative difference {d}");
    }
}
