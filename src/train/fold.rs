//! One fold: train on the fold's sampled clips, validate every epoch, keep the best epoch by
//! the selection metric, checkpoint at every epoch end (and when asked to stop), and finally
//! evaluate the best model on the held-out test set.

use std::path::Path;
use std::time::Instant;

use burn::backend::Flex;
use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module};
use burn::optim::Optimizer;
use burn::record::Recorder;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use super::batches::{DrawKey, Frames, TrainBatch, Video, predict, train_batch};
use super::checkpoint::{self, Best, EpochRecord, EpochScaling, LoopState, RecordBytes};
use super::compute::{self, OnBackend};
use super::error::{TrainError, io};
use super::grads::optimizer_step;
use super::loss_scale::LossScale;
use super::metrics::{Metrics, youden_threshold};
use super::objective::Objective;
use super::progress::Progress;
use super::sampler::{class_counts, epoch_order, loss_weights};
use super::schedule::{batch_seed, fold_seed, learning_rate, normalize_seed};
use super::split::CvPlan;
use super::step::{Criterion, DataParallel, Targets, cross_entropy};
use super::stop::{StopFlag, StopReason};
use super::tracking::{Resume, Tracker};
use super::{ClipNorm, OptimizerConfig, Sections};
use super::{adamw, sgd};
use crate::atomic;
use crate::data::DataConfig;
use crate::data::labels::Class;
use crate::data::normalize::{self, Measured, Moments};
use crate::model::{Classifier, build};
use crate::ops::AutodiffBackend;

pub const BEST: &str = "best.safetensors";
pub const HISTORY: &str = "history.json";

/// A finished fold, as `fold-<k>/metrics.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    pub best_epoch: u32,
    pub val: Metrics,
    /// Threshold maximising Youden's J on validation.
    pub youden_threshold: Option<f64>,
    pub test: Option<Metrics>,
    pub test_at_youden: Option<Metrics>,
    /// Each test video's score, in `test_videos` order (for the ensemble), and its true class
    /// (for curves drawn from this file alone). The score is P(abnormal), or for a regression
    /// head the predicted EF's distance outside the normal range.
    pub test_videos: Vec<String>,
    pub test_labels: Vec<Class>,
    pub test_prob: Vec<f64>,
    /// Regression heads: each test video's predicted and true EF, in `test_videos` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_ef_pred: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_ef: Vec<f64>,
    pub history: Vec<EpochRecord>,
}

/// How a fold's training ended.
pub enum FoldEnd {
    Done(Box<FoldResult>),
    /// Stopped at a batch boundary; the checkpoint to resume from is written.
    Stopped(StopReason),
}

/// What a fold needs from the run around it.
pub struct FoldInputs<'a> {
    pub exp: &'a Sections<'a>,
    pub videos: &'a [Video],
    pub plan: &'a CvPlan,
    pub frames: &'a Frames,
    pub stop: &'a StopFlag,
}

/// Trains fold `k` in `fold_dir`, resuming from its newest usable checkpoint, on the backend
/// and devices of `runtime`.
pub fn fit_fold(
    inputs: &FoldInputs,
    k: usize,
    fold_dir: &Path,
    progress: &mut Progress,
    tracker: &mut dyn Tracker,
) -> Result<FoldEnd, TrainError> {
    let exp = inputs.exp;
    if exp.data.normalize.from_videos > 0 {
        let measured = measure_normalization(inputs, k)?;
        measured.write(fold_dir).map_err(io(&fold_dir.join(normalize::FILE)))?;
        let data = DataConfig { normalize: measured.config(), ..exp.data.clone() };
        let exp = Sections { data: &data, ..*exp };
        let inputs = FoldInputs { exp: &exp, ..*inputs };
        let job = FoldJob { inputs: &inputs, k, fold_dir, progress, tracker };
        return compute::dispatch(exp.runtime, job).map_err(|e| TrainError::Plan(e.to_string()))?;
    }
    let job = FoldJob { inputs, k, fold_dir, progress, tracker };
    compute::dispatch(exp.runtime, job).map_err(|e| TrainError::Plan(e.to_string()))?
}

/// The mean and standard deviation of every pixel of `from_videos` of fold `k`'s training
/// videos (seeded by the experiment and the fold), as echonet/dynamic normalises.
fn measure_normalization(inputs: &FoldInputs, k: usize) -> Result<Measured, TrainError> {
    let train = &inputs.plan.folds[k].train;
    let n = inputs.exp.data.normalize.from_videos as usize;
    let mut moments = Moments::default();
    let mut names = vec![];
    for i in normalize::pick(n, train.len(), normalize_seed(inputs.exp.seed, k)) {
        let video = &inputs.videos[train[i]];
        moments.add(&inputs.frames.read(&video.name, 0..video.frames)?);
        names.push(video.name.clone());
    }
    let stats = moments.mean_std().ok_or_else(|| {
        TrainError::Plan(format!(
            "/data/normalize/from_videos: fold {k}'s {} measured videos have no pixel variation \
             to normalise by",
            names.len()
        ))
    })?;
    Ok(Measured::new(names, stats))
}

struct FoldJob<'a, 'p> {
    inputs: &'a FoldInputs<'a>,
    k: usize,
    fold_dir: &'a Path,
    progress: &'p mut Progress,
    tracker: &'p mut dyn Tracker,
}

impl OnBackend for FoldJob<'_, '_> {
    type Output = Result<FoldEnd, TrainError>;

    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, _: &'static str) -> Self::Output {
        let (progress, tracker) = (self.progress, self.tracker);
        fit_fold_on::<B>(self.inputs, self.k, self.fold_dir, (progress, tracker), devices)
    }
}

fn fit_fold_on<B: AutodiffBackend>(
    inputs: &FoldInputs,
    k: usize,
    fold_dir: &Path,
    report: (&mut Progress, &mut dyn Tracker),
    devices: Vec<B::Device>,
) -> Result<FoldEnd, TrainError> {
    let exp = inputs.exp;
    let device = devices[0].clone();
    B::seed(&device, fold_seed(exp.seed, k));
    let train = &inputs.plan.folds[k].train;
    let train_classes: Vec<Class> = train.iter().map(|&i| inputs.videos[i].class).collect();
    let objective = Objective::new(exp.model.head().task, &exp.data.labels);
    let (criterion, output_bias) = match &objective {
        Objective::Classify => {
            let weights =
                loss_weights(exp.loss.class_weights.as_ref(), class_counts(&train_classes))
                    .map_err(|e| TrainError::Plan(e.to_string()))?;
            (Criterion::CrossEntropy(cross_entropy(weights, exp.loss.label_smoothing)), None)
        }
        Objective::RegressEf(rule) => {
            // echonet/dynamic starts the output at the training set's mean EF.
            let mean =
                train.iter().map(|&i| inputs.videos[i].ef).sum::<f64>() / train.len().max(1) as f64;
            (Criterion::SquaredError(rule.clone()), Some(mean as f32))
        }
    };
    let model = initial_model::<B>(exp, k, output_bias, &device)?;
    let fold = Fold {
        inputs,
        k,
        fold_dir,
        step: DataParallel::new(devices, &criterion, exp.train.precision.autocast()),
        objective,
        train_classes,
    };
    // Clipping by the global norm is the loop's (`grads::optimizer_step`); Burn's optimizers
    // clip each parameter's gradient by its own.
    let clip = match (exp.train.grad_clip, exp.train.grad_clip_norm) {
        (Some(c), Some(ClipNorm::PerParameter)) => Some(GradientClippingConfig::Norm(c as f32)),
        _ => None,
    };
    match exp.train.optimizer {
        OptimizerConfig::Adamw { lr, beta1, beta2, eps, weight_decay } => {
            let optim =
                adamw::init(beta1 as f32, beta2 as f32, eps as f32, weight_decay as f32, clip);
            fold.train(model, optim, lr, report)
        }
        OptimizerConfig::Sgd { lr, momentum, weight_decay, nesterov } => {
            let optim = sgd::init(momentum, weight_decay, nesterov, clip);
            fold.train(model, optim, lr, report)
        }
    }
}

struct Fold<'a, B: AutodiffBackend> {
    inputs: &'a FoldInputs<'a>,
    k: usize,
    fold_dir: &'a Path,
    train_classes: Vec<Class>,
    step: DataParallel<B>,
    objective: Objective,
}

fn note(progress: &mut Progress, log: &Path, line: &str) -> Result<(), TrainError> {
    progress.note(line).map_err(io(log))
}

impl<B: AutodiffBackend> Fold<'_, B> {
    fn model_err(e: impl std::fmt::Display) -> TrainError {
        TrainError::Model(e.to_string())
    }

    /// Writes a checkpoint of the loop at `state`.
    fn checkpoint<O: Optimizer<Classifier<B>, B>>(
        &self,
        state: &LoopState,
        model: &Classifier<B>,
        optim: &O,
    ) -> Result<(), TrainError> {
        let model_bytes =
            RecordBytes::new().record(model.clone().into_record(), ()).map_err(Self::model_err)?;
        let optim_bytes =
            RecordBytes::new().record(optim.to_record(), ()).map_err(Self::model_err)?;
        checkpoint::save(self.fold_dir, state, &model_bytes, &optim_bytes)?;
        Ok(())
    }

    fn train<O: Optimizer<Classifier<B>, B>>(
        self,
        mut model: Classifier<B>,
        mut optim: O,
        base_lr: f64,
        (progress, tracker): (&mut Progress, &mut dyn Tracker),
    ) -> Result<FoldEnd, TrainError> {
        let FoldInputs { exp, videos, plan, frames, stop } = *self.inputs;
        let (k, fold_dir, device) = (self.k, self.fold_dir, self.step.main());
        let log = fold_dir.join("../train.log");
        let seed = exp.seed;
        let fold = &plan.folds[k];
        let batch = exp.train.batch_size as usize;
        let epochs = exp.train.epochs;
        let val_labels: Vec<Class> = fold.val.iter().map(|&i| videos[i].class).collect();
        let val_ef: Vec<f64> = fold.val.iter().map(|&i| videos[i].ef).collect();
        let (objective, threshold) = (&self.objective, self.objective.threshold());

        let mut state = LoopState {
            loss_scale: exp.train.loss_scale.as_ref().map(LossScale::new),
            ..Default::default()
        };
        let mut warnings = vec![];
        let restored = checkpoint::latest(fold_dir, &mut |w| warnings.push(w));
        for w in warnings {
            note(progress, &log, &format!("fold-{k}: {w}"))?;
        }
        if let Some(r) = restored {
            let record = RecordBytes::new()
                .load(r.model, device)
                .map_err(|e| TrainError::Model(format!("{}: {e}", r.path.display())))?;
            model = model.load_record(record);
            let record = RecordBytes::new()
                .load(r.optimizer, device)
                .map_err(|e| TrainError::Model(format!("{}: {e}", r.path.display())))?;
            optim = optim.load_record(record);
            state = r.state;
            note(
                progress,
                &log,
                &format!(
                    "fold-{k}: resuming at epoch {} batch {} from {}",
                    state.epoch + 1,
                    state.batch,
                    r.path.display()
                ),
            )?;
        }
        // The position of the last checkpoint written or read: a stop there writes none.
        let mut saved = (state.epoch, state.batch);
        // Every epoch has as many batches: the sampler draws as many clips as there are
        // training videos.
        let steps_per_epoch = fold.train.len().div_ceil(batch) as u64;
        let at = Resume {
            epoch: state.epoch,
            step: u64::from(state.epoch) * steps_per_epoch + state.batch as u64,
        };
        tracker.fold_started(k, fold_dir, at)?;

        while state.epoch < epochs {
            let epoch = state.epoch;
            let started = Instant::now();
            let lr = learning_rate(&exp.train.schedule, epochs, base_lr, epoch);
            let order = epoch_order(exp.sampler, &self.train_classes, seed, k, epoch as usize)
                .map_err(|e| TrainError::Plan(e.to_string()))?;
            let batches: Vec<&[usize]> = order.chunks(batch).collect();
            progress
                .epoch_started(k, epoch as usize, epochs as usize, batches.len() as u64)
                .map_err(io(&log))?;
            while state.batch < batches.len() {
                if let Some(reason) = stop.should_stop() {
                    if saved != (state.epoch, state.batch) {
                        self.checkpoint(&state, &model, &optim)?;
                        tracker.checkpointed()?;
                    }
                    return Ok(FoldEnd::Stopped(reason));
                }
                let b = state.batch;
                let batch_started = Instant::now();
                let members: Vec<usize> = batches[b].iter().map(|&p| fold.train[p]).collect();
                let keys: Vec<u64> = (0..members.len()).map(|j| (b * batch + j) as u64).collect();
                let TrainBatch { clips: x, labels, ef } = train_batch::<B>(
                    exp,
                    videos,
                    frames,
                    &members,
                    &keys,
                    DrawKey { fold: k, epoch },
                    device,
                )?;
                let loss_scale = state.loss_scale.as_ref().map_or(1.0, |s| s.scale);
                let step = self.step.forward_backward(
                    &model,
                    x,
                    Targets { classes: &labels, ef: &ef },
                    batch_seed(seed, k, epoch, b),
                    loss_scale,
                )?;
                let loss_value = step.loss;
                let scores = step.outputs.iter().map(|&o| objective.score(o));
                if !loss_value.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch: epoch + 1,
                        batch: b,
                        loss: loss_value,
                    });
                }
                let clip = exp
                    .train
                    .grad_clip
                    .filter(|_| exp.train.grad_clip_norm == Some(ClipNorm::Global));
                let scaling = state.loss_scale.as_mut().zip(exp.train.loss_scale.as_ref());
                let stepped;
                (model, stepped) = optimizer_step(&mut optim, lr, model, step.grads, scaling, clip);
                if let Some(scaling) = &state.loss_scale {
                    if scaling.exhausted() {
                        return Err(TrainError::Overflowed {
                            epoch: epoch + 1,
                            batch: b,
                            scale: scaling.scale,
                        });
                    }
                    state.so_far.skipped_steps += u32::from(!stepped);
                }

                let so_far = &mut state.so_far;
                so_far.loss_sum += loss_value * members.len() as f64;
                so_far.labels.extend(members.iter().map(|&i| videos[i].class));
                so_far.probs.extend(scores);
                state.batch += 1;
                let step = u64::from(epoch) * steps_per_epoch + state.batch as u64;
                tracker.step(step, loss_value, lr)?;
                let seen = so_far.labels.len() as f64;
                let correct = so_far
                    .labels
                    .iter()
                    .zip(&so_far.probs)
                    .filter(|(c, p)| (**p >= threshold) == (**c == Class::Abnormal))
                    .count();
                let rate = members.len() as f64 / batch_started.elapsed().as_secs_f64().max(1e-9);
                progress
                    .batch(so_far.loss_sum / seen, correct as f64 / seen, rate)
                    .map_err(io(&log))?;
                super::crash::point("batch");
            }

            let valid = model.valid();
            let devices = self.step.devices();
            let outputs = predict(exp, videos, frames, &valid, objective, &fold.val, k, devices)?;
            let val = objective
                .metrics(&val_labels, &val_ef, &outputs, threshold)
                .map_err(|e| TrainError::Plan(e.to_string()))?;
            let so_far = std::mem::take(&mut state.so_far);
            let train = Metrics::compute(&so_far.labels, &so_far.probs, threshold)
                .map_err(|e| TrainError::Plan(e.to_string()))?;
            let loss_scale = state
                .loss_scale
                .as_ref()
                .map(|s| EpochScaling { scale: s.scale, skipped_steps: so_far.skipped_steps });
            let train_loss = so_far.loss_sum / so_far.labels.len().max(1) as f64;
            let record = EpochRecord { epoch, lr, train_loss, train, val, loss_scale };
            let score = record.val.select(exp.cv.select_by).unwrap_or(f64::NEG_INFINITY);
            if state.best.as_ref().is_none_or(|b| score > b.score) {
                let weights_blake3 = save_weights(&valid, &fold_dir.join(BEST))?;
                state.best = Some(Best {
                    epoch,
                    score,
                    val: record.val.clone(),
                    val_probs: outputs.iter().map(|&o| objective.score(o)).collect(),
                    weights_blake3,
                });
            }
            progress
                .epoch_finished(
                    k,
                    epoch as usize,
                    &epoch_line(&record, started.elapsed().as_secs_f64()),
                )
                .map_err(io(&log))?;
            state.history.push(record);
            let path = fold_dir.join(HISTORY);
            let text = serde_json::to_string_pretty(&state.history).expect("JSON") + "\n";
            atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
            tracker.epoch(state.history.last().expect("just pushed"))?;
            state.epoch += 1;
            state.batch = 0;
            self.checkpoint(&state, &model, &optim)?;
            tracker.checkpointed()?;
            saved = (state.epoch, state.batch);
            for line in tracker.notes() {
                note(progress, &log, &line)?;
            }
            super::crash::point("epoch");
        }
        self.finish(state).map(|r| FoldEnd::Done(Box::new(r)))
    }

    /// The best epoch's model on the test set, and the fold's result.
    fn finish(&self, state: LoopState) -> Result<FoldResult, TrainError> {
        let FoldInputs { exp, videos, plan, frames, .. } = *self.inputs;
        let (k, device) = (self.k, self.step.main());
        let best = state.best.ok_or_else(|| TrainError::Plan("no epoch ran".into()))?;
        let best_model = load_weights::<B::InnerBackend>(
            exp,
            &self.fold_dir.join(BEST),
            &best.weights_blake3,
            device,
        )?;
        let val_labels: Vec<Class> = plan.folds[k].val.iter().map(|&i| videos[i].class).collect();
        let youden = youden_threshold(&val_labels, &best.val_probs);
        let test_labels: Vec<Class> = plan.test.iter().map(|&i| videos[i].class).collect();
        let test_ef: Vec<f64> = plan.test.iter().map(|&i| videos[i].ef).collect();
        let objective = &self.objective;
        let devices = self.step.devices();
        let outputs = if plan.test.is_empty() {
            vec![]
        } else {
            predict(exp, videos, frames, &best_model, objective, &plan.test, k, devices)?
        };
        let metrics_at = |t: f64| objective.metrics(&test_labels, &test_ef, &outputs, t).ok();
        let regresses = objective.regresses();
        Ok(FoldResult {
            fold: k,
            best_epoch: best.epoch,
            val: best.val,
            youden_threshold: youden,
            test: metrics_at(objective.threshold()),
            test_at_youden: youden.and_then(metrics_at),
            test_videos: plan.test.iter().map(|&i| videos[i].name.clone()).collect(),
            test_labels,
            test_prob: outputs.iter().map(|&o| objective.score(o)).collect(),
            test_ef_pred: if regresses { outputs } else { vec![] },
            test_ef: if regresses { test_ef } else { vec![] },
            history: state.history,
        })
    }
}

fn epoch_line(r: &EpochRecord, seconds: f64) -> String {
    let auroc = r.val.auroc.map_or("n/a".into(), |a| format!("{a:.3}"));
    let scaling = r.loss_scale.as_ref().map_or(String::new(), |s| {
        format!(
            ", loss scale {} ({} step{} skipped)",
            s.scale,
            s.skipped_steps,
            if s.skipped_steps == 1 { "" } else { "s" }
        )
    });
    format!(
        "lr {:.2e}, train loss {:.4}, acc {:.3}{scaling}; val acc {:.3}, bal acc {:.3}, AUROC {auroc} ({seconds:.0} s)",
        r.lr, r.train_loss, r.train.accuracy, r.val.accuracy, r.val.balanced_accuracy
    )
}

/// Writes a model's weights as safetensors (names and values only, so the same weights give
/// the same bytes), atomically; returns the file's blake3.
fn save_weights<B: crate::ops::Backend>(
    model: &Classifier<B>,
    path: &Path,
) -> Result<String, TrainError> {
    // No metadata: Burn's default metadata is a hash map, written in a random order.
    let mut store = SafetensorsStore::from_bytes(None).clear_metadata();
    let model_err =
        |e: &dyn std::fmt::Display| TrainError::Model(format!("{}: {e}", path.display()));
    model.save_into(&mut store).map_err(|e| model_err(&e))?;
    let bytes = store.get_bytes().map_err(|e| model_err(&e))?;
    atomic::write_file(path, &bytes).map_err(io(path))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// The fold's starting weights on `device`, from the fold's seed (and `output_bias` set). On
/// the CPU they are drawn where the first step's forward pass first reads them, in that
/// order (Burn initialises a parameter when it is first read). Any other backend gets the
/// same values: drawn on the CPU in the same way, by one forward pass of a zero clip, then
/// moved there (a GPU's own generator would draw others).
fn initial_model<B: AutodiffBackend>(
    exp: &Sections,
    k: usize,
    output_bias: Option<f32>,
    device: &B::Device,
) -> Result<Classifier<B>, TrainError> {
    let (img, frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    let model_error = |e: &dyn std::fmt::Display| TrainError::Model(e.to_string());
    if B::DRAWS_AS_CPU {
        let (model, _) = build::<B>(exp.model, img, frames, device).map_err(|e| model_error(&e))?;
        return Ok(with_bias(model, output_bias));
    }
    let cpu = Default::default();
    <Flex as burn::tensor::backend::Backend>::seed(&cpu, fold_seed(exp.seed, k));
    let (drawn, _) = build::<Flex>(exp.model, img, frames, &cpu).map_err(|e| model_error(&e))?;
    let drawn = with_bias(drawn, output_bias);
    // Outside autodiff: no mask drawn, no running statistic updated, the same reads.
    let _ = drawn.forward(burn::tensor::Tensor::zeros([1, frames, 3, img, img], &cpu));
    let bytes = RecordBytes::new().record(drawn.into_record(), ()).map_err(|e| model_error(&e))?;
    let (model, _) = build::<B>(exp.model, img, frames, device).map_err(|e| model_error(&e))?;
    let record = RecordBytes::new().load(bytes, device).map_err(|e| model_error(&e))?;
    Ok(model.load_record(record))
}

fn with_bias<B: crate::ops::Backend>(model: Classifier<B>, bias: Option<f32>) -> Classifier<B> {
    match bias {
        Some(bias) => model.with_output_bias(bias),
        None => model,
    }
}

/// The best model back from its file, checked against the digest the loop recorded.
fn load_weights<B: crate::ops::Backend>(
    exp: &Sections,
    path: &Path,
    blake3_hex: &str,
    device: &B::Device,
) -> Result<Classifier<B>, TrainError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    if blake3::hash(&bytes).to_hex().as_str() != blake3_hex {
        return Err(TrainError::Plan(format!(
            "{}: these are not the weights of the best epoch the checkpoint records; rerun the fold with --force",
            path.display()
        )));
    }
    let (img, frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    let (mut model, _) =
        build::<B>(exp.model, img, frames, device).map_err(|e| TrainError::Model(e.to_string()))?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    model
        .load_from(&mut store)
        .map_err(|e| TrainError::Model(format!("{}: {e}", path.display())))?;
    Ok(model)
}
