//! The workload `bench models` and `bench steps` share: which models, at what size, on which
//! backend, in which precision. The closed sets take the experiment file's words for the same
//! keys (`model.backbone.preset`, `runtime.backend`, `train.precision`).

use clap::{Args, ValueEnum};

use echo_runner::bench::{BenchModel, ModelBench};
use echo_runner::config::{Backend, RuntimeConfig};
use echo_runner::model::SwinPreset;
use echo_runner::train::Precision;

use crate::cli::error::CliError;

#[derive(Args)]
pub struct ModelBenchArgs {
    /// Models to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "cnn_lstm,swin_global,swin_hybrid")]
    models: Vec<BenchModel>,
    /// Swin preset of phases 2–3 (the reference's default is swin_tiny).
    #[arg(long, value_enum, default_value = "tiny")]
    swin: SwinArg,
    /// Frame size.
    #[arg(long, default_value_t = 224)]
    img: usize,
    /// Frames per clip.
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Clips per step.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendArg,
    /// CUDA devices or wgpu adapters, comma-separated (several: data parallel on one node).
    #[arg(long, value_delimiter = ',', default_value = "0")]
    devices: Vec<u32>,
    /// Arithmetic precision.
    #[arg(long, value_enum, default_value = "fp32")]
    precision: PrecisionArg,
}

impl ModelBenchArgs {
    /// The benchmark's options; `reps`: timed repetitions (`models` only). Frame sizes and
    /// clip lengths the models cannot take are refused here, naming the flags.
    pub fn workload(self, reps: usize) -> Result<ModelBench, CliError> {
        let swin = self.swin.into();
        let runtime = RuntimeConfig {
            backend: self.backend.into(),
            devices: self.devices,
            ..Default::default()
        };
        let dims = self
            .models
            .iter()
            .find_map(|m| m.config(swin).check_dims(self.img, self.frames).into_iter().next());
        if let Some(v) = dims {
            return Err(CliError::invalid(format!(
                "--img {} --frames {}: {} {}",
                self.img, self.frames, v.pointer, v.message
            )));
        }
        Ok(ModelBench {
            models: self.models,
            swin,
            img: self.img,
            frames: self.frames,
            batch: self.batch,
            reps,
            runtime,
            precision: self.precision.into(),
        })
    }
}

/// `--swin`: the presets of `model.backbone.preset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SwinArg {
    /// A small Swin for CPU demos (embed 32, depths 1-1-2-1).
    Micro,
    Tiny,
    Small,
    Base,
}

impl From<SwinArg> for SwinPreset {
    fn from(arg: SwinArg) -> Self {
        match arg {
            SwinArg::Micro => SwinPreset::Micro,
            SwinArg::Tiny => SwinPreset::Tiny,
            SwinArg::Small => SwinPreset::Small,
            SwinArg::Base => SwinPreset::Base,
        }
    }
}

/// `--backend`: the backends of `runtime.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BackendArg {
    /// Burn's flex backend on the CPU.
    Cpu,
    /// NVIDIA GPUs (a runner built with `--features cuda`).
    Cuda,
    /// Metal, Vulkan or DirectX 12 adapters (a runner built with `--features wgpu`).
    Wgpu,
}

impl From<BackendArg> for Backend {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Cuda => Backend::Cuda,
            BackendArg::Wgpu => Backend::Wgpu,
        }
    }
}

/// `--precision`: the precisions of `train.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PrecisionArg {
    /// 32-bit floats throughout.
    Fp32,
    /// Mixed precision in bfloat16, as PyTorch's autocast.
    Bf16,
    /// Mixed precision in float16, as PyTorch's autocast, with GradScaler's loss scaling at
    /// its defaults.
    F16,
}

impl From<PrecisionArg> for Precision {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Bf16 => Precision::Bf16,
            PrecisionArg::F16 => Precision::F16,
        }
    }
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde::Serialize;
    use serde_json::Value;

    use super::*;

    /// Every word the library's JSON Schema allows for `T`.
    fn schema_words<T: JsonSchema>() -> Vec<String> {
        fn collect(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("const", Value::String(s)) => out.push(s.clone()),
                            ("enum", Value::Array(words)) => out
                                .extend(words.iter().filter_map(|w| w.as_str()).map(str::to_owned)),
                            _ => collect(value, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        collect(&serde_json::to_value(schemars::schema_for!(T)).expect("schema"), &mut out);
        out.sort();
        out
    }

    /// The flag offers exactly the experiment file's words, each meaning the same value.
    fn same_words<A: ValueEnum, T: From<A> + Serialize + JsonSchema>() {
        let mut offered = Vec::new();
        for arg in A::value_variants() {
            let name = arg.to_possible_value().expect("not skipped").get_name().to_owned();
            let value = serde_json::to_value(T::from(arg.clone())).expect("json");
            assert_eq!(value, Value::String(name.clone()));
            offered.push(name);
        }
        offered.sort();
        assert_eq!(offered, schema_words::<T>());
    }

    #[test]
    fn flags_take_the_experiment_files_words() {
        same_words::<SwinArg, SwinPreset>();
        same_words::<BackendArg, Backend>();
        same_words::<PrecisionArg, Precision>();
    }
}
