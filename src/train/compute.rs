//! Which Burn backend a run trains on: `runtime.backend` and `runtime.devices` chosen once,
//! then every generic piece of the loop runs on that backend.
//!
//! CPU: `Autodiff<Flex>`; each entry of `runtime.devices` is one shard of every batch, trained
//! on a thread of its own (two use both cores of a laptop: Burn's CPU kernels leave the second
//! idle through much of a step). CUDA (cargo feature `cuda`): `Autodiff<Cuda<f32>>`, on the
//! listed devices of one node. Weights and optimizer state are fp32 on both; `bf16` and `f16`
//! are mixed precision as PyTorch's autocast does it ([`crate::ops::autocast`]); f16 also
//! scales the loss ([`super::loss_scale`]), bf16 needs not (it has fp32's range).
//!
//! Autodiff checkpoints "balanced": the outputs of cheap element-wise operations are recomputed
//! in the backward pass instead of being kept from the forward. Same values, bit for bit; at
//! 224 px Swin-T's peak memory falls by a quarter, for a few percent of time.

use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::backend::{Autodiff, Flex};
use burn::tensor::FloatDType;

use super::runtime::{Backend, RuntimeConfig};
use crate::ops::AutodiffBackend;
use crate::train::Precision;

/// Work that runs on whichever backend the experiment asks for: `run` is called once, with the
/// backend's type and its devices (the first one holds the model the optimizer updates).
pub trait OnBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, devices: Vec<B::Device>, name: &'static str) -> Self::Output;
}

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error(
        "runtime.backend = \"cuda\": this runner was built without CUDA; rebuild it with `cargo build --release --features cuda`, or use \"cpu\""
    )]
    CudaNotBuilt,
    #[error("runtime.backend = \"cuda\": {0}")]
    CudaUnavailable(String),
    #[error(
        "runtime.devices lists {missing:?}, but this machine has {count} CUDA device(s), numbered from 0"
    )]
    MissingDevices { missing: Vec<u32>, count: usize },
}

impl ComputeError {
    /// The experiment key the error is about (a JSON pointer).
    pub fn pointer(&self) -> &'static str {
        match self {
            ComputeError::CudaNotBuilt | ComputeError::CudaUnavailable(_) => "/runtime/backend",
            ComputeError::MissingDevices { .. } => "/runtime/devices",
        }
    }
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The dtype products and convolutions compute in ([`crate::ops::autocast`]); `None`:
    /// fp32 throughout.
    pub fn autocast(self) -> Option<FloatDType> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
        }
    }
}

/// Checks that this build and machine can run `backend` on `devices`, without running
/// anything (CUDA: the driver is loaded and the listed devices exist).
pub fn check(runtime: &RuntimeConfig) -> Result<(), ComputeError> {
    match runtime.backend {
        Backend::Cpu => Ok(()),
        Backend::Cuda => cuda::check(&runtime.devices),
    }
}

/// Runs `job` on the backend the runtime section names, after [`check`].
pub fn dispatch<J: OnBackend>(runtime: &RuntimeConfig, job: J) -> Result<J::Output, ComputeError> {
    check(runtime)?;
    match runtime.backend {
        Backend::Cpu => {
            let shards = runtime.devices.iter().map(|_| Default::default()).collect();
            Ok(job.run::<Autodiff<Flex, BalancedCheckpointing>>(shards, "flex (CPU)"))
        }
        Backend::Cuda => cuda::dispatch(&runtime.devices, job),
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    use burn::backend::{Autodiff, Cuda, cuda::CudaDevice};

    use super::{ComputeError, OnBackend};

    /// Number of CUDA devices, or why the driver could not be asked. cudarc loads `libcuda`
    /// at run time and panics where there is none: that panic becomes the error.
    fn device_count() -> Result<usize, String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let counted = std::panic::catch_unwind(cudarc::driver::CudaContext::device_count);
        std::panic::set_hook(hook);
        match counted {
            Ok(Ok(n)) => Ok(n as usize),
            Ok(Err(e)) => Err(format!("the CUDA driver could not count devices ({e:?})")),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown reason".into());
                // cudarc's message goes on to list every file name it tried.
                let why = why.split(" - searched").next().unwrap_or_default();
                Err(format!(
                    "the CUDA driver could not be loaded ({why}): is this a GPU node with the NVIDIA driver? libcuda.so.1 must be on the loader's path (LD_LIBRARY_PATH)"
                ))
            }
        }
    }

    pub fn check(devices: &[u32]) -> Result<(), ComputeError> {
        let count = device_count().map_err(ComputeError::CudaUnavailable)?;
        if count == 0 {
            return Err(ComputeError::CudaUnavailable(
                "no CUDA device found on this machine".into(),
            ));
        }
        let missing: Vec<u32> = devices.iter().copied().filter(|&d| d as usize >= count).collect();
        if !missing.is_empty() {
            return Err(ComputeError::MissingDevices { missing, count });
        }
        Ok(())
    }

    pub fn dispatch<J: OnBackend>(devices: &[u32], job: J) -> Result<J::Output, ComputeError> {
        let on = devices.iter().map(|&d| CudaDevice::new(d as usize)).collect();
        Ok(job.run::<Autodiff<Cuda<f32>, BalancedCheckpointing>>(on, "cuda"))
    }
}

#[cfg(not(feature = "cuda"))]
mod cuda {
    use super::{ComputeError, OnBackend};

    pub fn check(_: &[u32]) -> Result<(), ComputeError> {
        Err(ComputeError::CudaNotBuilt)
    }

    pub fn dispatch<J: OnBackend>(_: &[u32], _: J) -> Result<J::Output, ComputeError> {
        Err(ComputeError::CudaNotBuilt)
    }
}
