//! The run's summary recomputed from first principles: from the folds' `metrics.json` files
//! alone, with this file's own mean, sample std, AUROC and average precision, and the best
//! model checked against the checkpoint of the epoch that made it.

use std::fs;
use std::path::Path;

use burn::backend::Flex;
use burn::record::Recorder;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde_json::Value;

use echo_runner::config::{Overrides, load};
use echo_runner::train::checkpoint::RecordBytes;

use crate::trained::{read_json, trained};

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Mann–Whitney: the share of (abnormal, normal) pairs ranked right, ties counting half.
fn auroc(abnormal: &[bool], score: &[f64]) -> f64 {
    let (mut pairs, mut right) = (0.0, 0.0);
    for (i, &a) in abnormal.iter().enumerate() {
        for (j, &b) in abnormal.iter().enumerate() {
            if a && !b {
                pairs += 1.0;
                right += match score[i].partial_cmp(&score[j]).unwrap() {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
    }
    right / pairs
}

/// Average precision (scikit-learn's): Σ over distinct thresholds, from the highest, of
/// (recall gained) × precision there.
fn average_precision(abnormal: &[bool], score: &[f64]) -> f64 {
    let positives = abnormal.iter().filter(|&&a| a).count() as f64;
    let mut thresholds: Vec<f64> = score.to_vec();
    thresholds.sort_by(|a, b| b.partial_cmp(a).unwrap());
    thresholds.dedup();
    let (mut ap, mut recall_before) = (0.0, 0.0);
    for t in thresholds {
        let called: Vec<usize> = (0..score.len()).filter(|&i| score[i] >= t).collect();
        let tp = called.iter().filter(|&&i| abnormal[i]).count() as f64;
        let recall = tp / positives;
        ap += (recall - recall_before) * tp / called.len() as f64;
        recall_before = recall;
    }
    ap
}

/// Accuracy, abnormal recall and normal recall at threshold 0.5.
fn at_half(abnormal: &[bool], score: &[f64]) -> (f64, f64, f64) {
    let called: Vec<bool> = score.iter().map(|&p| p >= 0.5).collect();
    let count = |f: &dyn Fn(usize) -> bool| (0..score.len()).filter(|&i| f(i)).count() as f64;
    let positives = count(&|i| abnormal[i]);
    let accuracy = count(&|i| called[i] == abnormal[i]) / score.len() as f64;
    let sensitivity = count(&|i| abnormal[i] && called[i]) / positives;
    let specificity = count(&|i| !abnormal[i] && !called[i]) / (score.len() as f64 - positives);
    (accuracy, sensitivity, specificity)
}

#[test]
fn the_summary_recomputes_from_the_folds_metrics_files() {
    let t = trained();
    let summary = read_json(&t.full.join("summary.json"));
    let folds: Vec<Value> =
        (0..3).map(|k| read_json(&t.full.join(format!("fold-{k}/metrics.json")))).collect();

    // Cross-validation: mean ± sample std over the folds, of validation and test figures.
    for (section, key) in [("validation", "val"), ("test", "test")] {
        for metric in ["accuracy", "balanced_accuracy", "sensitivity", "specificity", "auroc"] {
            let values: Vec<f64> = folds.iter().map(|f| num(&f[key][metric])).collect();
            let (mean, std) = mean_std(&values);
            let theirs = &summary[section][metric];
            assert!((num(&theirs["mean"]) - mean).abs() < 1e-12, "{section} {metric} mean");
            assert!((num(&theirs["std"]) - std).abs() < 1e-12, "{section} {metric} std");
        }
    }

    // The ensemble: the folds' test probabilities averaged video by video.
    let videos = &folds[0]["test_videos"];
    let abnormal: Vec<bool> = folds[0]["test_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str() == Some("abnormal"))
        .collect();
    assert!(abnormal.iter().any(|&a| a) && abnormal.iter().any(|&a| !a), "both classes in test");
    let mean_prob: Vec<f64> = (0..abnormal.len())
        .map(|i| {
            folds
                .iter()
                .map(|f| {
                    assert_eq!(&f["test_videos"], videos, "the folds list the test set alike");
                    num(&f["test_prob"][i])
                })
                .sum::<f64>()
                / 3.0
        })
        .collect();
    let ensemble = &summary["ensemble_test"];
    let (accuracy, sensitivity, specificity) = at_half(&abnormal, &mean_prob);
    for (metric, ours) in [
        ("accuracy", accuracy),
        ("sensitivity", sensitivity),
        ("specificity", specificity),
        ("balanced_accuracy", (sensitivity + specificity) / 2.0),
        ("auroc", auroc(&abnormal, &mean_prob)),
        ("auprc", average_precision(&abnormal, &mean_prob)),
    ] {
        assert!((num(&ensemble[metric]) - ours).abs() < 1e-12, "ensemble {metric}: {ours}");
    }

    // The seed's protocol: the fold of the best validation accuracy (the first of equals).
    let accuracies: Vec<f64> = folds.iter().map(|f| num(&f["val"]["accuracy"])).collect();
    let best = (0..3).fold(0, |b, k| if accuracies[k] > accuracies[b] { k } else { b });
    assert_eq!(summary["best_fold"], best, "validation accuracies {accuracies:?}");
    assert_eq!(summary["best_fold_test"], folds[best]["test"]);

    // Within each fold: the best epoch is the first of the best validation accuracy, and its
    // figures are the fold's.
    for (k, fold) in folds.iter().enumerate() {
        let history = fold["history"].as_array().unwrap();
        let scores: Vec<f64> = history.iter().map(|e| num(&e["val"]["accuracy"])).collect();
        let epoch = (0..scores.len()).fold(0, |b, e| if scores[e] > scores[b] { e } else { b });
        assert_eq!(fold["best_epoch"], epoch, "fold {k}: validation accuracies {scores:?}");
        assert_eq!(fold["val"], history[epoch]["val"], "fold {k}");
    }
}

/// The weights of a checkpoint's `model.mpk`, written as the fold writes `best.safetensors`.
fn checkpoint_weights(dir: &Path, checkpoint: &Path) -> Vec<u8> {
    let exp = load(&dir.join("config.resolved.toml"), &Overrides::default())
        .expect("the resolved config loads")
        .experiment;
    let device = Default::default();
    let (img, frames) = (exp.data.resize as usize, exp.data.clip.frames as usize);
    let model = exp.model.init::<Flex>(img, frames, &device);
    let record = RecordBytes::default()
        .load(fs::read(checkpoint.join("model.mpk")).unwrap(), &device)
        .expect("a model record");
    let model = burn::module::Module::load_record(model, record);
    let mut store = SafetensorsStore::from_bytes(None).clear_metadata();
    model.save_into(&mut store).expect("weights");
    store.get_bytes().expect("bytes")
}

#[test]
fn best_safetensors_is_the_best_epochs_checkpoint() {
    let t = trained();
    let mut checked = 0;
    for k in 0..3 {
        let fold = t.full.join(format!("fold-{k}"));
        let best_epoch = read_json(&fold.join("metrics.json"))["best_epoch"].as_u64().unwrap();
        let best = fs::read(fold.join("best.safetensors")).unwrap();
        // Two epochs, so both epoch-end checkpoints are kept: e<epochs done>-b0, zero-padded.
        let mut names: Vec<String> = fs::read_dir(fold.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["e00001-b0000000", "e00002-b0000000"], "fold {k}");
        for (epoch, name) in names.iter().enumerate() {
            let same = checkpoint_weights(&t.full, &fold.join("checkpoints").join(name)) == best;
            assert_eq!(
                same,
                epoch as u64 == best_epoch,
                "fold {k}: {name}, best epoch {best_epoch}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 3);
}
