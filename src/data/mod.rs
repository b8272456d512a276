//! Data stage: everything between a folder of echocardiogram videos and a batch of clips.

pub mod avi;
pub mod cache;
pub mod clips;
mod config;
pub mod echonet;
pub mod error;
pub mod fetch;
pub mod labels;
pub mod normalize;
pub mod stage;
pub mod synth;

pub use config::*;
pub use error::DataError;
