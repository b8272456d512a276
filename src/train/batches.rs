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
/// indices.
pub struct TrainBatch<B: Backend> {
    pub clips: Tensor<B, 5>,
    pub labels: Vec<usize>,
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
    Ok(TrainBatch { clips, labels })
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
