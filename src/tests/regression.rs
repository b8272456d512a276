//! A regression head end to end: trained on the EF with all-clips evaluation, step decay and
//! the best epoch by validation loss and normalisation measured on training videos; what it
//! writes (predicted EFs, their errors, the score that ranks videos, the measured
//! normalisation), the report's EF table, its plots and `runner predict`.

use std::collections::HashMap;
use std::path::Path;

use crate::support::{Scratch, python_json, require_python_module};
use crate::trained::read_json;

const REGRESSION: &str = r#"[experiment]
name = "r"
seed = 5

[data]
resize = 32

[data.source]
kind = "synthetic"
videos = 16
frame_size = 32
min_frames = 20
max_frames = 40

[data.clip]
frames = 4
period = 4
eval_sampling = "all_clips"
eval_stride = 3

[data.normalize]
from_videos = 4

[data.augment]
hflip = 0.0
rotation = 0.0
brightness = 0.0
contrast = 0.0

[model]
kind = "cnn_lstm"
freeze = "none"

[model.backbone]
depth = "18"
width = 8

[model.lstm]
hidden = 16

[model.head]
hidden = 0
dropout = 0.0
task = "regress_ef"

[sampler]
kind = "none"

[cv]
folds = 2
select_by = "val_loss"

[train]
epochs = 3
batch_size = 4

[train.optimizer]
kind = "sgd"
lr = 1e-3
momentum = 0.9
weight_decay = 1e-4

[train.schedule]
kind = "step"
step_size = 2
gamma = 0.5

[runtime]
workers = 1
"#;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

/// EF by file name from the dataset's `FileList.csv`.
fn file_list_ef(root: &Path) -> HashMap<String, f64> {
    let mut reader = csv::Reader::from_path(root.join("FileList.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (name, ef) = (col("FileName"), col("EF"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[name].to_owned(), r[ef].parse().unwrap())
        })
        .collect()
}

/// The band rule's score: EF points outside 50–70.
fn outside(ef: f64) -> f64 {
    (50.0 - ef).max(ef - 70.0)
}

#[test]
fn a_regression_head_trains_on_the_ef_and_reports_its_errors() {
    require_python_module(
        "h5py",
        "run scripts/test-setup.sh (python3 -m pip install h5py==3.16.0)",
    );
    let s = Scratch::new();
    s.write("r.toml", REGRESSION);
    let run = s.runner(&["run", "r.toml"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = s.path().join("results").join(&s.result_dirs()[0]);
    let report: serde_json::Value = read_json(&dir.join("data-report.json"));
    let truth = file_list_ef(&s.path().join(report["data"]["root"].as_str().unwrap()));

    // Each fold normalises by the pixels of 4 of its own training videos, as numpy measures
    // them in the clip cache; the folds draw different videos.
    let cache = s.path().join(report["cache"]["path"].as_str().unwrap());
    let folds = read_json(&dir.join("folds.json"));
    let mut measured = vec![];
    for k in 0..2 {
        let norm = read_json(&dir.join(format!("fold-{k}/normalize.json")));
        let videos: Vec<&str> =
            norm["videos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let train = folds["folds"][k]["train"]["videos"].as_array().unwrap();
        assert_eq!(videos.len(), 4, "fold {k}: {norm}");
        assert!(videos.iter().all(|v| train.iter().any(|t| t == v)), "fold {k}: {norm}");
        let mut args = vec![cache.to_str().unwrap()];
        args.extend(&videos);
        let numpy = python_json("cache/normalize_with_numpy.py", &args);
        for c in 0..3 {
            for key in ["mean", "std"] {
                let (got, want) = (norm[key][c].as_f64().unwrap(), numpy[key].as_f64().unwrap());
                assert!((got - want).abs() < 1e-12, "fold {k} {key}[{c}]: {got} vs {want}");
            }
        }
        measured.push(videos.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    }
    assert_ne!(measured[0], measured[1]);

    for k in 0..2 {
        let fold = read_json(&dir.join(format!("fold-{k}/metrics.json")));
        let names: Vec<&str> =
            fold["test_videos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let (pred, ef, score) =
            (floats(&fold["test_ef_pred"]), floats(&fold["test_ef"]), floats(&fold["test_prob"]));
        assert!(!names.is_empty() && pred.len() == names.len() && ef.len() == names.len());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(ef[i], truth[*name], "fold {k}: true EF of {name}");
            assert!((score[i] - outside(pred[i])).abs() < 1e-9, "fold {k}: score of {name}");
        }
        let test = &fold["test"];
        let mae = pred.iter().zip(&ef).map(|(p, t)| (p - t).abs()).sum::<f64>() / ef.len() as f64;
        assert!((test["ef"]["mae"].as_f64().unwrap() - mae).abs() < 1e-9, "fold {k}: MAE");
        assert_eq!(test["threshold"].as_f64(), Some(0.0));
        // Predicted abnormal exactly where the predicted EF is outside 50–70.
        let predicted_abnormal = pred.iter().filter(|&&p| outside(p) >= 0.0).count() as u64;
        let confusion = &test["confusion"];
        let column =
            |c: usize| confusion[0][c].as_u64().unwrap() + confusion[1][c].as_u64().unwrap();
        assert_eq!(column(1), predicted_abnormal, "fold {k}: {confusion}");
        // The best epoch is the first with the lowest validation loss (a squared EF error),
        // and the rate halves after two epochs.
        let history = fold["history"].as_array().unwrap();
        let losses: Vec<f64> = history.iter().map(|e| e["val"]["loss"].as_f64().unwrap()).collect();
        let lowest = losses.iter().cloned().fold(f64::INFINITY, f64::min);
        let best = losses.iter().position(|&l| l == lowest).unwrap();
        assert_eq!(fold["best_epoch"].as_u64(), Some(best as u64), "fold {k}: {losses:?}");
        let lrs: Vec<f64> = history.iter().map(|e| e["lr"].as_f64().unwrap()).collect();
        assert_eq!(lrs, [1e-3, 1e-3, 5e-4]);
        assert!(dir.join(format!("fold-{k}/plots/ef.png")).is_file(), "fold {k}: EF scatter");
    }
    let summary = read_json(&dir.join("summary.json"));
    assert!(summary["test"]["mae"]["mean"].as_f64().unwrap() > 0.0, "{summary}");
    assert!(summary["ensemble_test"]["ef"]["rmse"].as_f64().is_some(), "{summary}");

    // `status` shows the validation loss that picked each fold's epoch as it is, not negated,
    // and the lowest as the best.
    let status = s.runner(&["status", dir.to_str().unwrap()], &[]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let fold0 = read_json(&dir.join("fold-0/metrics.json"));
    let loss = fold0["val"]["loss"].as_f64().unwrap();
    let want = format!("val loss {loss:.3}");
    assert!(status.stdout.contains(&want), "{want:?} missing:\n{}", status.stdout);
    let fold1 = read_json(&dir.join("fold-1/metrics.json"));
    let (lowest, k) = if loss <= fold1["val"]["loss"].as_f64().unwrap() {
        (loss, 0)
    } else {
        (fold1["val"]["loss"].as_f64().unwrap(), 1)
    };
    let best = format!("best so far  val loss {lowest:.3} (fold {k},");
    assert!(status.stdout.contains(&best), "{best:?} missing:\n{}", status.stdout);

    let md = s.runner(&["report", dir.to_str().unwrap()], &[]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(md.stdout.contains("| EF MAE (CV) | EF MAE (test) |"), "{}", md.stdout);
    // The CSV report carries them too: the CV columns are the folds' validation figures,
    // the test column the JSON report's.
    let csv_out = s.runner(&["report", dir.to_str().unwrap(), "--format", "csv"], &[]);
    assert_eq!(csv_out.code, 0, "{}", csv_out.stderr);
    let mut reader = csv::Reader::from_reader(csv_out.stdout.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| -> f64 {
        let i = headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("{headers:?}"));
        row[i].parse().unwrap_or_else(|_| panic!("{name}: {:?}", &row[i]))
    };
    let val_mae: Vec<f64> = (0..2)
        .map(|k| {
            let fold = read_json(&dir.join(format!("fold-{k}/metrics.json")));
            fold["val"]["ef"]["mae"].as_f64().unwrap()
        })
        .collect();
    assert!((cell("ef_mae_cv_mean") - (val_mae[0] + val_mae[1]) / 2.0).abs() < 1e-9);
    let json_out = s.runner(&["report", dir.to_str().unwrap(), "--format", "json"], &[]);
    let json: serde_json::Value = serde_json::from_str(&json_out.stdout).unwrap();
    let test_rmse = json["rows"][0]["test"]["ef"]["rmse"].as_f64().unwrap();
    assert!((cell("ef_rmse_test") - test_rmse).abs() < 1e-9, "{test_rmse}");

    // `predict` averages every clip as evaluation did: fold 0's test videos get the EFs
    // its metrics.json holds.
    let fold = read_json(&dir.join("fold-0/metrics.json"));
    let videos = report["data"]["root"].as_str().unwrap();
    let mut args = vec!["predict".to_owned(), dir.display().to_string()];
    let names: Vec<String> = fold["test_videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    args.extend(names.iter().map(|n| format!("{videos}/Videos/{n}.avi")));
    args.extend(["--fold", "0", "--no-explain", "--csv", "p.csv"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let predicted = s.runner(&args, &[]);
    assert_eq!(predicted.code, 0, "{}", predicted.stderr);
    let mut reader = csv::Reader::from_path(s.path().join("p.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("{headers:?}"))
    };
    let (ef_col, score_col) = (col("predicted_ef"), col("ef_outside_normal"));
    let want = floats(&fold["test_ef_pred"]);
    for (i, row) in reader.records().map(Result::unwrap).enumerate() {
        let got: f64 = row[ef_col].parse().unwrap();
        assert!(
            (got - want[i]).abs() < 1e-3 * want[i].abs().max(1.0),
            "{}: {got} vs {}",
            names[i],
            want[i]
        );
        let score: f64 = row[score_col].parse().unwrap();
        assert!((score - outside(got)).abs() < 1e-9);
    }

    // Without the fold's measured normalisation `predict` cannot render its clips: it says
    // which file is missing.
    let norm = dir.join("fold-0/normalize.json");
    std::fs::remove_file(&norm).unwrap();
    let missing = s.runner(&args, &[]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("fold-0/normalize.json"), "{}", missing.stderr);
}
