//! A batch split over the devices of `runtime.devices` (on the CPU: threads): the shards, and
//! the inference forward across them. The training step's forward and backward are
//! [`super::step::DataParallel`]'s.

use std::ops::Range;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;

use crate::model::Classifier;
use crate::ops::autocast;

/// Contiguous, as even as possible, non-empty shards of `n` items over at most `devices`.
pub fn ranges(n: usize, devices: usize) -> Vec<Range<usize>> {
    let parts = devices.min(n).max(1);
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// Shard `range` of clips `x` `[N, T, 3, S, S]`, moved to `device`.
pub fn slice<B: Backend>(
    x: &Tensor<B, 5>,
    range: Range<usize>,
    device: &B::Device,
) -> Tensor<B, 5> {
    let [_, t, c, h, w] = x.dims();
    x.clone().slice([range, 0..t, 0..c, 0..h, 0..w]).to_device(device)
}

/// Logits `[N, 2]` of `model` (inference mode) on clips `x` `[N, T, 3, S, S]`, on the first
/// device: each device takes a shard, on a thread of its own (the first on this one), with
/// products in `dtype` ([`crate::ops::autocast`]; the scope is per thread).
pub fn forward<B: crate::ops::Backend>(
    model: &Classifier<B>,
    x: Tensor<B, 5>,
    devices: &[B::Device],
    dtype: Option<FloatDType>,
) -> Tensor<B, 2> {
    let shards = ranges(x.dims()[0], devices.len());
    let run = |model: &Classifier<B>, x| {
        let _autocast = autocast(dtype);
        model.forward(x)
    };
    if shards.len() == 1 {
        return run(model, x);
    }
    materialize(model);
    let others = (1..shards.len()).map(|i| {
        let (replica, xs) =
            (model.clone().to_device(&devices[i]), slice(&x, shards[i].clone(), &devices[i]));
        move || run(&replica, xs).to_device(&devices[0])
    });
    let logits = side_by_side(|| run(model, slice(&x, shards[0].clone(), &devices[0])), others);
    Tensor::cat(logits, 0)
}

/// `first` on this thread while each of `others` runs on a thread of its own (each built here,
/// then started before `first` runs); the results in order, `first`'s first.
pub fn side_by_side<T: Send, F: FnOnce() -> T + Send>(
    first: impl FnOnce() -> T,
    others: impl IntoIterator<Item = F>,
) -> Vec<T> {
    std::thread::scope(|scope| {
        let others: Vec<_> = others.into_iter().map(|f| scope.spawn(f)).collect();
        let first = first();
        std::iter::once(first)
            .chain(others.into_iter().map(|h| h.join().expect("a shard's thread panicked")))
            .collect()
    })
}

/// Initialises every parameter of `model` in place. Burn draws a parameter's initial value
/// when it is first read, and a clone of a parameter not yet read draws its own: the replicas
/// of a model no step has read yet would start from different weights.
pub fn materialize<B: Backend, M: Module<B>>(model: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}
