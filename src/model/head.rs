//! Classification head: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, 2).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::random;
use crate::ops::{self, Backend};

/// Classification head: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    #[schemars(range(min = 1, max = 65536))]
    pub hidden: u32,
    #[schemars(range(min = 0.0, max = 0.95))]
    pub dropout: f64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self { hidden: 512, dropout: 0.4 }
    }
}

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
        ops::linear(&self.fc2, random::dropout(&self.dropout, relu(ops::linear(&self.fc1, x))))
    }
}
