//! Training against PyTorch, on the fixtures of `../fixtures` (written by
//! `make_training_fixtures.py`): one step of each phase (loss, every gradient, the AdamW
//! update, BatchNorm's running statistics), the optimizers over several steps against
//! `torch.optim`, and the loss against `F.cross_entropy`.

mod loss;
mod optimizers;
mod phases;

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;

use crate::model::read_safetensors;

/// The float tensors of fixture `name`, as f32.
fn fixture(name: &str) -> BTreeMap<String, TensorData> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/train/fixtures").join(name);
    read_safetensors(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn values(data: &TensorData) -> Vec<f32> {
    data.to_vec::<f32>().expect("f32 tensor")
}

/// Takes `key` out of `tensors`, naming the fixture's missing key.
fn take(tensors: &mut BTreeMap<String, TensorData>, key: &str) -> TensorData {
    tensors.remove(key).unwrap_or_else(|| panic!("the fixture has no `{key}`"))
}

/// The largest `|ours − theirs|` and the largest `|theirs|`.
fn worst(ours: &[f32], theirs: &[f32]) -> (f32, f32) {
    assert_eq!(ours.len(), theirs.len(), "lengths");
    let err = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    (err, theirs.iter().map(|v| v.abs()).fold(0.0, f32::max))
}
