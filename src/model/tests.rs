//! Tests of the model stage: PyTorch parity on the fixtures of `fixtures/`, parameter counts
//! against timm, freezing, checks and errors, the summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;

use super::weights::{apply_tensors, read_safetensors};
use super::*;

type B = Flex;
type AD = Autodiff<Flex>;

pub(super) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model/fixtures").join(name)
}

/// The fixture's weights, and its `input` / `expected` tensors.
pub(super) fn load_fixture<const D: usize>(
    name: &str,
) -> (BTreeMap<String, TensorData>, Tensor<B, D>, Tensor<B, 2>) {
    let mut tensors = read_safetensors(&fixture(name)).expect("fixture");
    let input = tensors.remove("input").expect("input");
    let expected = tensors.remove("expected").expect("expected");
    let device = Default::default();
    (tensors, Tensor::from_data(input, &device), Tensor::from_data(expected, &device))
}

pub(super) fn max_abs_diff(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    println!("  reference max |y| {}", b.clone().abs().max().into_scalar());
    (a - b).abs().max().into_scalar()
}

/// Swin-T's layout with the fixtures' reduced widths (see make_parity_fixtures.py).
fn reduced_swin() -> SwinConfig {
    SwinConfig {
        preset: SwinPreset::Tiny,
        embed_dim: Some(8),
        depths: Some(vec![2, 2, 2, 2]),
        heads: Some(vec![2, 2, 4, 8]),
        ..SwinConfig::default()
    }
}

fn swin_parity(img: usize) -> f32 {
    let device = Default::default();
    let (_, input, expected) = load_fixture::<4>(&format!("swin_{img}.safetensors"));
    let mut swin = reduced_swin().init::<B>(img, &device);
    let report = swin.load_pretrained(&fixture(&format!("swin_{img}.safetensors"))).expect("load");
    assert_eq!(report.unused, vec!["expected".to_string(), "input".to_string()]);
    max_abs_diff(swin.forward(input), expected)
}

#[test]
fn swin_matches_timm_at_224_112_and_120() {
    for img in [224, 112, 120] {
        let err = swin_parity(img);
        println!("swin parity at {img}: max abs err {err:e}");
        assert!(err < 1e-4, "swin at {img}: max abs err {err}");
    }
}

#[test]
fn resnet_matches_timm() {
    let device = Default::default();
    let (_, input, expected) = load_fixture::<4>("resnet.safetensors");
    let mut resnet = ResNetConfig::default().init_with_widths::<B>(64, [8, 16, 32, 64], &device);
    resnet.load_pretrained(&fixture("resnet.safetensors")).expect("load");
    let err = max_abs_diff(resnet.forward(input), expected);
    println!("resnet parity: max abs err {err:e}");
    assert!(err < 1e-4, "max abs err {err}");
}

fn lstm_config() -> CnnLstmConfig {
    CnnLstmConfig {
        backbone: ResNetConfig::default(),
        lstm: LstmConfig { hidden: 32, layers: 2 },
        readout: Readout::Last,
        head: HeadConfig { hidden: 16, dropout: 0.4, task: HeadTask::Classify },
        freeze: Freeze::None,
        pretrained: None,
    }
}

#[test]
fn cnn_lstm_matches_pytorch() {
    let device = Default::default();
    let (weights, clips, expected) = load_fixture::<5>("cnn_lstm.safetensors");
    let backbone = ResNetConfig::default().init_with_widths::<B>(64, [8, 16, 32, 64], &device);
    let mut model = CnnLstm::new(&lstm_config(), backbone, &device);
    apply_tensors(&mut model, weights, Path::new("cnn_lstm")).expect("load");
    let err = max_abs_diff(model.forward(clips), expected);
    println!("cnn_lstm parity: max abs err {err:e}");
    assert!(err < 1e-4, "max abs err {err}");
}

#[test]
fn swin_global_matches_pytorch() {
    let device = Default::default();
    let (weights, clips, expected) = load_fixture::<5>("swin_global.safetensors");
    let config = SwinGlobalConfig {
        backbone: reduced_swin(),
        temporal: TemporalConfig { layers: 2, heads: 4, ffn: 32, dropout: 0.1, positions: Some(6) },
        pooling: Pooling::Mean,
        head: HeadConfig { hidden: 16, dropout: 0.4, task: HeadTask::Classify },
        freeze: Freeze::None,
        pretrained: None,
    };
    let mut model = config.init::<B>(64, 5, &device);
    apply_tensors(&mut model, weights, Path::new("swin_global")).expect("load");
    let err = max_abs_diff(model.forward(clips), expected);
    println!("swin_global parity: max abs err {err:e}");
    assert!(err < 1e-4, "max abs err {err}");
}

#[test]
fn swin_hybrid_matches_pytorch() {
    let device = Default::default();
    let (weights, clips, expected) = load_fixture::<5>("swin_hybrid.safetensors");
    let config = SwinHybridConfig {
        backbone: reduced_swin(),
        temporal: HybridTemporalConfig {
            layers: 2,
            heads: 4,
            ffn: 32,
            positions: Some(6),
            ..Default::default()
        },
        pooling: Pooling::Attention,
        head: HeadConfig { hidden: 16, dropout: 0.4, task: HeadTask::Classify },
        freeze: Freeze::None,
        pretrained: None,
    };
    let mut model = config.init::<B>(64, 5, &device);
    apply_tensors(&mut model, weights, Path::new("swin_hybrid")).expect("load");
    let err = max_abs_diff(model.forward(clips), expected);
    println!("swin_hybrid parity: max abs err {err:e}");
    assert!(err < 1e-4, "max abs err {err}");
}

#[test]
fn parameter_counts_equal_timm() {
    let device = Default::default();
    let swin = |preset| {
        count_params(&SwinConfig { preset, ..SwinConfig::default() }.init::<B>(224, &device))
    };
    // timm's swin_{tiny,small,base}_patch4_window7_224 less their 1000-class heads.
    assert_eq!(swin(SwinPreset::Tiny), 27_519_354);
    assert_eq!(swin(SwinPreset::Small), 48_837_258);
    assert_eq!(swin(SwinPreset::Base), 86_743_224);
    let resnet =
        |depth| count_params(&ResNetConfig { depth, ..ResNetConfig::default() }.init::<B>(&device));
    assert_eq!(resnet(ResNetDepth::R18), 11_176_512);
    assert_eq!(resnet(ResNetDepth::R34), 21_284_672);
}

#[test]
fn stage_plans_follow_timm() {
    let tiny = SwinConfig { preset: SwinPreset::Tiny, ..SwinConfig::default() };
    let plan = |img| {
        let stages = tiny.stages(img).expect("valid");
        stages.iter().map(|s| (s.res, s.window, s.shift)).collect::<Vec<_>>()
    };
    assert_eq!(plan(224), [(56, 7, 3), (28, 7, 3), (14, 7, 3), (7, 7, 0)]);
    // As timm 1.0.31 builds swin_tiny at img_size=112.
    assert_eq!(plan(112), [(28, 7, 3), (14, 7, 3), (7, 7, 0), (4, 4, 0)]);
    assert_eq!(plan(120), [(30, 7, 3), (15, 7, 3), (8, 7, 3), (4, 4, 0)]);
}

fn micro_global() -> ModelConfig {
    ModelConfig::SwinGlobal(SwinGlobalConfig {
        backbone: SwinConfig { preset: SwinPreset::Micro, ..SwinConfig::default() },
        temporal: TemporalConfig { ffn: 32, ..Default::default() },
        pooling: Pooling::Max,
        head: HeadConfig { hidden: 8, dropout: 0.4, task: HeadTask::Classify },
        freeze: Freeze::AllButLastStage,
        pretrained: None,
    })
}

#[test]
fn every_phase_maps_clips_to_two_logits() {
    let device = Default::default();
    let hybrid = ModelConfig::SwinHybrid(SwinHybridConfig {
        backbone: SwinConfig { preset: SwinPreset::Micro, ..SwinConfig::default() },
        temporal: HybridTemporalConfig {
            paths: HybridPaths::ConvOnly,
            dwconv_kernel: 5,
            ..Default::default()
        },
        pooling: Pooling::Attention,
        head: HeadConfig::default(),
        freeze: Freeze::Backbone,
        pretrained: None,
    });
    let lstm = ModelConfig::CnnLstm(CnnLstmConfig { readout: Readout::Mean, ..lstm_config() });
    let clips =
        Tensor::<B, 5>::random([2, 3, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    for config in [micro_global(), hybrid, lstm] {
        assert!(config.check(32, 3).is_empty());
        let (model, report) = build::<B>(&config, 32, 3, &device).expect("build");
        assert!(report.is_none());
        let logits = model.forward(clips.clone());
        assert_eq!(logits.dims(), [2, 2]);
        let values = logits.into_data().to_vec::<f32>().expect("f32");
        assert!(values.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn frozen_parameters_get_no_gradients_and_counts_agree() {
    let device = Default::default();
    let config = micro_global();
    for freeze in [Freeze::AllButLastStage, Freeze::None, Freeze::Backbone] {
        let model = config.init::<AD>(32, 2, &device).freeze(freeze);
        let structural = model.param_counts(freeze);
        assert_eq!(ParamCounts::measured(&model), structural, "{freeze:?}");
        let Classifier::SwinTemporal(m) = &model else { panic!("swin model") };
        let backbone = count_params(&m.backbone);
        let last = count_params(&m.backbone.layers[3]) + count_params(&m.backbone.norm);
        let expected_trainable = match freeze {
            Freeze::None => structural.total,
            Freeze::Backbone => structural.total - backbone,
            Freeze::AllButLastStage => structural.total - backbone + last,
        };
        assert_eq!(structural.trainable, expected_trainable, "{freeze:?}");
    }

    let model = config.init::<AD>(32, 2, &device).freeze(Freeze::AllButLastStage);
    let clips =
        Tensor::<AD, 5>::random([1, 2, 3, 32, 32], burn::tensor::Distribution::Default, &device);
    let grads = model.forward(clips).sum().backward();
    let Classifier::SwinTemporal(m) = &model else { panic!("swin model") };
    assert!(m.backbone.patch_embed.proj.weight.grad(&grads).is_none());
    assert!(m.backbone.layers[0].blocks[0].attn.qkv.weight.grad(&grads).is_none());
    assert!(m.backbone.layers[3].blocks[0].attn.qkv.weight.grad(&grads).is_some());
    assert!(m.backbone.norm.gamma.grad(&grads).is_some());
    assert!(m.head.fc1.as_ref().expect("a hidden layer").weight.grad(&grads).is_some());

    let resnet = ResNetConfig::default().init::<AD>(&device).freeze(Freeze::AllButLastStage);
    let layer4 = count_params(&resnet.layer4);
    assert_eq!(
        ParamCounts::measured(&resnet),
        ParamCounts { total: 11_176_512, trainable: layer4 }
    );
}

fn pointers(config: &ModelConfig, img: usize, frames: usize) -> Vec<String> {
    config.check(img, frames).into_iter().map(|v| v.pointer).collect()
}

#[test]
fn bad_configurations_are_located() {
    let mut config = micro_global();
    assert_eq!(pointers(&config, 30, 4), ["/model/backbone/patch"]);
    if let ModelConfig::SwinGlobal(c) = &mut config {
        c.backbone.heads = Some(vec![1, 2, 3, 8]);
        c.temporal.heads = 5;
        c.temporal.positions = Some(3);
    }
    assert_eq!(
        pointers(&config, 32, 4),
        ["/model/backbone/heads", "/model/temporal/heads", "/model/temporal/positions"]
    );
    let hybrid = ModelConfig::SwinHybrid(SwinHybridConfig {
        backbone: SwinConfig { preset: SwinPreset::Micro, ..SwinConfig::default() },
        temporal: HybridTemporalConfig { dwconv_kernel: 4, ..Default::default() },
        pooling: Pooling::Mean,
        head: HeadConfig::default(),
        freeze: Freeze::None,
        pretrained: None,
    });
    assert_eq!(pointers(&hybrid, 32, 4), ["/model/temporal/dwconv_kernel"]);
    let err = build::<B>(&hybrid, 32, 4, &Default::default()).expect_err("invalid");
    assert!(err.to_string().contains("/model/temporal/dwconv_kernel"), "{err}");
}

#[test]
fn unusable_pretrained_files_are_named_in_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").expect("write");
    let missing = dir.path().join("missing.safetensors");
    let resnet_file = fixture("resnet.safetensors");
    let device = Default::default();

    let with_pretrained = |file: &Path| {
        let mut config = micro_global();
        if let ModelConfig::SwinGlobal(c) = &mut config {
            c.pretrained = Some(file.to_path_buf());
        }
        config
    };
    for (file, needle) in [
        (&missing, "cannot read"),
        (&garbage, "not a safetensors file"),
        (&resnet_file, "holds a ResNet"),
    ] {
        let violations = with_pretrained(file).check(32, 2);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].pointer, "/model/pretrained");
        let message = &violations[0].message;
        assert!(
            message.contains(needle) && message.contains(&file.display().to_string()),
            "{message}"
        );
    }

    // A Swin file of other dimensions: every mismatching tensor is listed.
    let mut swin =
        SwinConfig { preset: SwinPreset::Micro, ..SwinConfig::default() }.init::<B>(224, &device);
    let err = swin.load_pretrained(&fixture("swin_224.safetensors")).expect_err("mismatch");
    let message = err.to_string();
    assert!(
        message.contains("swin_224.safetensors") && message.contains("patch_embed.proj.weight"),
        "{message}"
    );
}

#[test]
fn pretrained_bias_tables_are_cropped_to_smaller_windows() {
    // A 3×3 table (window 2) of one head holding its row index; window 1 keeps the centre.
    let table = TensorData::new((0..9).map(|v| v as f32).collect::<Vec<_>>(), [9, 1]);
    let cropped = super::weights::crop_bias_table(table, [1, 1]);
    assert_eq!(cropped.to_vec::<f32>().expect("f32"), [4.0]);
    // 5×5 (window 3) → 3×3 (window 2): rows 6, 7, 8, 11, 12, 13, 16, 17, 18.
    let table = TensorData::new((0..25).map(|v| v as f32).collect::<Vec<_>>(), [25, 1]);
    let cropped = super::weights::crop_bias_table(table, [9, 1]);
    assert_eq!(
        cropped.to_vec::<f32>().expect("f32"),
        [6.0, 7.0, 8.0, 11.0, 12.0, 13.0, 16.0, 17.0, 18.0]
    );
}

#[test]
fn summary_counts_parameters_and_flops() {
    let tiny = ModelConfig::SwinGlobal(SwinGlobalConfig {
        backbone: SwinConfig { preset: SwinPreset::Tiny, ..SwinConfig::default() },
        temporal: TemporalConfig::default(),
        pooling: Pooling::Mean,
        head: HeadConfig::default(),
        freeze: Freeze::AllButLastStage,
        pretrained: None,
    });
    // One frame: timm/fvcore report 4.5 GMACs for swin_tiny at 224 (backbone only).
    let one = summary(&tiny, 224, 1).expect("valid");
    assert!((one.gflops_per_clip / 2.0 - 4.5).abs() < 0.15, "{}", one.gflops_per_clip);
    let s = summary(&tiny, 224, 60).expect("valid");
    assert!(s.gflops_per_clip > 59.0 * one.gflops_per_clip);
    let temporal = phase_2_temporal_params(768, 512, 2, 60);
    let head = 768 * 512 + 512 + 512 * 2 + 2;
    assert_eq!(s.total_params, 27_519_354 + temporal + head);
    // all_but_last_stage: timm's layers.3 (patch merging 384 → 768: LayerNorm(1536) and a
    // bias-free Linear(1536, 768); 2 blocks at 768 with 24 heads, window 7) and norm train.
    let merging = 2 * 1536 + 1536 * 768;
    let block = 2 * 768 + (768 * 2304 + 2304) + (768 * 768 + 768) + 169 * 24 + 2 * 768;
    let last_stage = merging + 2 * (block + (768 * 3072 + 3072) + (3072 * 768 + 768)) + 2 * 768;
    assert_eq!(s.trainable_params, last_stage + temporal + head);

    let lstm = ModelConfig::CnnLstm(CnnLstmConfig {
        lstm: LstmConfig::default(),
        head: HeadConfig::default(),
        ..lstm_config()
    });
    let one = summary(&lstm, 224, 1).expect("valid");
    // torchvision: ResNet-18 1.82 GMACs at 224.
    assert!((one.gflops_per_clip / 2.0 - 1.82).abs() < 0.05, "{}", one.gflops_per_clip);
    let lstm_params = 4 * (512 * 512 + 512 * 512 + 2 * 512);
    let head_params = 512 * 512 + 512 + 512 * 2 + 2;
    assert_eq!(one.total_params, 11_176_512 + lstm_params + head_params);
    assert_eq!(one.trainable_params, one.total_params);
    assert!(summary(&micro_global(), 30, 4).is_err());
}

/// PyTorch's counts: `nn.MultiheadAttention(d)` 4d² + 4d, `nn.LayerNorm(d)` 2d,
/// `nn.Linear(a, b)` ab + b, `nn.BatchNorm1d(d)` 2d, a depth-wise `nn.Conv1d(d, d, k)` dk + d.
fn attention(d: usize) -> usize {
    4 * d * d + 4 * d
}

fn ffn(d: usize, f: usize) -> usize {
    (d * f + f) + (f * d + d)
}

/// Positions `[1, T, d]`, `layers` × `TransformerEncoderLayer(norm_first=True)`, final LayerNorm.
fn phase_2_temporal_params(d: usize, f: usize, layers: usize, frames: usize) -> usize {
    frames * d + layers * (2 * d + attention(d) + 2 * d + ffn(d, f)) + 2 * d
}

#[test]
fn phase_3_parameter_count_is_swin_base_plus_the_seed_layers_in_pytorch() {
    let (d, f, k, frames) = (1024, 512, 3, 16);
    let config = ModelConfig::SwinHybrid(SwinHybridConfig {
        backbone: SwinConfig { preset: SwinPreset::Base, ..SwinConfig::default() },
        temporal: HybridTemporalConfig::default(),
        pooling: Pooling::Mean,
        head: HeadConfig::default(),
        freeze: Freeze::None,
        pretrained: None,
    });
    let s = summary(&config, 224, frames).expect("valid");
    // x + MHSA(LN1(x)) + DWConv(x), DWConv = Conv1d_dw(BN1d(GELU(x))); then x + FFN(LN2(x)).
    let hybrid = 2 * d + attention(d) + (2 * d + d * k + d) + 2 * d + ffn(d, f);
    let temporal = frames * d + 2 * hybrid + 2 * d;
    let head = d * 512 + 512 + 512 * 2 + 2;
    assert_eq!(s.total_params, 86_743_224 + temporal + head);
    assert_eq!(s.trainable_params, s.total_params);
}

/// `tensors` as a safetensors file of `dtype` ("F32", "F16" or "BF16"), written by hand.
fn write_safetensors(path: &Path, tensors: &BTreeMap<String, TensorData>, dtype: &str) {
    use burn::tensor::{bf16, f16};
    let (mut header, mut data) = (serde_json::Map::new(), Vec::new());
    for (name, t) in tensors {
        let values = t.to_vec::<f32>().expect("f32");
        let start = data.len();
        for v in values {
            match dtype {
                "F32" => data.extend(v.to_le_bytes()),
                "F16" => data.extend(f16::from_f32(v).to_le_bytes()),
                _ => data.extend(bf16::from_f32(v).to_le_bytes()),
            }
        }
        let shape = t.shape.as_slice();
        let entry = serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]});
        header.insert(name.clone(), entry);
    }
    let mut json = serde_json::to_vec(&header).expect("json");
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend(json);
    bytes.extend(data);
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn half_precision_weight_files_load_as_their_values_in_f32() {
    use burn::tensor::{bf16, f16};
    // The bit patterns of 1.0 and -2.5 in each format, as IEEE 754 and bfloat16 define them.
    assert_eq!(f16::from_f32(1.0).to_bits(), 0x3C00);
    assert_eq!(bf16::from_f32(-2.5).to_bits(), 0xC020);
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Default::default();
    let (weights, input, expected) = load_fixture::<4>("resnet.safetensors");
    let resnet = || ResNetConfig::default().init_with_widths::<B>(64, [8, 16, 32, 64], &device);
    let mut outputs = BTreeMap::new();
    for (dtype, round) in [
        ("F32", (|v| v) as fn(f32) -> f32),
        ("F16", |v| f16::from_f32(v).to_f32()),
        ("BF16", |v| bf16::from_f32(v).to_f32()),
    ] {
        let file = dir.path().join(format!("resnet-{dtype}.safetensors"));
        write_safetensors(&file, &weights, dtype);
        let read = read_safetensors(&file).expect("read");
        for (name, t) in &weights {
            let want: Vec<f32> = t.to_vec::<f32>().unwrap().into_iter().map(round).collect();
            assert_eq!(read[name].to_vec::<f32>().unwrap(), want, "{dtype} {name}");
        }
        let mut model = resnet();
        let report = model.load_pretrained(&file).expect("load");
        assert!(report.unused.is_empty() && report.applied > 0, "{dtype}: {report:?}");
        outputs.insert(dtype, max_abs_diff(model.forward(input.clone()), expected.clone()));
    }
    // fp32 is the parity result; halves round the weights (f16 to 11 bits, bf16 to 8).
    assert!(outputs["F32"] < 1e-4, "{outputs:?}");
    assert!(outputs["F32"] <= outputs["F16"] && outputs["F16"] < outputs["BF16"], "{outputs:?}");
    let scale = expected.abs().max().into_scalar();
    assert!(outputs["BF16"] < 0.05 * scale, "{outputs:?} against max |y| {scale}");
}
