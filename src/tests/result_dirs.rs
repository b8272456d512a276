//! `runner run`: the content-addressed result directory, its lock and its run records.

use std::fs::{self, OpenOptions};
use std::time::Duration;

use crate::support::{Scratch, VALID, digest, finish};

fn only_dir(s: &Scratch) -> std::path::PathBuf {
    let dirs = s.result_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    s.path().join("results").join(&dirs[0])
}

#[test]
fn run_creates_the_directory_its_config_names_and_reopens_it() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let hash = digest(&s.runner(&["validate", "e.toml", "--print-hash"], &[]));
    let first = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let dir = only_dir(&s);
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), format!("t-{}", &hash[..12]));
    assert_eq!(fs::read_to_string(dir.join("hash")).unwrap().trim(), hash);
    let runner: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("runner.json")).unwrap()).unwrap();
    assert_eq!(runner["hash_scheme"], 1);
    assert_eq!(runner["runner_version"], env!("CARGO_PKG_VERSION"));
    // The stored resolved config is the same experiment.
    let stored = dir.join("config.resolved.toml");
    assert_eq!(
        digest(&s.runner(&["validate", stored.to_str().unwrap(), "--print-hash"], &[])),
        hash
    );
    // `runner FILE` is `runner run FILE`, into the same directory.
    let again = s.runner(&["e.toml"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(only_dir(&s), dir);
    let runs: Vec<serde_json::Value> = fs::read_to_string(dir.join("runs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = runs.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["start", "end", "start", "end"]);
    assert_eq!(runs[1]["exit_status"], 0);
    assert_eq!(runs[0]["run"], runs[1]["run"]);
    assert_ne!(runs[0]["run"], runs[2]["run"]);
    assert_eq!(runs[2]["argv"][1], "e.toml");
    for key in ["time", "host", "pid", "backend", "runner_version"] {
        assert!(!runs[0][key].is_null(), "no {key} in {}", runs[0]);
    }
}

#[test]
fn a_directory_holding_another_config_is_refused() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    assert_eq!(s.runner(&["run", "e.toml"], &[]).code, 0);
    let dir = only_dir(&s);
    let canonical = dir.join("config.canonical.json");
    let tampered = fs::read_to_string(&canonical).unwrap().replace("\"seed\":1", "\"seed\":5");
    fs::write(&canonical, &tampered).unwrap();
    let runs_before = fs::read_to_string(dir.join("runs.jsonl")).unwrap();
    let run = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("holds another experiment"), "{}", run.stderr);
    assert!(run.stderr.contains(dir.file_name().unwrap().to_str().unwrap()), "{}", run.stderr);
    assert_eq!(fs::read_to_string(&canonical).unwrap(), tampered);
    assert_eq!(fs::read_to_string(dir.join("runs.jsonl")).unwrap(), runs_before);
}

#[test]
fn a_busy_directory_makes_a_second_run_wait_or_exit() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    assert_eq!(s.runner(&["run", "e.toml"], &[]).code, 0);
    let dir = only_dir(&s);
    let lock = OpenOptions::new().read(true).write(true).open(dir.join("lock")).unwrap();
    lock.lock().unwrap();
    let busy = s.runner(&["run", "e.toml", "--no-wait"], &[]);
    assert_eq!(busy.code, 3, "{}", busy.stderr);
    assert!(busy.stderr.contains("is in use by"), "{}", busy.stderr);

    let mut waiting = s.spawn(&["run", "e.toml"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.try_wait().unwrap().is_none(), "the second run did not wait for the lock");
    lock.unlock().unwrap();
    let out = finish(waiting.wait_with_output().unwrap());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("waiting"), "{}", out.stderr);
}

#[test]
fn force_discards_outputs_and_keeps_the_definition() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    assert_eq!(s.runner(&["run", "e.toml"], &[]).code, 0);
    let dir = only_dir(&s);
    assert!(dir.join("fold-0/DONE").exists());
    fs::write(dir.join("fold-0/stale"), "from an earlier run").unwrap();
    let again = s.runner(&["run", "e.toml"], &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("fold-0: done earlier, skipped"), "{}", again.stderr);
    let log = fs::read_to_string(dir.join("train.log")).unwrap();
    assert!(
        log.contains("fold 1/3 epoch 1/2") && log.contains("fold-0: done earlier, skipped"),
        "{log}"
    );
    assert!(dir.join("fold-0/stale").exists());
    // --force with --fold discards that fold only.
    fs::write(dir.join("fold-1/stale"), "from an earlier run").unwrap();
    let summary = fs::read(dir.join("summary.json")).unwrap();
    let one = s.runner(&["run", "e.toml", "--force", "--fold", "1"], &[]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(dir.join("fold-0/stale").exists() && !dir.join("fold-1/stale").exists());
    assert!(dir.join("fold-1/DONE").exists());
    assert_eq!(
        fs::read(dir.join("summary.json")).unwrap(),
        summary,
        "the retrained fold gives the same summary"
    );
    fs::create_dir_all(dir.join("slurm")).unwrap();
    fs::write(dir.join("slurm/fold-0.log"), "a queued job's log").unwrap();
    let forced = s.runner(&["run", "e.toml", "--force"], &[]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(!forced.stderr.contains("skipped"), "{}", forced.stderr);
    assert!(!dir.join("fold-0/stale").exists());
    assert!(dir.join("fold-0/DONE").exists());
    for kept in [
        "config.resolved.toml",
        "config.canonical.json",
        "hash",
        "runner.json",
        "runs.jsonl",
        "slurm/fold-0.log",
    ] {
        assert!(dir.join(kept).exists(), "{kept} was removed");
    }
}

#[test]
fn the_same_experiment_twice_gives_byte_identical_results() {
    let (a, b) = (Scratch::new(), Scratch::new());
    for s in [&a, &b] {
        s.write("e.toml", VALID);
        let run = s.runner(&["run", "e.toml"], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let (da, db) = (only_dir(&a), only_dir(&b));
    let summary = fs::read(da.join("summary.json")).unwrap();
    assert_eq!(summary, fs::read(db.join("summary.json")).unwrap());
    let parsed: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    assert_eq!(parsed["folds"], 3);
    for k in 0..3 {
        for file in ["best.safetensors", "metrics.json", "DONE"] {
            let path = format!("fold-{k}/{file}");
            assert_eq!(
                fs::read(da.join(&path)).unwrap(),
                fs::read(db.join(&path)).unwrap(),
                "{path} differs"
            );
        }
    }
    let folds: serde_json::Value =
        serde_json::from_slice(&fs::read(da.join("folds.json")).unwrap()).unwrap();
    assert_eq!(folds["folds"].as_array().unwrap().len(), 3);
}

#[test]
fn fold_out_of_range_is_refused_before_anything_is_written() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let run = s.runner(&["run", "e.toml", "--fold", "3"], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--fold 3 is out of range: this experiment has 3 fold(s)"),
        "{}",
        run.stderr
    );
    assert!(s.result_dirs().is_empty());
}

#[test]
fn output_root_moves_the_directory_not_the_hash() {
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let run = s.runner(&["run", "e.toml"], &[("ECHO_RUNNER__RUNTIME__OUTPUT_ROOT", "scratch/out")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hash = digest(&s.runner(&["validate", "e.toml", "--print-hash"], &[]));
    assert!(s.path().join(format!("scratch/out/t-{}", &hash[..12])).join("hash").is_file());
    assert!(s.result_dirs().is_empty());
}
