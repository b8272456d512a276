//! `runner predict`: a trained experiment's model(s) on new videos — P(abnormal) (or, for a
//! regression head, the predicted EF and its distance outside the normal range), the label at
//! the tuned threshold, and which frames drove the decision.
//!
//! Videos go through the path training evaluated with: the project's AVI reader, every frame
//! resized as the clip cache resizes it, the experiment's evaluation clip sampling
//! (`data.clip.eval_sampling`, drawn from the same per-sample stream the training loop uses,
//! with sample index 0) and normalisation, and the fold's saved best weights, on the CPU
//! (or on the backend `--backend` names). A video of a run's test set therefore gets the probability that fold wrote in
//! its `metrics.json` (up to float rounding).
//!
//! Under `all_clips` sampling the video's output is the mean over all its clips (as in
//! training's evaluation); the frame contributions are those of its first clip.
//!
//! **Frame contributions** are measured by occlusion: for each clip frame, P(abnormal) is
//! computed again with that frame replaced by the clip's mean frame, and the contribution is
//! the drop, P − P(without it): positive where the frame pushed towards abnormal. Unlike
//! gradient × input, this uses the model exactly as it predicts; in Burn 0.21 a model on the
//! autodiff backend runs its BatchNorm layers on batch statistics and its dropout live, so its
//! gradients would be those of another function than the one that gave P. The cost is one
//! forward pass per clip frame (batched), which `--no-explain` skips.

use std::fs;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use super::plots::{FrameBars, PlotError, save, signed};
use super::view::{FoldFile, FoldState, RunView, ViewError};
use crate::atomic;
use crate::config::{self, Experiment, Overrides};
use crate::data::avi::AviFile;
use crate::data::clips::{ClipPlan, all_clip_plans, render_clip, sample_rng};
use crate::data::normalize::Measured;
use crate::data::{FrameSampling, NormalizeConfig};
use crate::model::Classifier;
use crate::ops::Backend;
use crate::train::objective::Objective;

/// The epoch index the training loop gives evaluation clips in `sample_rng`.
const EVAL_EPOCH: u64 = u32::MAX as u64;

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    View(#[from] ViewError),
    #[error("{0}")]
    NoModel(String),
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Video { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Which trained model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// The fold with the best validation score (`cv.select_by`), as the run's summary picks it.
    Best,
    /// Every finished fold, probabilities averaged (the summary's fold ensemble).
    Ensemble,
    Fold(usize),
}

/// A loaded experiment with the model(s) that predict, on backend `B`.
pub struct Predictor<B: Backend> {
    exp: Experiment,
    models: Vec<FoldModel<B>>,
    /// The tuned threshold on the score (P(abnormal), or EF points outside the normal range).
    pub threshold: f64,
    /// Which model this is, in words.
    pub description: String,
    objective: Objective,
    device: B::Device,
}

/// A fold's trained model and the normalisation its clips are rendered with.
struct FoldModel<B: Backend> {
    fold: usize,
    model: Classifier<B>,
    normalize: NormalizeConfig,
}

/// One video's prediction.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub video: String,
    pub path: PathBuf,
    /// The score: P(abnormal), or for a regression head the predicted EF's distance outside
    /// the normal range (EF points).
    pub prob: f64,
    /// The predicted EF (regression heads; the models' mean).
    pub ef: Option<f64>,
    pub threshold: f64,
    pub abnormal: bool,
    /// Frames in the video.
    pub frames: usize,
    /// The video frame behind each clip frame.
    pub clip_frames: Vec<usize>,
    /// Per clip frame: the score − the score with the frame replaced by the clip's mean frame.
    pub contributions: Option<Vec<f64>>,
}

impl Prediction {
    pub fn label(&self) -> &'static str {
        if self.abnormal { "abnormal" } else { "normal" }
    }
}

fn load_model<B: Backend>(
    exp: &Experiment,
    weights: &Path,
    device: &B::Device,
) -> Result<Classifier<B>, PredictError> {
    let (img, frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    let violations = exp.model.check_dims(img, frames);
    if !violations.is_empty() {
        let message = violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        return Err(PredictError::Model {
            path: weights.to_path_buf(),
            message: format!("the experiment's model is invalid: {message}"),
        });
    }
    let mut model = exp.model.init::<B>(img, frames, device);
    let mut store = SafetensorsStore::from_file(weights);
    let applied = model
        .load_from(&mut store)
        .map_err(|e| PredictError::Model { path: weights.to_path_buf(), message: e.to_string() })?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        let missing: Vec<&str> = applied.missing.iter().map(|(p, _)| p.as_str()).take(5).collect();
        return Err(PredictError::Model {
            path: weights.to_path_buf(),
            message: format!(
                "does not fit the experiment's model: missing {missing:?}, errors {:?}",
                applied.errors.iter().take(3).collect::<Vec<_>>()
            ),
        });
    }
    Ok(model)
}

impl<B: Backend> Predictor<B> {
    /// Loads the experiment of `dir` (its `config.resolved.toml`) and the chosen model's
    /// weights (`fold-<k>/best.safetensors`). The threshold is the fold's validation Youden
    /// threshold (the mean of them for the ensemble), or the objective's own (0.5, or 0 EF
    /// points outside the normal range) where there is none. The models go to `device`.
    pub fn load(
        dir: &Path,
        choice: ModelChoice,
        device: B::Device,
    ) -> Result<Predictor<B>, PredictError> {
        let view = RunView::open(dir)?;
        let resolved = dir.join(super::dir::RESOLVED);
        let loaded =
            config::load(&resolved, &Overrides::default()).map_err(|d| PredictError::Model {
                path: resolved.clone(),
                message: format!("cannot be loaded by this runner:\n{d}"),
            })?;
        let exp = loaded.experiment;
        let done = view.done();
        if done.is_empty() {
            return Err(PredictError::NoModel(format!(
                "{}: no finished fold, so no trained model to predict with (see `runner status`)",
                dir.display()
            )));
        }
        let (folds, description): (Vec<&FoldFile>, String) = match choice {
            ModelChoice::Best => {
                let best = view.best_fold().expect("a finished fold");
                (vec![best], format!("best fold {} (of {} finished)", best.fold, done.len()))
            }
            ModelChoice::Ensemble => (done.clone(), format!("ensemble of {} folds", done.len())),
            ModelChoice::Fold(k) => match view.folds.get(k) {
                Some(FoldState::Done(f)) => (vec![f.as_ref()], format!("fold {k}")),
                _ => {
                    return Err(PredictError::NoModel(format!(
                        "{}: fold {k} is not finished (finished: {:?})",
                        dir.display(),
                        done.iter().map(|f| f.fold).collect::<Vec<_>>()
                    )));
                }
            },
        };
        let objective = view.objective();
        let thresholds: Vec<f64> = folds.iter().filter_map(|f| f.youden_threshold).collect();
        let threshold = if thresholds.len() == folds.len() {
            thresholds.iter().sum::<f64>() / thresholds.len() as f64
        } else {
            objective.threshold()
        };
        let models = folds
            .iter()
            .map(|f| {
                let fold_dir = dir.join(format!("fold-{}", f.fold));
                // Measured on the fold's training videos, or the experiment's own.
                let normalize = if exp.data.normalize.from_videos > 0 {
                    Measured::read(&fold_dir).map_err(PredictError::NoModel)?.config()
                } else {
                    exp.data.normalize.clone()
                };
                let model = load_model(&exp, &fold_dir.join("best.safetensors"), &device)?;
                Ok(FoldModel { fold: f.fold, model, normalize })
            })
            .collect::<Result<_, PredictError>>()?;
        Ok(Predictor { exp, models, threshold, description, objective, device })
    }

    /// Overrides the tuned threshold.
    pub fn with_threshold(mut self, t: f64) -> Self {
        self.threshold = t;
        self
    }

    /// The model's output for each of a batch of clips `[n, T, 3, S, S]` (flat):
    /// P(abnormal), or the predicted EF.
    fn outputs(
        &self,
        model: &Classifier<B>,
        clips: Vec<f32>,
        n: usize,
    ) -> Result<Vec<f64>, PredictError> {
        let size = self.exp.data.resize as usize;
        let t = self.exp.data.clip.frames as usize;
        let x =
            Tensor::<B, 5>::from_data(TensorData::new(clips, [n, t, 3, size, size]), &self.device);
        // Through the precision training evaluated with.
        let out = {
            let _autocast = crate::ops::autocast(self.exp.train.precision.autocast());
            model.forward(x)
        };
        self.objective.outputs(out).map_err(|e| PredictError::NoModel(e.to_string()))
    }

    /// Predicts one video; `explain`: also the per-frame contributions.
    pub fn predict(&self, path: &Path, explain: bool) -> Result<Prediction, PredictError> {
        let bad = |message: String| PredictError::Video { path: path.to_path_buf(), message };
        let avi = AviFile::open(path).map_err(|e| bad(strip_path(&e.to_string(), path)))?;
        let size = self.exp.data.resize;
        let side = (size as usize).pow(2);
        let mut video = Vec::with_capacity(avi.frame_count() * side);
        for frame in avi.read_all_frames().map_err(|e| bad(strip_path(&e.to_string(), path)))? {
            video.extend_from_slice(frame.resize_square(size).pixels());
        }
        let n = video.len() / side.max(1);
        let data = &self.exp.data;
        let t = data.clip.frames as usize;
        let per_clip = t * 3 * side;
        let batch = self.exp.train.batch_size.max(1) as usize;
        let (mut output, mut contributions) = (0.0, vec![0.0; t]);
        let score = |o: f64| self.objective.score(o);
        let mut clip_frames = Vec::new();
        let render = |plan: &ClipPlan, norm: &NormalizeConfig, rng: &mut _| {
            let read = plan.read();
            let frames = &video[read.start * side..read.end * side];
            render_clip(plan, frames, size as usize, norm, None, rng)
                .map_err(|e| bad(e.to_string()))
        };
        for FoldModel { fold, model, normalize } in &self.models {
            let mut rng = sample_rng(self.exp.experiment.seed, *fold as u64, EVAL_EPOCH, 0);
            let plans = if data.clip.eval_sampling == FrameSampling::AllClips {
                all_clip_plans(n, &data.clip).map_err(|e| bad(e.to_string()))?
            } else {
                vec![
                    ClipPlan::new(n, &data.clip, data.clip.eval_sampling, &mut rng)
                        .map_err(|e| bad(e.to_string()))?,
                ]
            };
            let clip = render(&plans[0], normalize, &mut rng)?;
            clip_frames = plans[0].indices().to_vec();
            // The first clip's output, which the contributions explain.
            let p = self.outputs(model, clip.clone(), 1)?[0];
            // All clips: the mean over them, `batch` clips at a time.
            let mut sum = p;
            for group in plans[1..].chunks(batch) {
                let mut clips = Vec::with_capacity(group.len() * per_clip);
                for plan in group {
                    clips.extend(render(plan, normalize, &mut rng)?);
                }
                sum += self.outputs(model, clips, group.len())?.iter().sum::<f64>();
            }
            output += sum / plans.len() as f64 / self.models.len() as f64;
            if explain {
                let frame = 3 * side;
                let mut mean = vec![0.0f32; frame];
                for f in clip.chunks_exact(frame) {
                    mean.iter_mut().zip(f).for_each(|(m, v)| *m += v / t as f32);
                }
                let mut masked = Vec::with_capacity(t);
                for start in (0..t).step_by(batch) {
                    let end = (start + batch).min(t);
                    let mut clips = Vec::with_capacity((end - start) * per_clip);
                    for i in start..end {
                        let mut c = clip.clone();
                        c[i * frame..(i + 1) * frame].copy_from_slice(&mean);
                        clips.extend_from_slice(&c);
                    }
                    masked.extend(self.outputs(model, clips, end - start)?);
                }
                for (c, q) in contributions.iter_mut().zip(masked) {
                    *c += (score(p) - score(q)) / self.models.len() as f64;
                }
            }
        }
        Ok(Prediction {
            video: path
                .file_stem()
                .map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned()),
            path: path.to_path_buf(),
            prob: score(output),
            ef: self.objective.regresses().then_some(output),
            threshold: self.threshold,
            abnormal: score(output) >= self.threshold,
            frames: n,
            clip_frames,
            contributions: explain.then_some(contributions),
        })
    }

    /// The per-frame figure of a prediction, written as `<dir>/<video>.png` and `.svg`.
    pub fn plot(&self, p: &Prediction, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
        let Some(values) = &p.contributions else { return Ok(vec![]) };
        let (what, value) = match p.ef {
            Some(ef) => ("EF outside normal", format!("{:+.2} (EF {ef:.1})", p.prob)),
            None => ("P(abnormal)", format!("{:.3}", p.prob)),
        };
        let fig = FrameBars {
            title: format!(
                "{}: {what} {value} → {} (threshold {:.3})",
                p.video,
                p.label(),
                p.threshold
            ),
            subtitle: format!(
                "what each frame did: {what} minus {what} with that frame replaced by the clip's mean frame; {}",
                self.description
            ),
            values: values.clone(),
            video_frames: p.clip_frames.clone(),
            y_desc: format!("Δ {what}"),
        };
        save(&fig, &dir.join(&p.video))
    }
}

/// A reader error without the path it starts with (the caller names the video itself).
fn strip_path(message: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_owned()
}

/// The videos named: files as given, folders as their `*.avi` files (sorted; not recursive).
/// A name that is neither is an error of its own.
pub fn videos(args: &[PathBuf]) -> (Vec<PathBuf>, Vec<PredictError>) {
    let (mut found, mut errors) = (Vec::new(), Vec::new());
    for arg in args {
        if arg.is_dir() {
            match fs::read_dir(arg) {
                Ok(entries) => {
                    let mut avis: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.is_file()
                                && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("avi"))
                        })
                        .collect();
                    avis.sort();
                    if avis.is_empty() {
                        errors.push(PredictError::Video {
                            path: arg.clone(),
                            message: "no .avi files in this folder".into(),
                        });
                    }
                    found.extend(avis);
                }
                Err(e) => {
                    errors.push(PredictError::Io { path: arg.clone(), message: e.to_string() })
                }
            }
        } else if arg.is_file() {
            found.push(arg.clone());
        } else {
            errors.push(PredictError::Video {
                path: arg.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    (found, errors)
}

/// `▁▂▃▄▅▆▇█` by each value's magnitude relative to the largest.
pub fn sparkline(values: &[f64]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let peak = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    values
        .iter()
        .map(|v| {
            if peak > 0.0 {
                BLOCKS[((v.abs() / peak) * 7.0).round().clamp(0.0, 7.0) as usize]
            } else {
                BLOCKS[0]
            }
        })
        .collect()
}

/// One line for the terminal.
pub fn line(p: &Prediction) -> String {
    let score = match p.ef {
        Some(ef) => format!("EF {ef:.1}  outside normal {:+.2}", p.prob),
        None => format!("P(abnormal) {:.4}", p.prob),
    };
    let mut s = format!("{}  {score}  {} (threshold {:.3})", p.video, p.label(), p.threshold);
    if let Some(c) = &p.contributions {
        s.push_str(&format!("  frames {}", sparkline(c)));
        if let Some((i, v)) = c.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())) {
            let toward = if *v >= 0.0 { "abnormal" } else { "normal" };
            s.push_str(&format!(
                "  strongest: video frame {} ({}, towards {toward})",
                p.clip_frames.get(i).copied().unwrap_or(i),
                signed(*v, *v)
            ));
        }
    }
    s
}

/// The predictions as CSV, written atomically.
pub fn write_csv(path: &Path, predictions: &[Prediction], model: &str) -> Result<(), PredictError> {
    let io = |message: String| PredictError::Io { path: path.to_path_buf(), message };
    let mut w = csv::Writer::from_writer(Vec::new());
    // A regression head's score is the predicted EF's distance outside the normal range.
    let regresses = predictions.iter().any(|p| p.ef.is_some());
    let mut header = vec![
        "video",
        "path",
        if regresses { "ef_outside_normal" } else { "p_abnormal" },
        "threshold",
        "label",
        "model",
        "video_frames",
        "clip_frames",
        "frame_contributions",
    ];
    if regresses {
        header.push("predicted_ef");
    }
    w.write_record(&header).map_err(|e| io(e.to_string()))?;
    let join = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(" ");
    for p in predictions {
        let contributions = p
            .contributions
            .as_ref()
            .map_or(String::new(), |c| join(&mut c.iter().map(|v| format!("{v:.6}"))));
        let clip = join(&mut p.clip_frames.iter().map(ToString::to_string));
        let mut record = vec![
            p.video.clone(),
            p.path.display().to_string(),
            p.prob.to_string(),
            format!("{:.6}", p.threshold),
            p.label().into(),
            model.into(),
            p.frames.to_string(),
            clip,
            contributions,
        ];
        if regresses {
            record.push(p.ef.map_or(String::new(), |e| e.to_string()));
        }
        w.write_record(&record).map_err(|e| io(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| io(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
    }
    atomic::write_file(path, &bytes).map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{SynthConfig, generate};
    use burn::backend::Flex as Cpu;

    const EXPERIMENT: &str = r#"
[experiment]
name = "occlusion"
seed = 3

[data]
resize = 32

[data.source]
kind = "synthetic"

[data.clip]
frames = 6
period = 2
eval_sampling = "center_window"

[model]
kind = "swin_hybrid"
freeze = "none"

[model.backbone]
preset = "micro"

[model.temporal]
heads = 4

[train]
batch_size = 4
"#;

    /// P(abnormal) of one clip `[T, 3, S, S]` (flat), as a batch of one.
    fn prob_of(model: &Classifier<Cpu>, clip: &[f32], t: usize, size: usize) -> f64 {
        let device = Default::default();
        let x = Tensor::<Cpu, 5>::from_data(
            TensorData::new(clip.to_vec(), [1, t, 3, size, size]),
            &device,
        );
        let p = burn::tensor::activation::softmax(model.forward(x), 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        f64::from(p[1])
    }

    #[test]
    fn contributions_are_the_drops_of_a_hand_made_occlusion() {
        let dir = tempfile::tempdir().unwrap();
        let synth = SynthConfig {
            videos: 1,
            seed: 4,
            frame_size: 32,
            min_frames: 20,
            max_frames: 30,
            ..SynthConfig::default()
        };
        generate(&synth, &dir.path().join("data")).unwrap();
        let video =
            fs::read_dir(dir.path().join("data/Videos")).unwrap().next().unwrap().unwrap().path();
        let file = dir.path().join("e.toml");
        fs::write(&file, EXPERIMENT).unwrap();
        let exp = config::load(&file, &Overrides::default()).expect("experiment").experiment;
        let (size, t) = (exp.data.resize as usize, exp.data.clip.frames as usize);
        let device = Default::default();
        // Two differently drawn models: an ensemble of folds 0 and 2.
        let models: Vec<FoldModel<Cpu>> = [(0, 11), (2, 12)]
            .into_iter()
            .map(|(fold, seed)| {
                <Cpu as burn::tensor::backend::Backend>::seed(&device, seed);
                let model = exp.model.init::<Cpu>(size, t, &device);
                FoldModel { fold, model, normalize: exp.data.normalize.clone() }
            })
            .collect();
        let predictor = Predictor {
            exp: exp.clone(),
            models,
            threshold: 0.5,
            description: String::new(),
            objective: Objective::Classify,
            device,
        };
        let got = predictor.predict(&video, true).expect("a prediction");
        let contributions = got.contributions.clone().expect("contributions");
        assert_eq!(contributions.len(), t);

        // By hand: each fold's clip, each of its frames in turn replaced by the clip's mean
        // frame, each occluded clip through the model alone.
        let avi = AviFile::open(&video).unwrap();
        let frames: Vec<u8> = avi
            .read_all_frames()
            .unwrap()
            .iter()
            .flat_map(|f| f.resize_square(size as u32).pixels().to_vec())
            .collect();
        let n = frames.len() / (size * size);
        let plane = 3 * size * size;
        let (mut prob, mut want) = (0.0, vec![0.0; t]);
        for FoldModel { fold, model, .. } in &predictor.models {
            let mut rng = sample_rng(exp.experiment.seed, *fold as u64, EVAL_EPOCH, 0);
            let plan =
                ClipPlan::new(n, &exp.data.clip, exp.data.clip.eval_sampling, &mut rng).unwrap();
            let read = plan.read();
            let clip = render_clip(
                &plan,
                &frames[read.start * size * size..read.end * size * size],
                size,
                &exp.data.normalize,
                None,
                &mut rng,
            )
            .unwrap();
            let p = prob_of(model, &clip, t, size);
            prob += p / 2.0;
            let mean: Vec<f32> = (0..plane)
                .map(|j| (0..t).map(|i| clip[i * plane + j]).sum::<f32>() / t as f32)
                .collect();
            for (i, w) in want.iter_mut().enumerate() {
                let mut occluded = clip.clone();
                occluded[i * plane..(i + 1) * plane].copy_from_slice(&mean);
                *w += (p - prob_of(model, &occluded, t, size)) / 2.0;
            }
        }
        assert!((got.prob - prob).abs() < 1e-6, "P(abnormal) {} against {prob} by hand", got.prob);
        let largest = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        assert!(largest > 1e-4, "the hand-made occlusion moves P by {largest} only: no test");
        for (i, (c, w)) in contributions.iter().zip(&want).enumerate() {
            assert!(
                (c - w).abs() < 1e-6 + 1e-3 * w.abs(),
                "frame {i}: contribution {c}, by hand {w}"
            );
        }
    }

    #[test]
    fn sparkline_scales_by_magnitude() {
        assert_eq!(sparkline(&[0.0, 0.5, -1.0, 0.25]), "▁▅█▃");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
    }
}
