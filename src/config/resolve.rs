//! Resolution (every default and preset made explicit) and the semantic checks that a schema
//! cannot express.

use crate::data::{DataSource, FrameSampling, SplitConfig};
use crate::model::{HeadTask, ModelConfig};
use crate::train::{ClipNorm, CvMode, Precision, ScheduleConfig};

use super::experiment::Experiment;
use super::schema::Violation;

/// Makes every value that depends on another explicit: Swin presets become dimensions, the
/// cosine period defaults to the epoch count, the temporal embedding to the clip length, f16
/// gets its loss scaling and gradient clipping its norm.
pub fn resolve(exp: &mut Experiment) {
    let frames = exp.data.clip.frames;
    match &mut exp.model {
        ModelConfig::CnnLstm(_) | ModelConfig::R2plus1d(_) => {}
        ModelConfig::SwinGlobal(m) => {
            m.backbone.resolve();
            m.temporal.positions.get_or_insert(frames);
        }
        ModelConfig::SwinHybrid(m) => {
            m.backbone.resolve();
            m.temporal.positions.get_or_insert(frames);
        }
    }
    if let ScheduleConfig::Cosine { t_max, .. } = &mut exp.train.schedule {
        t_max.get_or_insert(exp.train.epochs);
    }
    if exp.train.precision == Precision::F16 {
        exp.train.loss_scale.get_or_insert_with(Default::default);
    }
    if exp.train.grad_clip.is_some() {
        exp.train.grad_clip_norm.get_or_insert(ClipNorm::Global);
    }
}

/// A regression head learns the EF with a squared error: the cross-entropy's keys mean
/// nothing to it, and its predicted EF is classified by an EF rule.
fn regression_rules(exp: &Experiment) -> Vec<Violation> {
    let mut out = Vec::new();
    if exp.model.head().task != HeadTask::RegressEf {
        return out;
    }
    if exp.loss.class_weights.is_some() {
        out.push(Violation::value(
            "/loss/class_weights",
            "weights the cross-entropy; model.head.task = \"regress_ef\" trains on the EF's squared error (balance classes with the sampler instead)",
        ));
    }
    if exp.loss.label_smoothing > 0.0 {
        out.push(Violation::value(
            "/loss/label_smoothing",
            "smooths the cross-entropy's targets; model.head.task = \"regress_ef\" has none",
        ));
    }
    out
}

/// Rules across keys, on a resolved experiment.
pub fn check(exp: &Experiment) -> Vec<Violation> {
    let mut out = Vec::new();
    if let SplitConfig::Stratified { train, val, test, .. } = exp.data.split {
        let sum = train + val + test;
        if (sum - 1.0).abs() > 1e-6 {
            out.push(Violation::value(
                "/data/split",
                format!("train + val + test = {sum}, expected fractions that sum to 1"),
            ));
        }
        if train <= 0.0 {
            out.push(Violation::value(
                "/data/split/train",
                "0 leaves nothing to train on, expected > 0",
            ));
        }
        if exp.cv.mode == CvMode::Single && val <= 0.0 {
            out.push(Violation::value(
                "/data/split/val",
                "cv.mode = \"single\" selects on the validation split, expected val > 0",
            ));
        }
    }
    if let DataSource::Synthetic(synth) = &exp.data.source
        && let Err(message) = synth.validate()
    {
        out.push(Violation::value("/data/source", message));
    }
    if let Err(message) = exp.data.labels.validate() {
        out.push(Violation::value("/data/labels", message));
    }
    for (i, s) in exp.data.normalize.std.iter().enumerate() {
        if *s <= 0.0 {
            out.push(Violation::value(
                format!("/data/normalize/std/{i}"),
                format!("{s}, expected > 0"),
            ));
        }
    }
    // The model's own rules (dimensions, windows, heads, positions); its pretrained file is
    // checked where files are read, not here.
    let (img, frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    for v in exp.model.check_dims(img, frames) {
        out.push(Violation::value(v.pointer, v.message));
    }
    out.extend(regression_rules(exp));
    if exp.data.clip.train_sampling == FrameSampling::AllClips {
        out.push(Violation::value(
            "/data/clip/train_sampling",
            "\"all_clips\" is for evaluation (data.clip.eval_sampling); a training clip is one window: use \"random_window\"",
        ));
    }
    let warmup = match exp.train.schedule {
        ScheduleConfig::Cosine { warmup_epochs, .. }
        | ScheduleConfig::Constant { warmup_epochs }
        | ScheduleConfig::Step { warmup_epochs, .. } => warmup_epochs,
    };
    if warmup >= exp.train.epochs && warmup > 0 {
        out.push(Violation::value(
            "/train/schedule/warmup_epochs",
            format!(
                "{warmup}, expected fewer warm-up epochs than train.epochs = {}",
                exp.train.epochs
            ),
        ));
    }
    if exp.train.grad_clip_norm.is_some() && exp.train.grad_clip.is_none() {
        out.push(Violation::value(
            "/train/grad_clip_norm",
            "says which norm train.grad_clip bounds, and train.grad_clip is not set",
        ));
    }
    if exp.train.loss_scale.is_some() && exp.train.precision != Precision::F16 {
        out.push(Violation::value(
            "/train/loss_scale",
            format!("loss scaling is for train.precision = \"f16\", not \"{}\" (bf16 and fp32 need none)", exp.train.precision.name()),
        ));
    }
    out
}
