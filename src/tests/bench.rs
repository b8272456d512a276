//! `runner bench models`, `steps` and `data` on workloads small enough for a test: the lines'
//! shape (the PyTorch reference's keys), what they measure, and the CPU build's answer to a
//! CUDA request.

use serde_json::Value;

use super::support::Scratch;

/// `bench`'s JSON lines.
pub(crate) fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

#[test]
fn bench_models_prints_the_reference_keys_for_each_model() {
    let s = Scratch::new();
    let args = [
        "bench",
        "models",
        "--models",
        "swin_hybrid,cnn_lstm",
        "--img",
        "32",
        "--frames",
        "2",
        "--batch",
        "2",
        "--reps",
        "1",
    ];
    let run = s.runner(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = lines(&run.stdout);
    assert_eq!(
        lines.iter().map(|l| l["model"].as_str().unwrap()).collect::<Vec<_>>(),
        ["swin_hybrid", "cnn_lstm"]
    );
    for l in &lines {
        // The PyTorch reference's keys (src/bench/torch_reference.py), with the same values
        // for the workload.
        for key in [
            "framework",
            "model",
            "params",
            "img",
            "frames",
            "batch",
            "threads",
            "train_clips_per_s",
            "infer_clips_per_s",
        ] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert_eq!(
            (l["img"].as_u64(), l["frames"].as_u64(), l["batch"].as_u64()),
            (Some(32), Some(2), Some(2))
        );
        for key in ["train_clips_per_s", "infer_clips_per_s", "peak_rss_mib", "train_tflops_per_s"]
        {
            assert!(l[key].as_f64().unwrap() > 0.0, "{key} in {l}");
        }
        assert!(l["framework"].as_str().unwrap().contains("flex"));
    }
    // Swin-T's parameters do not depend on the frame count; ResNet-18 + LSTM + head are fixed.
    assert_eq!(lines[1]["params"], 13_278_786 + 512 * 512 + 512);
    // Each model is measured apart: the smaller one measured second peaks lower (in one process
    // it would report at least the memory the first one left with the allocator).
    let peak = |l: &Value| l["peak_rss_mib"].as_f64().unwrap();
    assert!(
        peak(&lines[1]) < peak(&lines[0]),
        "cnn_lstm {} MiB, swin_hybrid {} MiB",
        peak(&lines[1]),
        peak(&lines[0])
    );
}

#[test]
fn bench_steps_trains_alike_on_the_same_backend() {
    let s = Scratch::new();
    let args = [
        "bench",
        "steps",
        "--models",
        "cnn_lstm,swin_global",
        "--img",
        "32",
        "--frames",
        "2",
        "--batch",
        "2",
        "--steps",
        "4",
        "--lr",
        "1e-3",
    ];
    let run = s.runner(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for l in lines(&run.stdout) {
        let losses: Vec<f64> = serde_json::from_value(l["losses"].clone()).unwrap();
        assert_eq!(l["cpu_losses"], l["losses"], "CPU against CPU: the same steps, bit for bit");
        assert_eq!(l["max_rel_diff"].as_f64(), Some(0.0));
        assert_eq!(losses.len(), 4);
        // Steps on one fixed batch lower its loss: the weights moved and the step trains.
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{}: {losses:?}", l["model"]);
    }
}

/// `bench steps` at `precision` for every phase's model, four steps at 32 px: each line with
/// its losses and the fp32 losses beside them. The first loss (the same weights) differs from
/// fp32's, by well under 2%.
fn steps_at(precision: &str) -> Vec<(Value, Vec<f64>, Vec<f64>)> {
    let s = Scratch::new();
    let args = [
        "bench",
        "steps",
        "--precision",
        precision,
        "--img",
        "32",
        "--frames",
        "2",
        "--batch",
        "2",
        "--steps",
        "4",
        "--lr",
        "1e-4",
    ];
    let run = s.runner(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = lines(&run.stdout);
    assert_eq!(lines.len(), 3, "every phase's model");
    lines
        .into_iter()
        .map(|l| {
            assert_eq!(l["precision"], precision);
            let losses: Vec<f64> = serde_json::from_value(l["losses"].clone()).unwrap();
            let fp32: Vec<f64> = serde_json::from_value(l["cpu_losses"].clone()).unwrap();
            let first = (losses[0] - fp32[0]).abs() / fp32[0];
            assert!(
                first > 0.0 && first < 0.02,
                "{}: first loss {} against {}",
                l["model"],
                losses[0],
                fp32[0]
            );
            (l, losses, fp32)
        })
        .collect()
}

/// bf16 products round to 8 bits of mantissa: the steps drift apart from fp32's slowly, and
/// stay within the 1–6 % BENCHMARKS.md gives (3.0, 1.3 and 3.3 % here when measured).
#[test]
fn bench_steps_in_bf16_track_the_fp32_steps_closely_but_not_exactly() {
    for (l, losses, _) in steps_at("bf16") {
        let diff = l["max_rel_diff"].as_f64().unwrap();
        assert!(diff > 0.0 && diff < 0.06, "{}: max relative difference {diff}", l["model"]);
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{}: {losses:?}", l["model"]);
    }
}

/// f16 at PyTorch's `GradScaler` defaults (scale 2¹⁶): a step whose gradients overflow is
/// skipped, so the next loss repeats the one before it; the others train as fp32 does.
#[test]
fn bench_steps_in_f16_skip_overflowing_steps_and_otherwise_track_fp32() {
    let mut skipped_in_all = 0;
    for (l, losses, _) in steps_at("f16") {
        let skipped = l["skipped_steps"].as_u64().unwrap();
        let repeats = losses.windows(2).filter(|w| w[1] == w[0]).count() as u64;
        assert_eq!(repeats, skipped, "{}: {losses:?}", l["model"]);
        assert!(losses[3] < losses[0], "{}: {losses:?}", l["model"]);
        skipped_in_all += skipped;
    }
    // ResNet's first gradients overflow f16 at 2¹⁶ here: the scaler has work to do.
    assert!(skipped_in_all > 0);
}

#[test]
fn bench_data_measures_each_stage_on_videos_it_generates_then_removes() {
    let s = Scratch::new();
    let tmp = s.path().to_str().unwrap();
    let args = ["bench", "data", "--videos", "3", "--size", "32", "--frames", "4", "--reads", "25"];
    let run = s.runner(&args, &[("TMPDIR", tmp)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = lines(&run.stdout);
    let metrics: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["metric"].as_str().unwrap(), l["unit"].as_str().unwrap()))
        .collect();
    assert_eq!(
        metrics,
        [
            ("avi_decode_one_core", "frames/s"),
            ("avi_decode_all_cores", "frames/s"),
            ("prepare", "videos/s"),
            ("cache_read_hdf5_one_thread", "clips/s"),
            ("cache_read_hdf5_all_threads", "clips/s"),
            ("cache_read_in_memory_all_threads", "clips/s"),
        ]
    );
    for l in &lines {
        assert_eq!((l["bench"].as_str(), l["videos"].as_u64()), (Some("data"), Some(3)), "{l}");
        assert_eq!((l["size"].as_u64(), l["clip_frames"].as_u64()), (Some(32), Some(4)), "{l}");
        let value = l["value"].as_f64().unwrap();
        assert!(value.is_finite() && value > 0.0, "{l}");
    }
    let left: Vec<_> =
        std::fs::read_dir(s.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().starts_with("echo-runner-bench-")),
        "its scratch folder is left: {left:?}"
    );

    for (flag, value) in [("--videos", "0"), ("--reads", "0"), ("--frames", "29")] {
        let run = s.runner(&["bench", "data", flag, value], &[("TMPDIR", tmp)]);
        assert_eq!(run.code, 2, "{flag} {value}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("'{flag} ")), "{}", run.stderr);
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_cuda_request_on_a_cpu_build_is_refused_with_what_to_do() {
    let s = Scratch::new();
    let run =
        s.runner(&["bench", "models", "--backend", "cuda", "--img", "32", "--frames", "2"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("built without CUDA") && run.stderr.contains("--features cuda"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn a_wgpu_request_on_a_cpu_build_is_refused_with_what_to_do() {
    let s = Scratch::new();
    let run =
        s.runner(&["bench", "steps", "--backend", "wgpu", "--img", "32", "--frames", "2"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("built without wgpu") && run.stderr.contains("--features wgpu"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn bad_bench_options_are_refused_naming_the_flag() {
    let s = Scratch::new();
    let run = s.runner(&["bench", "models", "--swin", "huge"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value 'huge' for '--swin"), "{}", run.stderr);
    // `steps` times nothing, so it takes no repetitions.
    let run = s.runner(&["bench", "steps", "--reps", "2"], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--reps"), "{}", run.stderr);
}
