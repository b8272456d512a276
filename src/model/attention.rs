//! Multi-head self-attention over time, as PyTorch's `nn.MultiheadAttention` inside its
//! `TransformerEncoderLayer`: dropout on the attention weights, after the softmax (Burn's
//! `MultiHeadAttention` drops the scores before it), masks from the step's streams
//! ([`super::random`]) and products under [`crate::ops::autocast`]. The parameters keep the names of
//! Burn's module (`query`, `key`, `value`, `output`).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::random;
use crate::ops::{self, Backend};

#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub output: Linear<B>,
    pub dropout: Dropout,
    pub heads: usize,
}

impl<B: Backend> SelfAttention<B> {
    /// `d` wide, `heads` heads of `d / heads`; `dropout` on the attention weights.
    pub fn new(d: usize, heads: usize, dropout: f64, device: &B::Device) -> Self {
        let linear = || LinearConfig::new(d, d).init(device);
        Self {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// `[B, T, d]` → `[B, T, d]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, t, d] = x.dims();
        let dk = d / self.heads;
        // `[B, T, d]` → `[B, heads, T, dk]`.
        let split = |layer: &Linear<B>| {
            ops::linear(layer, x.clone()).reshape([b, t, self.heads, dk]).swap_dims(1, 2)
        };
        let (q, k, v) = (split(&self.query), split(&self.key), split(&self.value));
        let scores = ops::matmul(q, k.swap_dims(2, 3)).div_scalar((dk as f64).sqrt());
        let weights = random::dropout(&self.dropout, softmax(scores, 3));
        let context = ops::matmul(weights, v).swap_dims(1, 2).reshape([b, t, d]);
        ops::linear(&self.output, context)
    }
}
