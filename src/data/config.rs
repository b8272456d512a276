//! The `data` section: where the videos come from, how they are labelled and split, and how
//! clips are cut, resized, normalised and augmented.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::echonet::OnBadVideo;
use super::labels::LabelRule;
use super::synth::SynthConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The videos: a user-supplied EchoNet-Dynamic folder or generated synthetic echoes.
    pub source: DataSource,
    /// How EF becomes a class (0 = normal, 1 = abnormal).
    #[serde(default)]
    pub labels: LabelRule,
    /// Train/val/test split.
    #[serde(default)]
    pub split: SplitConfig,
    /// Frames per clip and how they are picked.
    #[serde(default)]
    pub clip: ClipConfig,
    /// Frames are resized to `resize` × `resize` pixels.
    #[serde(default = "default_resize")]
    #[schemars(range(min = 16, max = 1024))]
    pub resize: u32,
    /// Per-channel normalisation applied after scaling pixels to [0, 1].
    #[serde(default)]
    pub normalize: NormalizeConfig,
    /// Training-time augmentation.
    #[serde(default)]
    pub augment: AugmentConfig,
    /// What to do with a video that cannot be read or has no usable EF: stop with an error,
    /// or skip it and count it in the data report.
    #[serde(default)]
    pub on_bad_video: OnBadVideo,
}

fn default_resize() -> u32 {
    224
}

/// Where the videos come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// A user-supplied `EchoNet-Dynamic/` folder (FileList.csv, VolumeTracings.csv, Videos/).
    Echonet {
        /// Path of the folder. Where the data lies is not part of the hash: moving it keeps
        /// the result directory.
        root: PathBuf,
    },
    /// Synthetic echoes in EchoNet-Dynamic's layout, generated once and cached.
    Synthetic(SynthConfig),
}

/// How videos are divided into train, validation and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SplitConfig {
    /// The dataset's own `Split` column (TRAIN / VAL / TEST).
    Official,
    /// The seed's own stratified split of all videos (fractions must sum to 1).
    Stratified {
        #[schemars(range(min = 0.0, max = 1.0))]
        train: f64,
        #[schemars(range(min = 0.0, max = 1.0))]
        val: f64,
        #[schemars(range(min = 0.0, max = 1.0))]
        test: f64,
        /// Seed of the split's shuffle.
        #[serde(default = "default_split_seed")]
        seed: u64,
    },
}

fn default_split_seed() -> u64 {
    42
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig::Stratified { train: 0.70, val: 0.15, test: 0.15, seed: default_split_seed() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClipConfig {
    /// Frames per clip; shorter videos are looped to this length.
    #[schemars(range(min = 1, max = 1024))]
    pub frames: u32,
    /// Step between consecutive clip frames within a training window.
    #[schemars(range(min = 1, max = 16))]
    pub period: u32,
    /// How training clips are taken from a video.
    pub train_sampling: FrameSampling,
    /// How validation and test clips are taken from a video.
    pub eval_sampling: FrameSampling,
    /// Under `eval_sampling = "all_clips"`: frames between the starts of consecutive clips
    /// (echonet/dynamic: 1, every start).
    #[schemars(range(min = 1, max = 10000))]
    pub eval_stride: u32,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            frames: 60,
            period: 1,
            train_sampling: FrameSampling::RandomWindow,
            eval_sampling: FrameSampling::Uniform,
            eval_stride: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrameSampling {
    /// A random contiguous window (the seed's training clips).
    RandomWindow,
    /// The contiguous window in the middle of the video.
    CenterWindow,
    /// Frames spread evenly over the whole video, `linspace(0, n-1, frames)` (the seed's
    /// evaluation clips).
    Uniform,
    /// Evaluation only: every window (`period` apart) starting `eval_stride` frames after the
    /// last, the video's output the mean over them (echonet/dynamic's test-time averaging). A
    /// video shorter than one window gives one clip, padded at its end with zeros after
    /// normalisation, as echonet/dynamic pads.
    AllClips,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    /// Per-channel mean (the grey frame is copied into 3 channels).
    pub mean: [f64; 3],
    /// Per-channel standard deviation; each must be > 0.
    pub std: [f64; 3],
    /// 0: normalise with `mean` and `std`. N > 0: with the mean and standard deviation of
    /// every pixel of N of each fold's training videos, drawn from the seed (all of them
    /// where the fold has fewer), as echonet/dynamic measures 128; each fold writes what it
    /// measured to `fold-<k>/normalize.json`, which `predict` reads.
    #[schemars(range(min = 0, max = 1000000))]
    pub from_videos: u32,
}

impl Default for NormalizeConfig {
    /// ImageNet's statistics, as the seed uses with its ImageNet-pretrained Swin.
    fn default() -> Self {
        Self { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], from_videos: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip of the whole clip.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub hflip: f64,
    /// Largest rotation in degrees (uniform in ±rotation).
    #[schemars(range(min = 0.0, max = 180.0))]
    pub rotation: f64,
    /// Brightness jitter: factor uniform in [1 - b, 1 + b].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub brightness: f64,
    /// Contrast jitter: factor uniform in [1 - c, 1 + c].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub contrast: f64,
    /// Random translation by up to this many pixels, zero-filled after normalisation
    /// (echonet/dynamic's `pad = 12`: zero padding, then a crop at a random offset).
    #[schemars(range(max = 512))]
    pub translate: u32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self { hflip: 0.5, rotation: 15.0, brightness: 0.2, contrast: 0.2, translate: 0 }
    }
}
