//! One training step of each phase against PyTorch: the model in training mode (dropout and
//! stochastic depth 0, BatchNorm on the batch's statistics), the fold's loss (class weights
//! and label smoothing) and AdamW with the runner's defaults. Compared: the loss, the
//! gradient of every parameter, every parameter's update and BatchNorm's running statistics.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::Flex;
use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
use burn::module::{AutodiffModule, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot};

use super::{fixture, take, values, worst};
use crate::model::*;
use crate::train::OptimizerConfig;
use crate::train::adamw;
use crate::train::grads::optimizer_step;
use crate::train::step::{Criterion, DataParallel, Targets, cross_entropy};

type AD = burn::backend::Autodiff<Flex, BalancedCheckpointing>;

/// A phase's fixture: the weights to load, and what the step must give.
struct Step {
    weights: BTreeMap<String, TensorData>,
    input: TensorData,
    labels: Vec<usize>,
    loss: f32,
    grads: BTreeMap<String, TensorData>,
    deltas: BTreeMap<String, TensorData>,
    running: BTreeMap<String, TensorData>,
}

fn load(phase: &str) -> Step {
    let mut all = fixture(&format!("{phase}_step.safetensors"));
    let input = take(&mut all, "input");
    let labels = values(&take(&mut all, "labels")).iter().map(|&c| c as usize).collect();
    let loss = values(&take(&mut all, "loss"))[0];
    let mut part = |prefix: &str| -> BTreeMap<String, TensorData> {
        let keys: Vec<String> = all.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        keys.into_iter().map(|k| (k[prefix.len()..].to_string(), all.remove(&k).unwrap())).collect()
    };
    let (grads, deltas, running) = (part("grad."), part("delta."), part("running."));
    Step { weights: all, input, labels, loss, grads, deltas, running }
}

/// The module's tensors (parameters and running statistics) by PyTorch name and layout.
fn named<M: ModuleSnapshot<Flex>>(module: &M) -> BTreeMap<String, TensorData> {
    let snapshots = module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true);
    snapshots.into_iter().map(|s| (s.full_path(), s.to_data().expect("tensor data"))).collect()
}

/// Each parameter replaced by its gradient (NaN where it has none).
struct ToGradients<'a>(&'a GradientsParams);

impl ModuleMapper<Flex> for ToGradients<'_> {
    fn map_float<const D: usize>(
        &mut self,
        param: Param<Tensor<Flex, D>>,
    ) -> Param<Tensor<Flex, D>> {
        let grad = self.0.get::<Flex, D>(param.id);
        param.map(|t| grad.unwrap_or_else(|| t.mul_scalar(f32::NAN)))
    }
}

/// Runs the step on `model` (the fixture's weights loaded) and compares it with PyTorch's.
fn step_like_torch(phase: &str, model: Classifier<AD>, fx: Step) {
    let device = Default::default();
    let step = DataParallel::<AD>::new(
        vec![device],
        &Criterion::CrossEntropy(cross_entropy([0.7, 1.9], 0.1)),
        None,
    );
    let x = Tensor::<AD, 5>::from_data(fx.input, &device);
    let out = step.forward_backward(&model, x, Targets::classes(&fx.labels), 0, 1.0).expect("step");
    println!("{phase}: loss {} vs torch {}", out.loss, fx.loss);
    // The loss (~0.5–0.9) is a handful of f32 roundings from PyTorch's.
    assert!(
        (out.loss - f64::from(fx.loss)).abs() < 1e-5,
        "{phase}: loss {} vs {}",
        out.loss,
        fx.loss
    );

    let grads = named(&model.valid().map(&mut ToGradients(&out.grads)));
    let before = named(&model.valid());
    let OptimizerConfig::Adamw { lr, beta1, beta2, eps, weight_decay } = OptimizerConfig::default()
    else {
        panic!("AdamW is the default optimizer")
    };
    let mut optim = adamw::init(beta1 as f32, beta2 as f32, eps as f32, weight_decay as f32, None);
    let (model, stepped) = optimizer_step(&mut optim, lr, model, out.grads, None, None);
    assert!(stepped);
    let after = named(&model.valid());

    let mut failures = vec![];
    let largest = |m: &BTreeMap<String, TensorData>| {
        m.values().map(|t| worst(&values(t), &values(t)).1).fold(0.0, f32::max)
    };
    // Gradients: the same sums in other orders (fused BatchNorm, GEMM blocking) over up to
    // 12 frames × 256 positions; measured at most 7e-5 of a tensor's largest entry (cnn_lstm's
    // BatchNorm), a wrong gradient is off by its own size. Parameters whose gradient is 0 by
    // symmetry (attention's key bias, the pooling score's bias) hold rounding noise of 1e-8:
    // hence the floor of 1e-6 of the model's largest gradient.
    let floor = 1e-6 * largest(&fx.grads);
    let tolerance = |scale: f32| 2e-4 * scale + floor;
    for (name, want) in &fx.grads {
        let got = get(&grads, name, phase);
        let (err, scale) = worst(&values(got), &values(want));
        if err > tolerance(scale) {
            failures
                .push(format!("gradient of {name}: off by {err:e} (largest |torch| {scale:e})"));
        }
    }
    // The update: AdamW's first step moves each parameter by lr·(λ·p + g / (|g| + ε)), which
    // is ±lr where |g| ≫ ε. Where PyTorch's gradient g exceeds 10⁻⁵ and 4× our error on it,
    // ours has its sign and the two updates differ by at most lr·ε / (3·|g|) < 4·10⁻⁴·lr;
    // elsewhere (zeros by symmetry, whose noise has either sign) the step is only bounded.
    let mut unsettled = 0;
    let lr32 = lr as f32;
    for (name, want) in &fx.deltas {
        let (got, p) = (values(get(&after, name, phase)), values(get(&before, name, phase)));
        let (g, ours) = (values(&fx.grads[name]), values(get(&grads, name, phase)));
        for (i, want) in values(want).iter().enumerate() {
            let delta = got[i] - p[i];
            let ok = if g[i].abs() > (4.0 * (ours[i] - g[i]).abs()).max(1e-5) {
                (delta - want).abs() <= 1e-3 * lr32
            } else {
                unsettled += 1;
                delta.abs() <= lr32 * (1.0 + weight_decay as f32 * p[i].abs()) * 1.001
            };
            if !ok {
                failures.push(format!("update of {name}[{i}]: {delta:e} vs torch {want:e}"));
                break;
            }
        }
    }
    // Running statistics: a mean and a variance per channel, blended with momentum 0.1.
    for (name, want) in &fx.running {
        let (err, scale) = worst(&values(get(&after, name, phase)), &values(want));
        if err > 1e-5 * scale {
            failures.push(format!("{name}: off by {err:e} (largest {scale:e})"));
        }
    }
    let parameters: usize = fx.deltas.values().map(|t| t.num_elements()).sum();
    println!(
        "{phase}: {} gradients, {parameters} updates ({unsettled} of gradient ~0), {} running statistics compared",
        fx.grads.len(),
        fx.running.len()
    );
    assert!(failures.is_empty(), "{phase} differs from PyTorch:\n  {}", failures.join("\n  "));
}

fn get<'a>(tensors: &'a BTreeMap<String, TensorData>, name: &str, phase: &str) -> &'a TensorData {
    tensors.get(name).unwrap_or_else(|| panic!("{phase}: the model has no `{name}`"))
}

fn swin() -> SwinConfig {
    SwinConfig {
        preset: SwinPreset::Tiny,
        embed_dim: Some(8),
        depths: Some(vec![2, 2, 2]),
        heads: Some(vec![2, 4, 8]),
        window: Some(4),
        patch: Some(4),
        drop_path: Some(0.0),
        ..SwinConfig::default()
    }
}

const HEAD: HeadConfig = HeadConfig { hidden: 16, dropout: 0.0, task: HeadTask::Classify };

fn loaded<M: Module<AD>>(mut module: M, weights: BTreeMap<String, TensorData>, phase: &str) -> M {
    apply_tensors(&mut module, weights, Path::new(phase)).expect("the fixture's weights fit");
    module
}

#[test]
fn a_cnn_lstm_step_matches_pytorch() {
    let device = Default::default();
    let fx = load("cnn_lstm");
    let config = CnnLstmConfig {
        backbone: ResNetConfig::default(),
        lstm: LstmConfig { hidden: 16, layers: 2 },
        readout: Readout::Last,
        head: HEAD,
        freeze: Freeze::None,
        pretrained: None,
    };
    let backbone = ResNetConfig::default().init_with_widths::<AD>(64, [4, 8, 16, 32], &device);
    let model = loaded(CnnLstm::new(&config, backbone, &device), fx.weights.clone(), "cnn_lstm");
    step_like_torch("cnn_lstm", Classifier::CnnLstm(model), fx);
}

#[test]
fn a_swin_global_step_matches_pytorch() {
    let device = Default::default();
    let fx = load("swin_global");
    let config = SwinGlobalConfig {
        backbone: swin(),
        temporal: TemporalConfig { layers: 2, heads: 4, ffn: 32, dropout: 0.0, positions: Some(6) },
        pooling: Pooling::Mean,
        head: HEAD,
        freeze: Freeze::None,
        pretrained: None,
    };
    let model = loaded(config.init::<AD>(32, 4, &device), fx.weights.clone(), "swin_global");
    step_like_torch("swin_global", Classifier::SwinTemporal(model), fx);
}

#[test]
fn a_swin_hybrid_step_matches_pytorch() {
    let device = Default::default();
    let fx = load("swin_hybrid");
    let config = SwinHybridConfig {
        backbone: swin(),
        temporal: HybridTemporalConfig {
            layers: 2,
            heads: 4,
            ffn: 32,
            dropout: 0.0,
            positions: Some(6),
            ..Default::default()
        },
        pooling: Pooling::Attention,
        head: HEAD,
        freeze: Freeze::None,
        pretrained: None,
    };
    let model = loaded(config.init::<AD>(32, 4, &device), fx.weights.clone(), "swin_hybrid");
    step_like_torch("swin_hybrid", Classifier::SwinTemporal(model), fx);
}
