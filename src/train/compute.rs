//! Which Burn backend a run trains on: `runtime.backend` and `runtime.devices` chosen once,
//! then every generic piece of the loop runs on that backend.
//!
//! CPU: `Autodiff<Flex>`; each entry of `runtime.devices` is one shard of every batch, trained
//! on a thread of its own (two use both cores of a laptop: Burn's CPU kernels leave the second
//! idle through much of a step). CUDA (cargo feature `cuda`): `Autodiff<Cuda<f32>>`, on the
//! listed devices of one node. wgpu (cargo feature `wgpu`): `Autodiff<Wgpu<f32>>` on the
//! listed adapters of the platform's graphics API (Metal, Vulkan, DirectX 12). Weights and optimizer state are fp32 on both; `bf16` and `f16`
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
        "runtime.backend = \"wgpu\": this runner was built without wgpu; rebuild it with `cargo build --release --features wgpu`, or use \"cpu\""
    )]
    WgpuNotBuilt,
    #[error("runtime.backend = \"wgpu\": {0}")]
    WgpuUnavailable(String),
    #[error(
        "runtime.devices lists {missing:?}, but this machine has {count} {what}(s), numbered from 0"
    )]
    MissingDevices { missing: Vec<u32>, count: usize, what: &'static str },
}

impl ComputeError {
    /// The experiment key the error is about (a JSON pointer).
    pub fn pointer(&self) -> &'static str {
        match self {
            ComputeError::CudaNotBuilt
            | ComputeError::CudaUnavailable(_)
            | ComputeError::WgpuNotBuilt
            | ComputeError::WgpuUnavailable(_) => "/runtime/backend",
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
/// anything (CUDA: the driver is loaded and the listed devices exist; wgpu: the listed
/// adapters exist).
pub fn check(runtime: &RuntimeConfig) -> Result<(), ComputeError> {
    match runtime.backend {
        Backend::Cpu => Ok(()),
        Backend::Cuda => cuda::check(&runtime.devices),
        Backend::Wgpu => wgpu::check(&runtime.devices),
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
        Backend::Wgpu => wgpu::dispatch(&runtime.devices, job),
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
            return Err(ComputeError::MissingDevices { missing, count, what: "CUDA device" });
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

#[cfg(feature = "wgpu")]
mod wgpu {
    use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
    use burn::backend::wgpu::WgpuDevice;
    use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};
    use burn::backend::{Autodiff, Wgpu};

    use super::{ComputeError, OnBackend};

    /// The adapters of the platform's graphics API (Vulkan, Metal, DirectX 12), in wgpu's
    /// order: what `runtime.devices` indexes.
    fn adapters() -> Vec<wgpu::AdapterInfo> {
        let api = AutoGraphicsApi::backend();
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: api.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let listed = block_on(instance.enumerate_adapters(api.into()));
        listed.into_iter().map(|a| a.get_info()).collect()
    }

    /// wgpu's native futures are ready when first polled; this waits for one that is not.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::yield_now();
        }
    }

    /// Burn's name for adapter `index` of `all`: its type and its rank among adapters of
    /// that type, as CubeCL selects them.
    fn device(all: &[wgpu::AdapterInfo], index: usize) -> Result<WgpuDevice, ComputeError> {
        let info = &all[index];
        let rank = all[..index].iter().filter(|a| a.device_type == info.device_type).count();
        match info.device_type {
            wgpu::DeviceType::DiscreteGpu => Ok(WgpuDevice::DiscreteGpu(rank)),
            wgpu::DeviceType::IntegratedGpu => Ok(WgpuDevice::IntegratedGpu(rank)),
            wgpu::DeviceType::VirtualGpu => Ok(WgpuDevice::VirtualGpu(rank)),
            wgpu::DeviceType::Cpu if rank == 0 => Ok(WgpuDevice::Cpu),
            _ => Err(ComputeError::WgpuUnavailable(format!(
                "adapter {index} ({}, {:?}) cannot be selected: Burn takes one CPU adapter and \
                 no adapter of type Other",
                info.name, info.device_type
            ))),
        }
    }

    fn describe(index: usize, info: &wgpu::AdapterInfo) -> String {
        format!(
            "adapter {index}: {} ({:?}, {:?}, driver {} {})",
            info.name, info.device_type, info.backend, info.driver, info.driver_info
        )
    }

    fn selected(devices: &[u32]) -> Result<Vec<WgpuDevice>, ComputeError> {
        let all = adapters();
        if all.is_empty() {
            return Err(ComputeError::WgpuUnavailable(format!(
                "no {:?} adapter found on this machine: install the GPU's driver (on Linux \
                 its Vulkan driver, e.g. Debian's mesa-vulkan-drivers, which has lavapipe for \
                 the CPU; `vulkaninfo --summary` lists what Vulkan sees)",
                AutoGraphicsApi::backend()
            )));
        }
        let missing: Vec<u32> =
            devices.iter().copied().filter(|&d| d as usize >= all.len()).collect();
        if !missing.is_empty() {
            let listed: Vec<String> = all.iter().enumerate().map(|(i, a)| describe(i, a)).collect();
            return Err(ComputeError::WgpuUnavailable(format!(
                "runtime.devices lists {missing:?}, but wgpu finds {} adapter(s): {}",
                all.len(),
                listed.join("; ")
            )));
        }
        devices.iter().map(|&d| device(&all, d as usize)).collect()
    }

    pub fn check(devices: &[u32]) -> Result<(), ComputeError> {
        selected(devices).map(drop)
    }

    pub fn dispatch<J: OnBackend>(devices: &[u32], job: J) -> Result<J::Output, ComputeError> {
        let on = selected(devices)?;
        let all = adapters();
        for &d in devices {
            eprintln!("wgpu {}", describe(d as usize, &all[d as usize]));
        }
        Ok(job.run::<Autodiff<Wgpu<f32>, BalancedCheckpointing>>(on, "wgpu"))
    }
}

#[cfg(not(feature = "wgpu"))]
mod wgpu {
    use super::{ComputeError, OnBackend};

    pub fn check(_: &[u32]) -> Result<(), ComputeError> {
        Err(ComputeError::WgpuNotBuilt)
    }

    pub fn dispatch<J: OnBackend>(_: &[u32], _: J) -> Result<J::Output, ComputeError> {
        Err(ComputeError::WgpuNotBuilt)
    }
}
