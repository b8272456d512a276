//! Model stage: the three phases of the results table (and R(2+1)D) as Burn modules, built
//! from the `model` section of an experiment: the backbones (Swin, ResNet, R(2+1)D), the
//! temporal encoders, the heads and the classifiers that join them, with their configs,
//! timm/torchvision weight import, freezing, the size summary, the config checks and the
//! random streams of dropout and stochastic depth. Their ops come from [`crate::ops`]
//! (generic over `B: ops::Backend`).

mod attention;
mod check;
mod classifier;
mod freeze;
mod head;
mod init;
mod r2plus1d;
mod random;
mod resnet;
mod summary;
mod swin;
mod temporal;
mod violation;
mod weights;

#[cfg(test)]
mod r2plus1d_tests;
#[cfg(test)]
mod tests;

pub use classifier::{
    Classifier, CnnLstm, CnnLstmConfig, LstmConfig, ModelConfig, ModelError, Readout,
    SwinGlobalConfig, SwinHybridConfig, SwinTemporal, build,
};
pub use freeze::{Freeze, ParamCounts, count_params};
pub use head::{Head, HeadConfig, HeadTask};
pub use r2plus1d::{
    Conv2Plus1d, Downsample3d, R2plus1d, R2plus1dConfig, Stem, VideoBlock, VideoResNet, midplanes,
};
pub use random::scope as random_streams;
pub use resnet::{BasicBlock, Downsample, ResNet, ResNetConfig, ResNetDepth};
pub use summary::{ModelSummary, summary};
pub use swin::{StagePlan, Swin, SwinConfig, SwinDims, SwinGeometryError, SwinPreset};
pub use temporal::{
    FramePool, HybridLayer, HybridPaths, HybridTemporalConfig, Pooling, PreNormLayer,
    TemporalConfig, TemporalEncoder,
};
pub use violation::ModelViolation;
pub use weights::{LoadReport, WeightsError};
/// For the training stage's PyTorch fixtures.
#[cfg(test)]
pub(crate) use weights::{apply_tensors, read_safetensors};
