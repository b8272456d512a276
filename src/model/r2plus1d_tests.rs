//! Tests of R(2+1)D: torchvision parity on `fixtures/r2plus1d.safetensors` (backbone features
//! and logits), parameter counts, FLOPs, freezing, checks.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::tests::{fixture, load_fixture, max_abs_diff};
use super::weights::apply_tensors;
use super::*;

type B = Flex;
type AD = Autodiff<Flex>;

/// The fixture's model: width 8, head 64 → 16 → 2 (see make_r2plus1d_fixture.py).
fn fixture_config() -> R2plus1dConfig {
    R2plus1dConfig {
        width: 8,
        head: HeadConfig { hidden: 16, dropout: 0.4, task: HeadTask::Classify },
        ..Default::default()
    }
}

#[test]
fn r2plus1d_matches_torchvision() {
    let device = Default::default();
    let file = fixture("r2plus1d.safetensors");
    let (mut weights, input, expected) = load_fixture::<5>("r2plus1d.safetensors");
    let features: Tensor<B, 2> =
        Tensor::from_data(weights.remove("features").expect("features"), &device);

    let mut model = fixture_config().init::<B>(&device);
    let report = model.backbone.load_pretrained(&file).expect("load");
    assert_eq!(report.unused, ["expected", "features", "input"]);
    assert_eq!(report.left_out, ["fc.fc1.bias", "fc.fc1.weight", "fc.fc2.bias", "fc.fc2.weight"]);
    // Stem: 2 convolutions and 2 BNs (4 tensors each: scale, shift, running mean and
    // variance); 8 blocks of 4 convolutions and 4 BNs; 3 downsamples of one of each.
    assert_eq!(report.applied, 2 + 2 * 4 + 8 * (4 + 4 * 4) + 3 * (1 + 4));

    let err = max_abs_diff(model.backbone.forward(input.clone()), features);
    println!("r2plus1d features: max abs err {err:e}");
    assert!(err < 1e-4, "features: max abs err {err}");

    let head: BTreeMap<String, TensorData> = weights
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("fc.")?.to_string(), v)))
        .collect();
    apply_tensors(&mut model.head, head, Path::new("r2plus1d head")).expect("head");
    let err = max_abs_diff(model.forward(input.permute([0, 2, 1, 3, 4])), expected);
    println!("r2plus1d logits: max abs err {err:e}");
    assert!(err < 1e-4, "logits: max abs err {err}");
}

#[test]
fn r2plus1d_parameter_counts_equal_torchvision() {
    let device = Default::default();
    let config = R2plus1dConfig::default();
    assert_eq!(config.widths(), (45, [64, 128, 256, 512]));
    assert_eq!([midplanes(64, 64), midplanes(64, 128), midplanes(128, 128)], [144, 230, 288]);
    // torchvision's r2plus1d_18 (fc 512 → 400) and with the default head in place of its fc,
    // as make_r2plus1d_fixture.py prints them.
    let backbone = count_params(&config.init_backbone::<B>(&device));
    assert_eq!(backbone + 512 * 400 + 400, 31_505_325);
    let model = ModelConfig::R2plus1d(config.clone());
    assert_eq!(count_params(&model.init::<B>(112, 16, &device)), 31_563_807);
    // echonet/dynamic's regressor: torchvision's net with `fc = Linear(512, 1)`, which a head
    // of no hidden layer and one output is.
    let head = HeadConfig { hidden: 0, dropout: 0.0, task: HeadTask::RegressEf };
    let echonet = ModelConfig::R2plus1d(R2plus1dConfig { head, ..config });
    let want = 31_505_325 - (512 * 400 + 400) + (512 + 1);
    assert_eq!(count_params(&echonet.init::<B>(112, 16, &device)), want);
    assert_eq!(summary(&echonet, 112, 16).expect("valid").total_params, want);
}

/// A regression head gives one output per clip, which starts at the bias it is given (the
/// training set's mean EF) when the features carry nothing.
#[test]
fn a_regression_head_outputs_one_ef_per_clip_from_its_bias() {
    let device = Default::default();
    let head = HeadConfig { hidden: 0, dropout: 0.0, task: HeadTask::RegressEf };
    let narrow = ModelConfig::R2plus1d(R2plus1dConfig { width: 8, head, ..Default::default() });
    let model = narrow.init::<B>(32, 4, &device).with_output_bias(57.25);
    let clips = Tensor::<B, 5>::random([3, 4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let out = model.forward(clips);
    assert_eq!(out.dims(), [3, 1]);
    let Classifier::R2plus1d(m) = &model else { panic!("an R(2+1)D") };
    let bias = m.head.fc2.bias.as_ref().expect("a bias").val().into_data().to_vec::<f32>().unwrap();
    assert_eq!(bias, [57.25]);
    // Zero features give exactly the bias.
    let zero = m.head.forward(Tensor::<B, 2>::zeros([2, m.backbone.num_features], &device));
    assert_eq!(zero.into_data().to_vec::<f32>().unwrap(), [57.25, 57.25]);
    // And the bias still trains.
    let trained = narrow.init::<AD>(32, 4, &device).with_output_bias(57.25);
    let clips = Tensor::<AD, 5>::random([2, 4, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
    let grads = trained.forward(clips).sum().backward();
    let Classifier::R2plus1d(m) = &trained else { panic!("an R(2+1)D") };
    let bias = m.head.fc2.bias.as_ref().expect("a bias");
    assert!(bias.is_require_grad() && bias.grad(&grads).is_some(), "the EF bias gets no gradient");
}

#[test]
fn r2plus1d_summary_counts_torchvisions_flops() {
    let model = ModelConfig::R2plus1d(R2plus1dConfig::default());
    // torchvision documents 40.52 GFLOPS (multiply-adds) for r2plus1d_18 at 16 × 112².
    let s = summary(&model, 112, 16).expect("valid");
    assert!((s.gflops_per_clip / 2.0 - 40.52).abs() < 0.1, "{}", s.gflops_per_clip);
    assert_eq!(s.total_params, 31_563_807);
    assert_eq!(s.trainable_params, s.total_params);
}

#[test]
fn r2plus1d_maps_clips_to_logits_and_freezes_its_stages() {
    let device = Default::default();
    let narrow = R2plus1dConfig { width: 8, ..Default::default() };
    let config = ModelConfig::R2plus1d(narrow.clone());
    // An odd clip length and frame size: ⌈·/2⌉ at each stride.
    let (model, report) = build::<B>(&config, 21, 5, &device).expect("build");
    assert!(report.is_none());
    let clips = Tensor::<B, 5>::random([2, 5, 3, 21, 21], Distribution::Default, &device);
    let logits = model.forward(clips).into_data().to_vec::<f32>().expect("f32");
    assert_eq!(logits.len(), 4);
    assert!(logits.iter().all(|v| v.is_finite()));

    for freeze in [Freeze::AllButLastStage, Freeze::None, Freeze::Backbone] {
        let model = config.init::<AD>(16, 4, &device).freeze(freeze);
        let counts = model.param_counts(freeze);
        assert_eq!(ParamCounts::measured(&model), counts, "{freeze:?}");
        let Classifier::R2plus1d(m) = &model else { panic!("r2plus1d model") };
        let (backbone, last) = (count_params(&m.backbone), count_params(&m.backbone.layer4));
        let expected = match freeze {
            Freeze::None => counts.total,
            Freeze::Backbone => counts.total - backbone,
            Freeze::AllButLastStage => counts.total - backbone + last,
        };
        assert_eq!(counts.trainable, expected, "{freeze:?}");
    }
    let model = config.init::<AD>(16, 4, &device).freeze(Freeze::AllButLastStage);
    let clips = Tensor::<AD, 5>::random([1, 4, 3, 16, 16], Distribution::Default, &device);
    let grads = model.forward(clips).sum().backward();
    let Classifier::R2plus1d(m) = &model else { panic!("r2plus1d model") };
    assert!(m.backbone.stem.spatial.weight.grad(&grads).is_none());
    assert!(m.backbone.layer3[1].conv2.temporal.weight.grad(&grads).is_none());
    assert!(m.backbone.layer4[0].conv1.spatial.weight.grad(&grads).is_some());
    assert!(m.backbone.layer4[0].downsample.as_ref().unwrap().conv.weight.grad(&grads).is_some());
    assert!(m.head.fc2.weight.grad(&grads).is_some());
}

#[test]
fn r2plus1d_pretrained_files_are_checked() {
    let with = |width, file: &Path| {
        ModelConfig::R2plus1d(R2plus1dConfig {
            width,
            pretrained: Some(file.to_path_buf()),
            ..Default::default()
        })
    };
    let resnet = fixture("resnet.safetensors");
    let violations = with(64, &resnet).check(32, 4);
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].pointer, "/model/pretrained");
    assert!(violations[0].message.contains("holds a ResNet"), "{}", violations[0].message);
    let pointers: Vec<String> = with(8, &fixture("r2plus1d.safetensors"))
        .check(32, 4)
        .into_iter()
        .map(|v| v.pointer)
        .collect();
    assert_eq!(pointers, ["/model/width"]);
    // The fixture's width-8 weights do not fit the full-width backbone: named, not panicking.
    let mut full = R2plus1dConfig::default().init_backbone::<B>(&Default::default());
    let err = full.load_pretrained(&fixture("r2plus1d.safetensors")).expect_err("mismatch");
    assert!(err.to_string().contains("stem.spatial.weight"), "{err}");
}
