//! Checks of a `model` section against the data it will see (image size, clip length) and
//! its pretrained file, run before anything is built or trained.

use super::classifier::ModelConfig;
use super::freeze::Freeze;
use super::swin::SwinConfig;
use super::violation::ModelViolation;
use super::weights::{Architecture, check_file};

fn violation(pointer: &str, message: String) -> ModelViolation {
    ModelViolation { pointer: pointer.to_string(), message }
}

impl ModelConfig {
    /// Everything that would make building or running the model fail for `img`×`img` frames
    /// and clips of `frames` frames, including an unusable `pretrained` file (only its header
    /// is read). Empty when the model can be built.
    pub fn check(&self, img: usize, frames: usize) -> Vec<ModelViolation> {
        let mut out = self.check_dims(img, frames);
        out.extend(self.check_pretrained());
        out
    }

    /// The rules on the section's own values (dimensions, windows, heads, positions, kernel);
    /// reads no file.
    pub fn check_dims(&self, img: usize, frames: usize) -> Vec<ModelViolation> {
        let mut out = Vec::new();
        if img == 0 || frames == 0 {
            out.push(violation(
                "/model",
                format!("image size ({img}) and clip length ({frames}) must be positive"),
            ));
            return out;
        }
        match self {
            ModelConfig::CnnLstm(c) => {
                if c.pretrained.is_some() && c.backbone.width != 64 {
                    let message = format!(
                        "pretrained ResNet weights have width 64, not {}; drop `pretrained` or use width 64",
                        c.backbone.width
                    );
                    out.push(violation("/model/backbone/width", message));
                }
            }
            ModelConfig::SwinGlobal(c) => {
                check_swin(&c.backbone, img, &mut out);
                let t = &c.temporal;
                check_temporal(self.feature_dim(), t.heads, t.positions, frames, &mut out);
            }
            ModelConfig::SwinHybrid(c) => {
                check_swin(&c.backbone, img, &mut out);
                let t = &c.temporal;
                check_temporal(self.feature_dim(), t.heads, t.positions, frames, &mut out);
                if t.dwconv_kernel.is_multiple_of(2) {
                    let message = format!(
                        "the temporal convolution's kernel ({}) must be odd for 'same' padding",
                        t.dwconv_kernel
                    );
                    out.push(violation("/model/temporal/dwconv_kernel", message));
                }
            }
            ModelConfig::R2plus1d(c) => {
                if c.pretrained.is_some() && c.width != 64 {
                    let message = format!(
                        "pretrained R(2+1)D weights have width 64, not {}; drop `pretrained` or use width 64",
                        c.width
                    );
                    out.push(violation("/model/width", message));
                }
            }
        }
        out
    }

    /// The `pretrained` file, when one is named: readable, safetensors, for this backbone
    /// (only its header is read).
    pub fn check_pretrained(&self) -> Option<ModelViolation> {
        let architecture = match self {
            ModelConfig::CnnLstm(_) => Architecture::ResNet,
            ModelConfig::SwinGlobal(_) | ModelConfig::SwinHybrid(_) => Architecture::Swin,
            ModelConfig::R2plus1d(_) => Architecture::R2plus1d,
        };
        let file = self.pretrained()?;
        check_file(file, architecture).err().map(|e| violation("/model/pretrained", e.to_string()))
    }

    /// Which parameters the model freezes.
    pub fn freeze(&self) -> Freeze {
        match self {
            ModelConfig::CnnLstm(c) => c.freeze,
            ModelConfig::SwinGlobal(c) => c.freeze,
            ModelConfig::SwinHybrid(c) => c.freeze,
            ModelConfig::R2plus1d(c) => c.freeze,
        }
    }
}

fn check_swin(backbone: &SwinConfig, img: usize, out: &mut Vec<ModelViolation>) {
    if let Err(e) = backbone.stages(img) {
        out.push(violation(&format!("/model/backbone/{}", e.field), e.message));
    }
}

fn check_temporal(
    d: u32,
    heads: u32,
    positions: Option<u32>,
    frames: usize,
    out: &mut Vec<ModelViolation>,
) {
    if heads == 0 || !d.is_multiple_of(heads) {
        out.push(violation(
            "/model/temporal/heads",
            format!("{heads} heads do not divide the feature width {d}"),
        ));
    }
    if let Some(p) = positions
        && (p as usize) < frames
    {
        let message = format!(
            "{p} temporal positions cannot cover clips of {frames} frames (data.clip.frames)"
        );
        out.push(violation("/model/temporal/positions", message));
    }
}
