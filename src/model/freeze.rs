//! Freezing (frozen parameters get no gradients, hence no optimizer state) and parameter counts.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::resnet::ResNet;
use super::swin::Swin;
use crate::ops::Backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freeze {
    /// Backbone frozen except its last stage and final norm (seed).
    #[default]
    AllButLastStage,
    /// Everything trains.
    None,
    /// The whole backbone is frozen; temporal part and head train.
    Backbone,
}

impl Freeze {
    pub(super) fn none() -> Self {
        Freeze::None
    }
}

/// Parameter counts (buffers such as BatchNorm running statistics excluded, as in PyTorch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamCounts {
    pub total: usize,
    pub trainable: usize,
}

impl ParamCounts {
    /// Counts from the parameters' own gradient flags (initialises lazy parameters; only an
    /// autodiff backend tracks gradients, so elsewhere `trainable` is 0).
    pub fn measured<B: Backend, M: Module<B>>(module: &M) -> Self {
        let mut counter = Counter { total: 0, trainable: Some(0), path: Vec::new() };
        module.visit(&mut counter);
        Self { total: counter.total, trainable: counter.trainable.unwrap_or(0) }
    }
}

/// Number of parameters, without initialising lazy ones.
pub fn count_params<B: Backend, M: Module<B>>(module: &M) -> usize {
    let mut counter = Counter { total: 0, trainable: None, path: Vec::new() };
    module.visit(&mut counter);
    counter.total
}

struct Counter {
    total: usize,
    /// `None`: don't look at gradient flags.
    trainable: Option<usize>,
    /// Names of the modules entered, down to the visited tensor.
    path: Vec<String>,
}

impl<B: Backend> ModuleVisitor<B> for Counter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        // BatchNorm statistics are visited like parameters but are buffers.
        if matches!(self.path.last().map(String::as_str), Some("running_mean" | "running_var")) {
            return;
        }
        let n = param.lazy_shape().num_elements();
        self.total += n;
        if let Some(trainable) = self.trainable.as_mut()
            && param.val().is_require_grad()
        {
            *trainable += n;
        }
    }
}

impl<B: Backend> Swin<B> {
    /// `all_but_last_stage`: the last stage (with its patch merging) and the final norm train.
    pub fn freeze(mut self, freeze: Freeze) -> Self {
        match freeze {
            Freeze::None => self,
            Freeze::Backbone => self.no_grad(),
            Freeze::AllButLastStage => {
                let last = self.layers.len().saturating_sub(1);
                self.patch_embed = self.patch_embed.no_grad();
                self.layers = self
                    .layers
                    .into_iter()
                    .enumerate()
                    .map(|(i, stage)| if i < last { stage.no_grad() } else { stage })
                    .collect();
                self
            }
        }
    }

    pub(super) fn frozen_params(&self, freeze: Freeze) -> usize {
        match freeze {
            Freeze::None => 0,
            Freeze::Backbone => count_params(self),
            Freeze::AllButLastStage => {
                let last = self.layers.len().saturating_sub(1);
                count_params(&self.patch_embed)
                    + self.layers[..last].iter().map(count_params).sum::<usize>()
            }
        }
    }
}

impl<B: Backend> ResNet<B> {
    /// `all_but_last_stage`: only `layer4` trains.
    pub fn freeze(mut self, freeze: Freeze) -> Self {
        match freeze {
            Freeze::None => self,
            Freeze::Backbone => self.no_grad(),
            Freeze::AllButLastStage => {
                self.conv1 = self.conv1.no_grad();
                self.bn1 = self.bn1.no_grad();
                self.layer1 = self.layer1.no_grad();
                self.layer2 = self.layer2.no_grad();
                self.layer3 = self.layer3.no_grad();
                self
            }
        }
    }

    pub(super) fn frozen_params(&self, freeze: Freeze) -> usize {
        match freeze {
            Freeze::None => 0,
            Freeze::Backbone => count_params(self),
            Freeze::AllButLastStage => {
                count_params(&self.conv1)
                    + count_params(&self.bn1)
                    + count_params(&self.layer1)
                    + count_params(&self.layer2)
                    + count_params(&self.layer3)
            }
        }
    }
}
