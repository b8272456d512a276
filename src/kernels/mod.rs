//! The CPU kernels: each op of the models that the CPU backend runs as the project's own code,
//! forward and backward, as plain Rust on f32 slices. Nothing here knows of tensors, backends
//! or autodiff (`crate::ops` turns these into tensor ops and autodiff nodes); nothing here
//! imports another module of the crate.
//!
//! Work is split into tasks chosen from the shapes alone and partial sums are added in a fixed
//! order, so every result is the same whatever the number of threads (each kernel's tests
//! check it, beside the kernel's definition).

pub mod adamw;
pub mod attention;
pub mod batch_norm;
pub mod conv;
pub mod gelu;
pub mod layer_norm;
pub mod linear;
pub mod lstm;
pub mod max_pool;

mod exp;
mod fresh;
mod gemm;
mod lanes;
mod scratch;

#[cfg(test)]
pub mod checks;
