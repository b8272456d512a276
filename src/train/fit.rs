//! The training loop: for each fold, train the model on the fold's sampled clips, validate
//! every epoch, keep the best epoch by the selection metric, and evaluate it on the held-out
//! test set; then the summary across folds (mean ± std, the fold ensemble, and the seed's
//! "best fold overall" protocol).
//!
//! Every random draw derives from the experiment seed: parameter initialisation and dropout
//! from a per-fold backend seed, the epoch's sample order from (seed, fold, epoch), each
//! clip's frames and augmentation from (seed, fold, epoch, position). A fold is done exactly
//! when `fold-<k>/DONE` exists; a rerun skips done folds. (Checkpoints within a fold, for
//! resuming one mid-way, are not written yet: an interrupted fold starts over.)

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer, SgdConfig, momentum::MomentumConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::grad_clipping::GradientClippingConfig;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::softmax;
use rayon::prelude::*;
use serde::Serialize;

use super::metrics::{Metrics, Summary, summarize, youden_threshold};
use super::sampler::{class_counts, epoch_order, loss_weights};
use super::split::{CvPlan, assign_splits, plan_cv};
use super::{OptimizerConfig, ScheduleConfig};
use crate::atomic;
use crate::config::Experiment;
use crate::data::cache::{CacheError, ClipCache, InMemoryClips};
use crate::data::clips::{ClipPlan, render_clip, sample_rng};
use crate::data::labels::{Class, LabelledVideo};
use crate::model::{Classifier, build};

type Inner = Flex;
type Train = Autodiff<Flex>;

/// Caches up to this size are decompressed into memory for the run.
const IN_MEMORY_BYTES: usize = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("model: {0}")]
    Model(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// The frames a run reads: decompressed in memory when they fit, else from the cache file.
enum Frames {
    Memory(InMemoryClips),
    Disk(ClipCache),
}

impl Frames {
    fn read(&self, name: &str, range: std::ops::Range<usize>) -> Result<Vec<u8>, TrainError> {
        match self {
            Frames::Memory(m) => m
                .range(name, range.start, range.end)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| TrainError::Plan(format!("{name}: frames {range:?} are not in the cache"))),
            Frames::Disk(c) => Ok(c.read_range(name, range.start, range.end)?),
        }
    }
}

/// One video the run uses.
struct Video {
    name: String,
    class: Class,
    frames: usize,
}

/// What one epoch did.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: u32,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val: Metrics,
}

/// A finished fold, as `fold-<k>/metrics.json` holds it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    pub best_epoch: u32,
    pub val: Metrics,
    /// Threshold maximising Youden's J on validation.
    pub youden_threshold: Option<f64>,
    pub test: Option<Metrics>,
    pub test_at_youden: Option<Metrics>,
    /// P(abnormal) of each test video, in `test_videos` order (for the ensemble).
    pub test_videos: Vec<String>,
    pub test_prob: Vec<f64>,
    pub history: serde_json::Value,
}

/// The run's `summary.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub folds: usize,
    /// Validation metrics of each fold's best epoch, mean ± std.
    pub validation: Summary,
    /// Each fold's best model on the test set, mean ± std.
    pub test: Summary,
    /// Mean probability of the folds' best models on the test set.
    pub ensemble_test: Option<Metrics>,
    /// The seed's protocol: the fold with the best validation score, on the test set.
    pub best_fold: usize,
    pub best_fold_test: Option<Metrics>,
}

/// Trains every fold (or only `only`) into `dir`; returns the summary once all folds are done.
pub fn fit(
    exp: &Experiment,
    labelled: &[LabelledVideo],
    cache: ClipCache,
    dir: &Path,
    only: Option<usize>,
    log: &mut dyn FnMut(&str),
) -> Result<Option<RunSummary>, TrainError> {
    // The labelled videos that made it into the cache (a skipped video is in neither list).
    let (videos, splits): (Vec<Video>, Vec<_>) = labelled
        .iter()
        .filter_map(|lv| {
            let name = &lv.video.row.file_name;
            let frames = cache.frames_of(name)?;
            Some((Video { name: name.clone(), class: lv.class, frames }, (lv.class, lv.video.row.split)))
        })
        .unzip();
    let splits = assign_splits(&splits, &exp.data.split).map_err(|e| TrainError::Plan(e.to_string()))?;
    let classes: Vec<Class> = videos.iter().map(|v| v.class).collect();
    let plan = plan_cv(&classes, &splits, &exp.cv).map_err(|e| TrainError::Plan(e.to_string()))?;
    let names: Vec<&str> = videos.iter().map(|v| v.name.as_str()).collect();
    let folds_json = serde_json::to_string_pretty(&plan.describe(&names, &classes)).expect("JSON") + "\n";
    let folds_path = dir.join("folds.json");
    atomic::write_file(&folds_path, folds_json.as_bytes()).map_err(io(&folds_path))?;

    let side = (exp.data.resize as usize).pow(2);
    let bytes: usize = cache.videos.iter().map(|v| v.frames * side).sum();
    let frames = if bytes <= IN_MEMORY_BYTES { Frames::Memory(cache.load_all()?) } else { Frames::Disk(cache) };

    let mut results = Vec::new();
    for k in 0..plan.folds.len() {
        if only.is_some_and(|o| o != k) {
            continue;
        }
        let fold_dir = dir.join(format!("fold-{k}"));
        let done = fold_dir.join("DONE");
        let result = if done.exists() {
            log(&format!("fold {k}: done earlier, skipped"));
            read_result(&fold_dir)?
        } else {
            let _ = fs::remove_dir_all(&fold_dir);
            fs::create_dir_all(&fold_dir).map_err(io(&fold_dir))?;
            let result = fit_fold(exp, &videos, &plan, k, &frames, &fold_dir, log)?;
            let path = fold_dir.join("metrics.json");
            let text = serde_json::to_string_pretty(&result).expect("JSON") + "\n";
            atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
            atomic::write_file(&done, b"").map_err(io(&done))?;
            result
        };
        results.push(result);
    }
    let all_done = (0..plan.folds.len()).all(|k| dir.join(format!("fold-{k}/DONE")).exists());
    if !all_done {
        return Ok(None);
    }
    if only.is_some() {
        results = (0..plan.folds.len()).map(|k| read_result(&dir.join(format!("fold-{k}")))).collect::<Result<_, _>>()?;
    }
    let summary = summarize_run(exp, &results, &plan, &classes);
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON") + "\n";
    atomic::write_file(&path, text.as_bytes()).map_err(io(&path))?;
    Ok(Some(summary))
}

fn read_result(fold_dir: &Path) -> Result<FoldResult, TrainError> {
    let path = fold_dir.join("metrics.json");
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Plan(format!("{}: {e}", path.display())))
}

fn fit_fold(
    exp: &Experiment,
    videos: &[Video],
    plan: &CvPlan,
    k: usize,
    frames: &Frames,
    fold_dir: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<FoldResult, TrainError> {
    let device = Default::default();
    <Train as Backend>::seed(&device, fold_seed(exp.experiment.seed, k));
    let (img, clip_frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    let (model, _) = build::<Train>(&exp.model, img, clip_frames, &device).map_err(|e| TrainError::Model(e.to_string()))?;
    let fold = &plan.folds[k];
    let train_classes: Vec<Class> = fold.train.iter().map(|&i| videos[i].class).collect();
    let weights = loss_weights(exp.loss.class_weights.as_ref(), class_counts(&train_classes))
        .map_err(|e| TrainError::Plan(e.to_string()))?;
    let mut ce = CrossEntropyLossConfig::new().with_weights(Some(weights.to_vec()));
    if exp.loss.label_smoothing > 0.0 {
        ce = ce.with_smoothing(Some(exp.loss.label_smoothing as f32));
    }
    let ce = ce.init::<Train>(&device);
    let clip = exp.train.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
    let ctx = FoldContext { exp, videos, plan, k, frames, fold_dir, device, train_classes, ce };
    match exp.train.optimizer {
        OptimizerConfig::Adamw { lr, beta1, beta2, eps, weight_decay } => {
            let optim = AdamWConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(eps as f32)
                .with_weight_decay(weight_decay as f32)
                .with_grad_clipping(clip)
                .init();
            ctx.epochs(model, optim, lr, log)
        }
        OptimizerConfig::Sgd { lr, momentum, weight_decay, nesterov } => {
            let momentum = (momentum > 0.0).then(|| MomentumConfig::new().with_momentum(momentum).with_nesterov(nesterov));
            let optim = SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)))
                .with_gradient_clipping(clip)
                .init();
            ctx.epochs(model, optim, lr, log)
        }
    }
}

/// Everything one fold's epochs need.
struct FoldContext<'a> {
    exp: &'a Experiment,
    videos: &'a [Video],
    plan: &'a CvPlan,
    k: usize,
    frames: &'a Frames,
    fold_dir: &'a Path,
    device: burn::tensor::Device<Train>,
    train_classes: Vec<Class>,
    ce: burn::nn::loss::CrossEntropyLoss<Train>,
}

impl FoldContext<'_> {
    fn epochs<O: Optimizer<Classifier<Train>, Train>>(
        self,
        mut model: Classifier<Train>,
        mut optim: O,
        base_lr: f64,
        log: &mut dyn FnMut(&str),
    ) -> Result<FoldResult, TrainError> {
    let FoldContext { exp, videos, plan, k, frames, fold_dir, device, train_classes, ce } = self;
    let seed = exp.experiment.seed;
    let fold = &plan.folds[k];
    let val_labels: Vec<Class> = fold.val.iter().map(|&i| videos[i].class).collect();
    let mut history = Vec::new();
    let mut best: Option<(f64, u32, Classifier<Inner>, Metrics, Vec<f64>)> = None;
    let batch = exp.train.batch_size as usize;
    for epoch in 0..exp.train.epochs {
        let started = Instant::now();
        let lr = learning_rate(exp, base_lr, epoch);
        let order = epoch_order(&exp.sampler, &train_classes, seed, k, epoch as usize).map_err(|e| TrainError::Plan(e.to_string()))?;
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        for (b, chunk) in order.chunks(batch).enumerate() {
            let members: Vec<usize> = chunk.iter().map(|&p| fold.train[p]).collect();
            let keys: Vec<u64> = (0..chunk.len()).map(|j| (b * batch + j) as u64).collect();
            let x = clips_tensor::<Train>(exp, videos, frames, &members, &keys, (k, epoch), true, &device)?;
            let y = labels_tensor::<Train>(videos, &members, &device);
            let logits = model.forward(x);
            let loss = ce.forward(logits.clone(), y.clone());
            let predicted = logits.argmax(1).squeeze_dim::<1>(1);
            correct += predicted.equal(y).int().sum().into_scalar().elem::<i64>() as usize;
            seen += chunk.len();
            loss_sum += loss.clone().into_scalar().elem::<f64>() * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        let valid = model.valid();
        let probs = predict(exp, videos, frames, &valid, &fold.val, k, &device)?;
        let val = Metrics::compute(&val_labels, &probs, 0.5).map_err(|e| TrainError::Plan(e.to_string()))?;
        let score = val.select(exp.cv.select_by).unwrap_or(f64::NEG_INFINITY);
        let record = EpochRecord {
            epoch,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val: val.clone(),
        };
        log(&format!(
            "fold {k} epoch {}/{}: lr {lr:.2e}, train loss {:.4}, acc {:.3}; val acc {:.3}, bal acc {:.3}, AUROC {} ({:.0} s)",
            epoch + 1,
            exp.train.epochs,
            record.train_loss,
            record.train_accuracy,
            val.accuracy,
            val.balanced_accuracy,
            val.auroc.map_or("n/a".into(), |a| format!("{a:.3}")),
            started.elapsed().as_secs_f64()
        ));
        history.push(record);
        if best.as_ref().is_none_or(|(s, ..)| score > *s) {
            best = Some((score, epoch, valid, val, probs));
        }
    }
    let Some((_, best_epoch, best_model, val, val_probs)) = best else {
        return Err(TrainError::Plan("no epoch ran".into()));
    };
    save_weights(&best_model, &fold_dir.join("best.safetensors"))?;
    let youden = youden_threshold(&val_labels, &val_probs);
    let test_labels: Vec<Class> = plan.test.iter().map(|&i| videos[i].class).collect();
    let test_prob = if plan.test.is_empty() { vec![] } else { predict(exp, videos, frames, &best_model, &plan.test, k, &device)? };
    let metrics_at = |t: f64| Metrics::compute(&test_labels, &test_prob, t).ok();
    Ok(FoldResult {
        fold: k,
        best_epoch,
        val,
        youden_threshold: youden,
        test: metrics_at(0.5),
        test_at_youden: youden.and_then(metrics_at),
        test_videos: plan.test.iter().map(|&i| videos[i].name.clone()).collect(),
        test_prob,
        history: serde_json::to_value(&history).expect("JSON"),
    })
    }
}

/// Writes a model's weights as safetensors (names and values only, so the same weights give
/// the same bytes), atomically.
fn save_weights<B: Backend>(model: &Classifier<B>, path: &Path) -> Result<(), TrainError> {
    let tmp = path.with_extension("safetensors.tmp");
    let _ = fs::remove_file(&tmp);
    // No metadata: Burn's default metadata is a hash map, written in a random order.
    let mut store = SafetensorsStore::from_file(&tmp).clear_metadata();
    model.save_into(&mut store).map_err(|e| TrainError::Model(format!("{}: {e}", path.display())))?;
    fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    atomic::sync_dir(path.parent().unwrap_or(Path::new("."))).map_err(io(path))
}

/// Seed of fold `k`'s backend stream (initialisation, dropout).
fn fold_seed(seed: u64, k: usize) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"echo-runner/fold/v1");
    h.update(&seed.to_le_bytes());
    h.update(&(k as u64).to_le_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The learning rate of an epoch: linear warm-up, then cosine annealing (PyTorch's
/// CosineAnnealingLR stepped per epoch) or constant.
fn learning_rate(exp: &Experiment, base: f64, epoch: u32) -> f64 {
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

/// A batch of clips `[B, T, 3, S, S]`, built in parallel; `train`: random windows and
/// augmentation, else the evaluation sampling.
#[allow(clippy::too_many_arguments)]
fn clips_tensor<B: Backend>(
    exp: &Experiment,
    videos: &[Video],
    frames: &Frames,
    members: &[usize],
    keys: &[u64],
    (fold, epoch): (usize, u32),
    train: bool,
    device: &B::Device,
) -> Result<Tensor<B, 5>, TrainError> {
    let data = &exp.data;
    let (sampling, aug) = if train {
        (data.clip.train_sampling, Some(&data.augment))
    } else {
        (data.clip.eval_sampling, None)
    };
    let size = data.resize as usize;
    let built: Vec<Vec<f32>> = members
        .par_iter()
        .zip(keys)
        .map(|(&i, &key)| {
            let v = &videos[i];
            let mut rng = sample_rng(exp.experiment.seed, fold as u64, u64::from(epoch), key);
            let plan = ClipPlan::new(v.frames, &data.clip, sampling, &mut rng).map_err(|e| TrainError::Plan(format!("{}: {e}", v.name)))?;
            let bytes = frames.read(&v.name, plan.read())?;
            render_clip(&plan, &bytes, size, &data.normalize, aug, &mut rng).map_err(|e| TrainError::Plan(format!("{}: {e}", v.name)))
        })
        .collect::<Result<_, _>>()?;
    let shape = [members.len(), data.clip.frames as usize, 3, size, size];
    Ok(Tensor::from_data(TensorData::new(built.concat(), shape), device))
}

fn labels_tensor<B: Backend>(videos: &[Video], members: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let labels: Vec<i64> = members.iter().map(|&i| videos[i].class.index() as i64).collect();
    Tensor::from_data(TensorData::new(labels, [members.len()]), device)
}

/// P(abnormal) of each listed video under the evaluation sampling.
fn predict<B: Backend>(
    exp: &Experiment,
    videos: &[Video],
    frames: &Frames,
    model: &Classifier<B>,
    members: &[usize],
    fold: usize,
    device: &B::Device,
) -> Result<Vec<f64>, TrainError> {
    let mut out = Vec::with_capacity(members.len());
    for chunk in members.chunks(exp.train.batch_size as usize) {
        let keys: Vec<u64> = chunk.iter().map(|&i| i as u64).collect();
        let x = clips_tensor::<B>(exp, videos, frames, chunk, &keys, (fold, u32::MAX), false, device)?;
        let probs = softmax(model.forward(x), 1).slice([0..chunk.len(), 1..2]);
        let values: Vec<f32> = probs.into_data().convert::<f32>().to_vec().map_err(|e| TrainError::Model(format!("{e:?}")))?;
        out.extend(values.into_iter().map(f64::from));
    }
    Ok(out)
}

fn summarize_run(exp: &Experiment, results: &[FoldResult], plan: &CvPlan, classes: &[Class]) -> RunSummary {
    let validation = summarize(&results.iter().map(|r| r.val.clone()).collect::<Vec<_>>());
    let test = summarize(&results.iter().filter_map(|r| r.test.clone()).collect::<Vec<_>>());
    let test_labels: Vec<Class> = plan.test.iter().map(|&i| classes[i]).collect();
    let ensemble_test = (!test_labels.is_empty() && !results.is_empty())
        .then(|| {
            let n = test_labels.len();
            let mean: Vec<f64> = (0..n).map(|i| results.iter().map(|r| r.test_prob[i]).sum::<f64>() / results.len() as f64).collect();
            Metrics::compute(&test_labels, &mean, 0.5).ok()
        })
        .flatten();
    let score = |r: &FoldResult| r.val.select(exp.cv.select_by).unwrap_or(f64::NEG_INFINITY);
    let best = results.iter().fold(None::<&FoldResult>, |b, r| match b {
        Some(b) if score(b) >= score(r) => Some(b),
        _ => Some(r),
    });
    RunSummary {
        folds: results.len(),
        validation,
        test,
        ensemble_test,
        best_fold: best.map_or(0, |b| b.fold),
        best_fold_test: best.and_then(|b| b.test.clone()),
    }
}
