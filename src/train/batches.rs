//! From cached frames to tensors: the training batches (random windows, augmentation) and
//! the evaluation passes (P(abnormal) per video).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use rayon::prelude::*;

use super::Sections;
use super::error::TrainError;
use super::shards;
use crate::data::cache::{ClipCache, InMemoryClips};
use crate::data::clips::{ClipPlan, render_clip, sample_rng};
use crate::data::labels::Class;
use crate::model::Classifier;

/// The frames a run reads: decompressed in memory when they fit, else from the cache file.
pub enum Frames {
    Memory(InMemoryClips),
    Disk(ClipCache),
}

impl Frames {
    fn read(&self, name: &str, range: std::ops::Range<usize>) -> Result<Vec<u8>, TrainError> {
        match self {
            Frames::Memory(m) => {
                m.range(name, range.start, range.end).map(<[u8]>::to_vec).ok_or_else(|| {
                    TrainError::Plan(format!("{name}: frames {range:?} are not in the cache"))
                })
            }
            Frames::Disk(c) => Ok(c.read_range(name, range.start, range.end)?),
        }
    }
}

/// One video the run uses.
pub struct Video {
    pub name: String,
    pub class: Class,
    pub frames: usize,
}

/// Where a clip's random draws come from: (fold, epoch) and the clip's key in it (its
/// position in the epoch for training, the video's index for evaluation).
#[derive(Clone, Copy)]
pub struct DrawKey {
    pub fold: usize,
    pub epoch: u32,
}

/// The epoch number evaluation clips are drawn under (their sampling is deterministic
/// unless configured otherwise, and then the same for every epoch).
pub const EVAL_EPOCH: u32 = u32::MAX;

/// A batch of clips `[B, T, 3, S, S]`, built in parallel; `train`: random windows and
/// augmentation, else the evaluation sampling.
#[allow(clippy::too_many_arguments)]
pub fn clips_tensor<B: Backend>(
    exp: &Sections,
    videos: &[Video],
    frames: &Frames,
    members: &[usize],
    keys: &[u64],
    at: DrawKey,
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
            let mut rng = sample_rng(exp.seed, at.fold as u64, u64::from(at.epoch), key);
            let plan = ClipPlan::new(v.frames, &data.clip, sampling, &mut rng)
                .map_err(|e| TrainError::Plan(format!("{}: {e}", v.name)))?;
            let bytes = frames.read(&v.name, plan.read())?;
            render_clip(&plan, &bytes, size, &data.normalize, aug, &mut rng)
                .map_err(|e| TrainError::Plan(format!("{}: {e}", v.name)))
        })
        .collect::<Result<_, _>>()?;
    let shape = [members.len(), data.clip.frames as usize, 3, size, size];
    Ok(Tensor::from_data(TensorData::new(built.concat(), shape), device))
}

/// P(abnormal) per row of logits `[B, 2]`.
pub fn abnormal_probs<B: Backend>(logits: Tensor<B, 2>) -> Result<Vec<f64>, TrainError> {
    let rows = logits.dims()[0];
    let probs = softmax(logits, 1).slice([0..rows, 1..2]);
    let values: Vec<f32> = probs
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| TrainError::Model(format!("{e:?}")))?;
    Ok(values.into_iter().map(f64::from).collect())
}

/// P(abnormal) of each listed video under the evaluation sampling, each batch split over
/// `devices` as in training.
pub fn predict<B: crate::ops::Backend>(
    exp: &Sections,
    videos: &[Video],
    frames: &Frames,
    model: &Classifier<B>,
    members: &[usize],
    fold: usize,
    devices: &[B::Device],
) -> Result<Vec<f64>, TrainError> {
    let mut out = Vec::with_capacity(members.len());
    for chunk in members.chunks(exp.train.batch_size as usize) {
        let keys: Vec<u64> = chunk.iter().map(|&i| i as u64).collect();
        let x = clips_tensor::<B>(
            exp,
            videos,
            frames,
            chunk,
            &keys,
            DrawKey { fold, epoch: EVAL_EPOCH },
            false,
            &devices[0],
        )?;
        out.extend(abnormal_probs(shards::forward(
            model,
            x,
            devices,
            exp.train.precision.autocast(),
        ))?);
    }
    Ok(out)
}
