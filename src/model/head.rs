//! The head over clip features: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, outputs),
//! or Dropout → Linear(d, outputs) with `hidden = 0` (torchvision's `fc`). Two logits for
//! `task = "classify"`, one ejection fraction for `task = "regress_ef"`.

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::random;
use crate::ops::{self, Backend};

/// What the head predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeadTask {
    /// Two logits (normal, abnormal), trained with cross-entropy.
    #[default]
    Classify,
    /// The ejection fraction (percent), trained with mean squared error; the experiment's
    /// label rule classifies the predicted EF (as EchoNet-Dynamic does).
    RegressEf,
}

impl HeadTask {
    /// Width of the head's output.
    pub fn outputs(self) -> usize {
        match self {
            HeadTask::Classify => 2,
            HeadTask::RegressEf => 1,
        }
    }
}

/// The head: Linear(d, hidden) → ReLU → Dropout → Linear(hidden, outputs); `hidden = 0`:
/// Dropout → Linear(d, outputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// Width of the hidden layer; 0 for none (a single linear layer, as torchvision's `fc`).
    #[schemars(range(min = 0, max = 65536))]
    pub hidden: u32,
    #[schemars(range(min = 0.0, max = 0.95))]
    pub dropout: f64,
    /// `classify` (two logits) or `regress_ef` (one output: the EF).
    pub task: HeadTask,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self { hidden: 512, dropout: 0.4, task: HeadTask::Classify }
    }
}

impl HeadConfig {
    /// Head over `d`-wide clip features.
    pub fn init<B: Backend>(&self, d: usize, device: &B::Device) -> Head<B> {
        let hidden = self.hidden as usize;
        let fc1 = (hidden > 0).then(|| LinearConfig::new(d, hidden).init(device));
        let last_in = if hidden > 0 { hidden } else { d };
        Head {
            fc1,
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(last_in, self.task.outputs()).init(device),
        }
    }
}

/// `[B, d]` → `[B, outputs]`: logits (index 0 normal, 1 abnormal) or the predicted EF.
#[derive(Module, Debug)]
pub struct Head<B: Backend> {
    pub fc1: Option<Linear<B>>,
    pub dropout: Dropout,
    pub fc2: Linear<B>,
}

impl<B: Backend> Head<B> {
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = match &self.fc1 {
            Some(fc1) => relu(ops::linear(fc1, x)),
            None => x,
        };
        ops::linear(&self.fc2, random::dropout(&self.dropout, x))
    }

    /// Sets every output's bias to `value` (echonet/dynamic starts the EF output at the
    /// training set's mean EF).
    pub fn set_output_bias(&mut self, value: f32) {
        if let Some(bias) = self.fc2.bias.take() {
            // `map` keeps whether the new tensor tracks gradients: the bias must still train.
            self.fc2.bias = Some(bias.map(|b| {
                let trains = b.is_require_grad();
                b.zeros_like().add_scalar(value).set_require_grad(trains)
            }));
        }
    }
}
