//! From cached frames to tensors: the training batches (random windows, augmentation) and
//! the evaluation passes (one output per video: P(abnormal) or the predicted EF).

use burn::prelude::*;
use rayon::prelude::*;

use super::Sections;
use super::error::TrainError;
use super::objective::Objective;
use super::shards;
use crate::data::FrameSampling;
use crate::data::cache::{ClipCache, InMemoryClips};
use crate::data::clips::{ClipPlan, all_clip_plans, render_clip, sample_rng};
use crate::data::labels::Class;
use crate::model::Classifier;

/// The frames a run reads: decompressed in memory when they fit, else from the cache file.
pub enum Frames {
    Memory(InMemoryClips),
    Disk(ClipCache),
}

impl Frames {
    pub(super) fn read(
        &self,
        name: &str,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<u8>, TrainError> {
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
    /// Ejection fraction (percent), finite: what a regression head learns.
    pub ef: f64,
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
fn clips_tensor<B: Backend>(
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

/// A training batch: its clips `[B, T, 3, S, S]` and, row for row, their videos' class
/// indices and EFs.
pub struct TrainBatch<B: Backend> {
    pub clips: Tensor<B, 5>,
    pub labels: Vec<usize>,
    pub ef: Vec<f64>,
}

/// The training batch of `members` (random windows, augmentation), the clip of `members[j]`
/// at row `j` with its class at `labels[j]`.
pub fn train_batch<B: Backend>(
    exp: &Sections,
    videos: &[Video],
    frames: &Frames,
    members: &[usize],
    keys: &[u64],
    at: DrawKey,
    device: &B::Device,
) -> Result<TrainBatch<B>, TrainError> {
    let clips = clips_tensor::<B>(exp, videos, frames, members, keys, at, true, device)?;
    let labels = members.iter().map(|&i| videos[i].class.index()).collect();
    let ef = members.iter().map(|&i| videos[i].ef).collect();
    Ok(TrainBatch { clips, labels, ef })
}

/// The output of each listed video under the evaluation sampling (P(abnormal), or the
/// predicted EF for a regression head), each batch split over `devices` as in training.
#[allow(clippy::too_many_arguments)]
pub fn predict<B: crate::ops::Backend>(
    exp: &Sections,
    videos: &[Video],
    frames: &Frames,
    model: &Classifier<B>,
    objective: &Objective,
    members: &[usize],
    fold: usize,
    devices: &[B::Device],
) -> Result<Vec<f64>, TrainError> {
    if exp.data.clip.eval_sampling == FrameSampling::AllClips {
        return predict_all_clips(exp, videos, frames, model, objective, members, devices);
    }
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
        out.extend(objective.outputs(shards::forward(
            model,
            x,
            devices,
            exp.train.precision.autocast(),
        ))?);
    }
    Ok(out)
}

/// [`predict`] under `all_clips` sampling: each video's output is the mean over its clips,
/// which go through the model `batch_size` at a time, whatever the video's length.
fn predict_all_clips<B: crate::ops::Backend>(
    exp: &Sections,
    videos: &[Video],
    frames: &Frames,
    model: &Classifier<B>,
    objective: &Objective,
    members: &[usize],
    devices: &[B::Device],
) -> Result<Vec<f64>, TrainError> {
    let data = &exp.data;
    let plan_err = |name: &str, e: &dyn std::fmt::Display| TrainError::Plan(format!("{name}: {e}"));
    // (position in `members`, clip) for every clip of every video, in order.
    let mut clips: Vec<(usize, ClipPlan)> = Vec::new();
    for (j, &i) in members.iter().enumerate() {
        let plans = all_clip_plans(videos[i].frames, &data.clip)
            .map_err(|e| plan_err(&videos[i].name, &e))?;
        clips.extend(plans.into_iter().map(|p| (j, p)));
    }
    let size = data.resize as usize;
    let (mut sums, mut counts) = (vec![0.0; members.len()], vec![0usize; members.len()]);
    for chunk in clips.chunks(exp.train.batch_size as usize) {
        let built: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|(j, plan)| {
                let v = &videos[members[*j]];
                let bytes = frames.read(&v.name, plan.read())?;
                // Without augmentation nothing is drawn from the stream.
                let mut rng = sample_rng(exp.seed, 0, u64::from(EVAL_EPOCH), 0);
                render_clip(plan, &bytes, size, &data.normalize, None, &mut rng)
                    .map_err(|e| plan_err(&v.name, &e))
            })
            .collect::<Result<_, _>>()?;
        let shape = [chunk.len(), data.clip.frames as usize, 3, size, size];
        let x = Tensor::from_data(TensorData::new(built.concat(), shape), &devices[0]);
        let out = shards::forward(model, x, devices, exp.train.precision.autocast());
        for ((j, _), o) in chunk.iter().zip(objective.outputs(out)?) {
            sums[*j] += o;
            counts[*j] += 1;
        }
    }
    Ok(sums.iter().zip(&counts).map(|(s, &c)| s / c.max(1) as f64).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use burn::backend::Flex;

    use super::*;
    use crate::data::DataConfig;
    use crate::model::ModelConfig;
    use crate::train::runtime::RuntimeConfig;
    use crate::train::{CvConfig, LossConfig, SamplerConfig, TrainConfig};

    const SIZE: usize = 16;
    const T: usize = 4;

    /// Video `i`'s grey level: every pixel of every frame, so a clip names its video.
    fn grey(i: usize) -> u8 {
        (10 + 20 * i) as u8
    }

    #[test]
    fn every_clip_of_a_batch_carries_its_own_videos_label() {
        // No augmentation, so that a clip's pixels are its video's grey level, normalised.
        let data: DataConfig = serde_json::from_value(serde_json::json!({
            "source": {"kind": "synthetic"}, "resize": SIZE,
            "clip": {"frames": T, "period": 2, "train_sampling": "random_window"},
            "augment": {"hflip": 0.0, "rotation": 0.0, "brightness": 0.0, "contrast": 0.0}
        }))
        .unwrap();
        let model: ModelConfig =
            serde_json::from_value(serde_json::json!({"kind": "swin_global"})).unwrap();
        let (sampler, loss, cv) =
            (SamplerConfig::default(), LossConfig::default(), CvConfig::default());
        let (train, runtime) = (TrainConfig::default(), RuntimeConfig::default());
        let exp = Sections {
            seed: 5,
            data: &data,
            model: &model,
            sampler: &sampler,
            loss: &loss,
            cv: &cv,
            train: &train,
            runtime: &runtime,
        };
        // Eleven videos of different lengths; the classes in no pattern the order follows.
        let abnormal = [1, 4, 5, 9];
        let videos: Vec<Video> = (0..11)
            .map(|i| Video {
                name: format!("v{i}"),
                class: if abnormal.contains(&i) { Class::Abnormal } else { Class::Normal },
                ef: 30.0 + i as f64,
                frames: 9 + 3 * i,
            })
            .collect();
        let stored: HashMap<String, Vec<u8>> = videos
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.clone(), vec![grey(i); v.frames * SIZE * SIZE]))
            .collect();
        let frames = Frames::Memory(InMemoryClips::from_frames(SIZE, stored));
        let members = [7, 1, 10, 4, 0, 9, 3];
        let keys: Vec<u64> = (0..members.len() as u64).map(|j| 40 + j).collect();
        let at = DrawKey { fold: 1, epoch: 2 };
        let device = Default::default();
        let batch = train_batch::<Flex>(&exp, &videos, &frames, &members, &keys, at, &device)
            .expect("a batch");
        assert_eq!(batch.clips.dims(), [members.len(), T, 3, SIZE, SIZE]);
        let values = batch.clips.into_data().to_vec::<f32>().unwrap();
        let per_clip = T * 3 * SIZE * SIZE;
        let (mean, std) = (data.normalize.mean, data.normalize.std);
        for (j, &i) in members.iter().enumerate() {
            assert_eq!(batch.labels[j], videos[i].class.index(), "row {j}: label of video {i}");
            assert_eq!(batch.ef[j], videos[i].ef, "row {j}: EF of video {i}");
            let clip = &values[j * per_clip..(j + 1) * per_clip];
            for (c, channel) in clip.chunks_exact(SIZE * SIZE).enumerate() {
                let want = ((f64::from(grey(i)) / 255.0 - mean[c % 3]) / std[c % 3]) as f32;
                assert!(
                    channel.iter().all(|v| (v - want).abs() < 1e-5),
                    "row {j} (video {i}), plane {c}: {} where its video gives {want}",
                    channel[0]
                );
            }
        }
    }
}
