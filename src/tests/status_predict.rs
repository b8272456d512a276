//! `runner status` (finished, partial, in progress, failed, locked, not started) and
//! `runner predict` (the probabilities training wrote, the ensemble, unreadable videos).

use std::fs::{self, OpenOptions};

use crate::support::VALID;
use crate::trained::{Trained, copy_dir, read_json, trained};
use echo_runner::train::checkpoint::{self, Best, LoopState};

#[test]
fn status_of_finished_partial_and_unstarted_runs() {
    let t = trained();
    let full = t.runner(&["status", t.full.to_str().unwrap()]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    for needle in [
        "folds        3/3 done",
        "no process holds the lock",
        "exit status 0",
        "summary.json written",
        "best so far  val accuracy",
    ] {
        assert!(full.stdout.contains(needle), "{needle:?} missing:\n{}", full.stdout);
    }
    // By experiment file, found by hash.
    let partial = t.runner(&["status", "f.toml"]);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    assert!(
        partial.stdout.contains(t.partial.file_name().unwrap().to_str().unwrap()),
        "{}",
        partial.stdout
    );
    for needle in [
        "folds        1/3 done",
        "fold 0       done: best epoch",
        "fold 1       not started",
        "fold 2       not started",
        "no summary.json yet",
    ] {
        assert!(partial.stdout.contains(needle), "{needle:?} missing:\n{}", partial.stdout);
    }
    t.scratch.write("unstarted.toml", &VALID.replace("seed = 1", "seed = 3"));
    let unstarted = t.runner(&["status", "unstarted.toml"]);
    assert_eq!(unstarted.code, 0);
    assert!(unstarted.stdout.contains("not started (no result directory"), "{}", unstarted.stdout);
    let nothing = t.runner(&["status", "no-such-dir"]);
    assert_eq!(nothing.code, 2);
    assert!(
        nothing.stderr.contains("no-such-dir: no such file or directory"),
        "{}",
        nothing.stderr
    );
}

#[test]
fn status_reads_checkpoints_failures_and_locks() {
    let t = trained();
    let dir = t.path().join("in-progress");
    copy_dir(&t.partial, &dir);
    // Fold 1 mid-way, as the training loop's checkpoints record it; fold 2 failed.
    let fold1 = dir.join("fold-1");
    let val =
        serde_json::from_value(read_json(&t.partial.join("fold-0/metrics.json"))["val"].clone())
            .unwrap();
    let best = Some(Best {
        epoch: 0,
        score: 0.875,
        val,
        val_probs: vec![],
        weights_blake3: String::new(),
    });
    checkpoint::save(
        &fold1,
        &LoopState { epoch: 1, batch: 0, best: best.clone(), ..Default::default() },
        b"m",
        b"o",
    )
    .unwrap();
    let newest = checkpoint::save(
        &fold1,
        &LoopState { epoch: 1, batch: 2, best, ..Default::default() },
        b"m",
        b"o",
    )
    .unwrap();
    // Pin the write time so the line can be checked.
    let state = newest.join("state.json");
    let mut json = read_json(&state);
    json["written"] = "2026-01-02T03:04:05Z".into();
    fs::write(&state, json.to_string()).unwrap();
    let history = read_json(&t.partial.join("fold-0/metrics.json"))["history"][0].clone();
    fs::write(dir.join("fold-1/history.json"), serde_json::to_string(&[history]).unwrap()).unwrap();
    fs::create_dir_all(dir.join("fold-2")).unwrap();
    fs::write(dir.join("fold-2/FAILED"), "out of memory in epoch 1\nbacktrace…").unwrap();
    let open = |p: std::path::PathBuf| {
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(p).unwrap()
    };
    let (dir_lock, fold_lock) = (open(dir.join("lock")), open(dir.join("fold-1/lock")));
    fs::write(dir.join("lock"), "pid 4242 on node07 since 2026-01-02T03:00:00Z").unwrap();
    dir_lock.lock().unwrap();
    fold_lock.lock().unwrap();
    let run = t.runner(&["status", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in [
        "process      held by pid 4242 on node07",
        "fold 1       in progress: epoch 2/2 (at batch 2)",
        "last checkpoint 2026-01-02T03:04:05Z (",
        "best val accuracy so far 0.875 (epoch 1)",
        "fold 2       FAILED: out of memory in epoch 1",
    ] {
        assert!(run.stdout.contains(needle), "{needle:?} missing:\n{}", run.stdout);
    }
    assert!(
        run.stdout.lines().any(|l| l.starts_with("  fold 1") && l.contains("held by")),
        "{}",
        run.stdout
    );
    // The best so far weighs the finished fold against the checkpoint's best.
    let fold0 =
        read_json(&t.partial.join("fold-0/metrics.json"))["val"]["accuracy"].as_f64().unwrap();
    let best = if fold0 >= 0.875 {
        format!("{fold0:.3} (fold 0, epoch")
    } else {
        "0.875 (fold 1, epoch 1)".into()
    };
    assert!(run.stdout.contains(&format!("best so far  val accuracy {best}")), "{}", run.stdout);
    // Probing released nothing the holder had, and took nothing.
    dir_lock.unlock().unwrap();
    fold_lock.unlock().unwrap();
    let after = t.runner(&["status", dir.to_str().unwrap()]);
    assert!(after.stdout.contains("process      no process holds the lock"), "{}", after.stdout);
}

fn csv_rows(path: &std::path::Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path).unwrap().records().map(Result::unwrap).collect()
}

/// Fold 0's `metrics.json`, its test videos' names and their files.
fn fold_0_test_set(t: &Trained) -> (serde_json::Value, Vec<String>, Vec<String>) {
    let fold = read_json(&t.full.join("fold-0/metrics.json"));
    let names: Vec<String> = fold["test_videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let videos =
        names.iter().map(|n| t.videos().join(format!("{n}.avi")).display().to_string()).collect();
    (fold, names, videos)
}

#[test]
fn predict_reproduces_the_probabilities_training_wrote() {
    let t = trained();
    let (fold, names, videos) = fold_0_test_set(t);
    let mut args = vec!["predict", t.full.to_str().unwrap()];
    args.extend(videos.iter().map(String::as_str));
    args.extend(["--fold", "0", "--csv", "pred/fold0.csv"]);
    let run = t.runner(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let threshold = fold["youden_threshold"].as_f64().unwrap_or(0.5);
    let rows = csv_rows(&t.path().join("pred/fold0.csv"));
    assert_eq!(rows.len(), names.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(&row[0], names[i].as_str());
        let p: f64 = row[2].parse().unwrap();
        let trained = fold["test_prob"][i].as_f64().unwrap();
        assert!((p - trained).abs() < 1e-5, "{}: predict {p}, training {trained}", names[i]);
        assert_eq!(&row[4], if p >= threshold { "abnormal" } else { "normal" });
        // One contribution per clip frame (VALID: 8), and the frames it came from.
        assert_eq!(row[8].split(' ').count(), 8);
        assert_eq!(row[7].split(' ').count(), 8);
        // The per-video plot, next to the CSV.
        assert!(
            t.path().join(format!("pred/{}.png", names[i])).is_file()
                && t.path().join(format!("pred/{}.svg", names[i])).is_file()
        );
    }
    assert!(run.stdout.chars().any(|c| "▁▂▃▄▅▆▇█".contains(c)), "no sparkline:\n{}", run.stdout);
    assert!(run.stdout.contains("strongest: video frame"), "{}", run.stdout);

    // The fold ensemble is the mean of the folds' probabilities, as the summary's.
    let mut args = vec!["predict", t.full.to_str().unwrap()];
    args.extend(videos.iter().map(String::as_str));
    args.extend(["--ensemble", "--no-explain", "--csv", "pred/ensemble.csv"]);
    let run = t.runner(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let folds: Vec<serde_json::Value> =
        (0..3).map(|k| read_json(&t.full.join(format!("fold-{k}/metrics.json")))).collect();
    for (i, row) in csv_rows(&t.path().join("pred/ensemble.csv")).iter().enumerate() {
        let mean = folds.iter().map(|f| f["test_prob"][i].as_f64().unwrap()).sum::<f64>() / 3.0;
        let p: f64 = row[2].parse().unwrap();
        assert!((p - mean).abs() < 1e-5, "ensemble {p} vs {mean}");
        assert_eq!(&row[8], "");
    }
}

#[test]
fn predict_names_an_unreadable_video_and_predicts_the_others() {
    let t = trained();
    let folder = t.path().join("new-videos");
    let synth =
        t.runner(&["synth", "--out", folder.to_str().unwrap(), "--videos", "2", "--seed", "11"]);
    assert_eq!(synth.code, 0, "{}", synth.stderr);
    let videos = folder.join("Videos");
    fs::write(videos.join("broken.avi"), b"RIFF\x04\x00\x00\x00AVI garbage").unwrap();
    let run = t.runner(&[
        "predict",
        t.full.to_str().unwrap(),
        videos.to_str().unwrap(),
        "missing.avi",
        "--out",
        "frames",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("broken.avi:"), "{}", run.stderr);
    assert!(run.stderr.contains("missing.avi: no such file or directory"), "{}", run.stderr);
    assert!(run.stderr.contains("2 of 4 video(s) could not be predicted"), "{}", run.stderr);
    let predicted: Vec<&str> = run.stdout.lines().filter(|l| l.contains("P(abnormal)")).collect();
    assert_eq!(predicted.len(), 2, "{}", run.stdout);
    assert_eq!(
        fs::read_dir(t.path().join("frames")).unwrap().count(),
        4,
        "a PNG and an SVG per predicted video"
    );
    assert!(run.stdout.contains("best fold"), "{}", run.stdout);

    // No finished fold: nothing to predict with.
    let none = t.runner(&[
        "predict",
        t.partial.to_str().unwrap(),
        videos.to_str().unwrap(),
        "--fold",
        "1",
    ]);
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("fold 1 is not finished"), "{}", none.stderr);
}

#[test]
fn predict_threshold_replaces_the_tuned_one() {
    let t = trained();
    let (fold, _, videos) = fold_0_test_set(t);
    let mut probs: Vec<f64> =
        fold["test_prob"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
    probs.sort_by(f64::total_cmp);
    // Halfway between the two middle probabilities: some videos on either side.
    let mid = probs.len() / 2;
    let threshold = (probs[mid - 1] + probs[mid]) / 2.0;
    assert!(probs[mid - 1] < probs[mid], "distinct middle probabilities {probs:?}");
    let given = format!("{threshold:.6}");
    let mut args = vec!["predict", t.full.to_str().unwrap()];
    args.extend(videos.iter().map(String::as_str));
    args.extend(["--fold", "0", "--no-explain", "--threshold", &given, "--csv", "pred/t.csv"]);
    let run = t.runner(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("threshold {threshold:.4}")), "{}", run.stdout);
    let rows = csv_rows(&t.path().join("pred/t.csv"));
    let given: f64 = given.parse().unwrap();
    let abnormal = rows.iter().filter(|r| &r[4] == "abnormal").count();
    assert_eq!(abnormal, probs.iter().filter(|&&p| p >= given).count());
    assert!(abnormal > 0 && abnormal < rows.len());
    for row in &rows {
        let p: f64 = row[2].parse().unwrap();
        assert_eq!(row[3].parse::<f64>().unwrap(), given);
        assert_eq!(&row[4], if p >= given { "abnormal" } else { "normal" }, "P {p}");
    }
}

#[test]
fn predict_refuses_a_threshold_that_is_no_probability() {
    let t = trained();
    for bad in ["1.5", "-0.1", "NaN", "half"] {
        let flag = format!("--threshold={bad}");
        let run = t.runner(&["predict", t.full.to_str().unwrap(), "x.avi", &flag]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains("--threshold") && run.stderr.contains("[0, 1]"),
            "{}",
            run.stderr
        );
    }
}
