//! The GPU code path on wgpu (lavapipe in CI: `.ci/wgpu-test`), against the CPU: the first
//! training steps of every model, a tiny experiment killed with SIGKILL and resumed, and
//! `predict`. The tolerances are BENCHMARKS.md's ("wgpu against the CPU").

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bench::lines;
use crate::support::{Run, Scratch, VALID};
use crate::trained::read_json;

/// Largest relative difference between a wgpu step's loss and the CPU's. The first loss (same
/// weights, same batch) differs by float rounding only (4e-7 measured for cnn_lstm on
/// lavapipe); AdamW's update divides by the gradients' RMS, so rounding-level differences
/// grow with each step (3.6e-3 by the third at lr 1e-3).
const STEP_TOL: f64 = 1e-2;
/// Largest difference between a test video's P(abnormal) after training on wgpu and on the
/// CPU.
const TRAINED_TOL: f64 = 1e-3;
/// Largest difference between `predict`'s P(abnormal) on wgpu and on the CPU, same weights.
const PREDICT_TOL: f64 = 1e-5;

/// VALID at 32 px and 4 frames, two folds of two epochs of two-clip batches: several batches
/// and checkpoints per fold, small enough for a software Vulkan driver.
const TINY: [&str; 10] = [
    "--set",
    "cv.folds=2",
    "--set",
    "train.epochs=2",
    "--set",
    "train.batch_size=2",
    "--set",
    "data.resize=32",
    "--set",
    "data.clip.frames=4",
];

#[test]
fn wgpu_steps_of_every_model_track_the_cpu_steps() {
    let s = Scratch::new();
    let args = [
        "bench",
        "steps",
        "--backend",
        "wgpu",
        "--models",
        "cnn_lstm,swin_global,swin_hybrid,r2plus1d",
        "--swin",
        "micro",
        "--img",
        "32",
        "--frames",
        "4",
        "--batch",
        "2",
        "--steps",
        "3",
        "--lr",
        "1e-3",
    ];
    let run = s.runner(&args, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("wgpu adapter 0:"), "the adapter is not named:\n{}", run.stderr);
    let lines = lines(&run.stdout);
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for l in &lines {
        let model = l["model"].as_str().unwrap();
        let losses: Vec<f64> = serde_json::from_value(l["losses"].clone()).unwrap();
        let cpu: Vec<f64> = serde_json::from_value(l["cpu_losses"].clone()).unwrap();
        assert_eq!(losses.len(), 3, "{l}");
        let diff = l["max_rel_diff"].as_f64().unwrap();
        assert!(diff <= STEP_TOL, "{model}: wgpu {losses:?}, CPU {cpu:?}: {diff} > {STEP_TOL}");
        // The same weights and batch, on two backends: the steps train on both.
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{model}: {losses:?}");
        assert!(l["framework"].as_str().unwrap().contains("wgpu"), "{l}");
    }
}

/// The tiny experiment's result directory in `s`, trained to the end: on the CPU in one go,
/// on wgpu killed at the 4th batch of every attempt until it finishes. Returns the directory
/// and how many attempts were killed.
fn train_tiny(s: &Scratch, backend: &str) -> (PathBuf, usize) {
    s.write("e.toml", VALID);
    let set = format!("runtime.backend={backend}");
    let mut args = vec!["run", "e.toml", "--set", &set];
    args.extend(TINY);
    let crash: &[(&str, &str)] =
        if backend == "cpu" { &[] } else { &[("ECHO_RUNNER_CRASH_AT", "batch:4")] };
    let mut killed = 0;
    let mut done = None;
    for _ in 0..30 {
        let r = s.runner(&args, crash);
        match r.code {
            0 => {
                done = Some(r);
                break;
            }
            -1 => killed += 1,
            code => panic!("{backend}: exit {code}: {}", r.stderr),
        }
    }
    let done: Run = done.unwrap_or_else(|| panic!("{backend}: not done in 30 attempts"));
    let dirs = s.result_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}: {}", done.stdout);
    (s.path().join("results").join(&dirs[0]), killed)
}

fn probs(fold: &Value) -> Vec<f64> {
    serde_json::from_value(fold["test_prob"].clone()).expect("test_prob")
}

#[test]
fn a_tiny_experiment_killed_and_resumed_on_wgpu_ends_near_the_cpu_run() {
    let (cpu_scratch, wgpu_scratch) = (Scratch::new(), Scratch::new());
    let (cpu, _) = train_tiny(&cpu_scratch, "cpu");
    let (gpu, killed) = train_tiny(&wgpu_scratch, "wgpu");
    assert!(killed >= 2, "only {killed} attempts were killed");
    assert!(std::fs::read_to_string(gpu.join("train.log")).unwrap().contains("resuming at epoch"));
    // One experiment, whichever backend trained it: the same directory name.
    assert_eq!(cpu.file_name(), gpu.file_name());
    for k in 0..2 {
        let metrics = |dir: &Path| read_json(&dir.join(format!("fold-{k}/metrics.json")));
        let (c, g) = (metrics(&cpu), metrics(&gpu));
        assert_eq!(c["test_videos"], g["test_videos"]);
        let (pc, pg) = (probs(&c), probs(&g));
        assert_eq!(pc.len(), pg.len());
        let worst = pc.iter().zip(&pg).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst <= TRAINED_TOL, "fold {k}: CPU {pc:?}, wgpu {pg:?}");
        // The test figures follow from those probabilities: where none lies within twice the
        // tolerance of another or of the threshold, ranks and classes are the same on both.
        let threshold = c["test"]["threshold"].as_f64().unwrap();
        let near = |x: f64, y: f64| (x - y).abs() <= 2.0 * TRAINED_TOL;
        let tie = pc
            .iter()
            .enumerate()
            .any(|(i, &a)| near(a, threshold) || pc[i + 1..].iter().any(|&b| near(a, b)));
        if !tie {
            for figure in ["auroc", "confusion"] {
                assert_eq!(c["test"][figure], g["test"][figure], "fold {k}: test.{figure}");
            }
        }
    }
    // `predict` on wgpu with the wgpu-trained weights gives what the CPU computes from them.
    let fold = read_json(&gpu.join("fold-0/metrics.json"));
    let root =
        read_json(&gpu.join("data-report.json"))["data"]["root"].as_str().unwrap().to_owned();
    let videos: Vec<String> = fold["test_videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{root}/Videos/{}.avi", n.as_str().unwrap()))
        .collect();
    let predicted = |backend: &str| {
        let csv = format!("pred-{backend}.csv");
        let dir = gpu.to_str().unwrap();
        let mut args = vec!["predict", dir, "--fold", "0", "--backend", backend, "--csv", &csv];
        args.extend(videos.iter().map(String::as_str));
        let run = wgpu_scratch.runner(&args, &[]);
        assert_eq!(run.code, 0, "predict --backend {backend}: {}", run.stderr);
        csv::Reader::from_path(wgpu_scratch.path().join(&csv))
            .unwrap()
            .records()
            .map(|r| {
                let r = r.unwrap();
                let contributions: Vec<f64> = r[8].split(' ').map(|x| x.parse().unwrap()).collect();
                (r[2].parse::<f64>().unwrap(), contributions)
            })
            .collect::<Vec<_>>()
    };
    let (on_cpu, on_wgpu) = (predicted("cpu"), predicted("wgpu"));
    assert_eq!(on_cpu.len(), videos.len());
    for (i, ((pc, cc), (pg, cg))) in on_cpu.iter().zip(&on_wgpu).enumerate() {
        assert!((pc - pg).abs() <= PREDICT_TOL, "{}: CPU {pc}, wgpu {pg}", videos[i]);
        assert!(
            (pg - probs(&fold)[i]).abs() <= PREDICT_TOL,
            "{}: training wrote another",
            videos[i]
        );
        assert_eq!(cc.len(), cg.len());
        for (a, b) in cc.iter().zip(cg) {
            assert!((a - b).abs() <= PREDICT_TOL, "{}: contributions {cc:?} vs {cg:?}", videos[i]);
        }
    }
}
