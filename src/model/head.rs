//! Classification head: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, 2).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::config::HeadConfig;
use super::{flat, random};

impl HeadConfig {
    /// Head over `d`-wide clip features.
    pub fn init<B: Backend>(&self, d: usize, device: &B::Device) -> Head<B> {
        Head {
            fc1: LinearConfig::new(d, self.hidden as usize).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(self.hidden as usize, 2).init(device),
        }
    }
}

/// `[B, d]` → logits `[B, 2]` (index 0 normal, 1 abnormal).
#[derive(Module, Debug)]
pub struct Head<B: Backend> {
    pub fc1: Linear<B>,
    pub dropout: Dropout,
    pub fc2: Linear<B>,
}

impl<B: Backend> Head<B> {
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        flat::linear(&self.fc2, random::dropout(&self.dropout, relu(flat::linear(&self.fc1, x))))
    }
}
