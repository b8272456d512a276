//! Tracking, against the real things: the TensorBoard event files read back with the
//! `tensorboard` Python package's own readers (also after kills and resumes), and a real
//! `mlflow server` (SQLite backend, artifact proxy) on 127.0.0.1, read back with MLflow's
//! own client, with the server up throughout and stopped mid-run. Both packages come from
//! PyPI (`scripts/test-setup.sh`); without them these tests fail and name the install.

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::resume::{SETS, log, result_dir, run};
use crate::support::{Scratch, VALID, finish, python_json, require_python_module};

/// The test setup's pins (`scripts/test-setup.sh`).
const INSTALL: &str =
    "run scripts/test-setup.sh (python3 -m pip install tensorboard==2.21.0 mlflow==3.17.2)";
const EVERY_STEP: [&str; 2] = ["--set", "runtime.tracking.tensorboard_every=1"];

fn json_file(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    // TensorBoard keeps scalars as f32.
    (a - b).abs() <= 1e-6 * a.abs().max(1.0)
}

/// The figures of a `Metrics` under the names both trackers give them.
fn figures(m: &Value) -> Vec<(&'static str, f64)> {
    let mut out = vec![
        ("accuracy", m["accuracy"].as_f64().unwrap()),
        ("balanced_accuracy", m["balanced_accuracy"].as_f64().unwrap()),
        ("abnormal_recall", m["sensitivity"].as_f64().unwrap()),
    ];
    for (name, key) in [("auroc", "auroc"), ("auprc", "auprc")] {
        if let Some(v) = m[key].as_f64() {
            out.push((name, v));
        }
    }
    out
}

/// A scalar series as (step, value) pairs.
fn series(tags: &Value, tag: &str) -> Vec<(i64, f64)> {
    tags[tag]
        .as_array()
        .unwrap_or_else(|| panic!("no {tag} in {tags}"))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// Each fold's event file holds exactly the run's history: a `batch/` point per optimizer
/// step (each once, none missing) whose weighted mean is the epoch's training loss, the
/// epochs' figures as `history.json` has them, the test figures of `metrics.json`, and an
/// HParams session listing the changed keys; TensorBoard's multiplexer serves all of it.
fn assert_events_match(dir: &Path, folds: usize, epochs: usize) {
    let read = python_json("tracking/tb_events.py", &[dir.to_str().unwrap()]);
    let folds_json = json_file(&dir.join("folds.json"));
    for k in 0..folds {
        let run = format!("fold-{k}/tensorboard");
        let events = &read["runs"][&run];
        assert!(events.is_object(), "no event files in {run}: {read}");
        assert_eq!(events["versions"], serde_json::json!(["brain.Event:2"]), "{run}");
        let tags = &events["scalars"];
        let history = json_file(&dir.join(format!("fold-{k}/history.json")));
        let history = history.as_array().unwrap();
        assert_eq!(history.len(), epochs);

        let n_train = folds_json["folds"][k]["train"]["videos"].as_array().unwrap().len();
        let per_epoch = n_train.div_ceil(2);
        let losses = series(tags, "batch/loss");
        let steps: Vec<i64> = losses.iter().map(|p| p.0).collect();
        let expected: Vec<i64> = (1..=(epochs * per_epoch) as i64).collect();
        assert_eq!(steps, expected, "{run}: every step once, in order");
        assert_eq!(series(tags, "batch/lr").len(), expected.len());
        for (e, record) in history.iter().enumerate() {
            let batch = &losses[e * per_epoch..(e + 1) * per_epoch];
            let sum: f64 = batch
                .iter()
                .enumerate()
                .map(|(b, (_, loss))| loss * (n_train - 2 * b).min(2) as f64)
                .sum();
            let train_loss = record["train_loss"].as_f64().unwrap();
            assert!(close(sum / n_train as f64, train_loss), "{run} epoch {e}: {sum} / {n_train}");
        }
        let pairs_close = |a: &[(i64, f64)], b: &[(i64, f64)]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && close(x.1, y.1))
        };
        let epoch_of = |r: &Value| r["epoch"].as_i64().unwrap();
        let loss: Vec<(i64, f64)> =
            history.iter().map(|r| (epoch_of(r), r["train_loss"].as_f64().unwrap())).collect();
        assert!(pairs_close(&series(tags, "train/loss"), &loss), "{run}: train/loss");
        let val_loss: Vec<(i64, f64)> =
            history.iter().map(|r| (epoch_of(r), r["val"]["loss"].as_f64().unwrap())).collect();
        assert!(pairs_close(&series(tags, "val/loss"), &val_loss), "{run}: val/loss");
        for set in ["train", "val"] {
            for name in ["accuracy", "balanced_accuracy", "abnormal_recall", "auroc", "auprc"] {
                // AUROC and AUPRC are left out of an epoch whose set lacks a class.
                let want: Vec<(i64, f64)> = history
                    .iter()
                    .filter_map(|r| {
                        figures(&r[set]).iter().find(|f| f.0 == name).map(|f| (epoch_of(r), f.1))
                    })
                    .collect();
                let tag = format!("{set}/{name}");
                let got = if want.is_empty() { vec![] } else { series(tags, &tag) };
                assert!(pairs_close(&got, &want), "{run}: {tag}: {got:?} vs {want:?}");
            }
        }
        let result = json_file(&dir.join(format!("fold-{k}/metrics.json")));
        let best = result["best_epoch"].as_i64().unwrap();
        for (name, value) in figures(&result["test"]) {
            let tag = format!("test/{name}");
            let got = series(tags, &tag);
            assert!(got.len() == 1 && got[0].0 == best && close(got[0].1, value), "{run}: {tag}");
        }

        let hparams = &events["hparams"];
        assert_eq!(hparams["fold"], serde_json::json!(k as f64), "{hparams}");
        assert_eq!(hparams["experiment.name"], "t");
        assert_eq!(hparams["cv.folds"], serde_json::json!(folds as f64));
        assert_eq!(hparams["train.epochs"], serde_json::json!(epochs as f64));
        assert!(hparams.get("runtime.workers").is_none(), "runtime is no hyperparameter");
        assert!(hparams.get("train.precision").is_none(), "a default is not listed: {hparams}");
        assert_eq!(events["ended"], 1, "the session ended with STATUS_SUCCESS");

        let served = &read["served"][&run];
        for tag in ["batch/loss", "train/loss", "val/accuracy", "test/accuracy"] {
            assert!(served["scalars"].as_array().unwrap().iter().any(|t| t == tag), "{served}");
        }
        assert_eq!(
            served["hparams"],
            serde_json::json!(["_hparams_/session_end_info", "_hparams_/session_start_info"])
        );
    }
}

#[test]
fn tensorboard_event_files_hold_the_history_even_after_kills_and_resumes() {
    require_python_module("tensorboard", INSTALL);
    let s = Scratch::new();
    s.write("e.toml", VALID);
    // Killed at the 5th batch of each attempt (mid-epoch, events written after the last
    // checkpoint), then after an epoch's checkpoint, until the run is done.
    let mut killed = 0;
    for attempt in 0..40 {
        let crash = if attempt % 2 == 0 { "batch:5" } else { "epoch:1" };
        let r = run(&s, &EVERY_STEP, &[("ECHO_RUNNER_CRASH_AT", crash)]);
        match r.code {
            0 => break,
            -1 => killed += 1,
            code => panic!("exit {code}: {}", r.stderr),
        }
    }
    assert!(killed >= 4, "only {killed} attempts were killed");
    let dir = result_dir(&s);
    assert!(log(&dir).contains("resuming at epoch"), "{}", log(&dir));
    assert_events_match(&dir, 2, 3);
}

/// A real MLflow tracking server on a free port of 127.0.0.1, its store in a temporary
/// folder; killed (its whole process group) when dropped.
struct Mlflow {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Mlflow {
    fn start() -> Self {
        require_python_module("mlflow", INSTALL);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Mlflow { dir: tempfile::tempdir().unwrap(), port, child: None };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port and store) and waits until it answers.
    fn restart(&mut self) {
        let store = self.dir.path();
        let child = Command::new("python3")
            .args(["-m", "mlflow", "server", "--host", "127.0.0.1", "--workers", "1"])
            .args(["--port", &self.port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", store.join("mlflow.db").display()))
            .arg("--artifacts-destination")
            .arg(store.join("artifacts"))
            .current_dir(store)
            .stdout(Stdio::null())
            .stderr(fs::File::create(store.join("server.log")).unwrap())
            .process_group(0)
            .spawn()
            .expect("python3 -m mlflow server starts");
        self.child = Some(child);
        let started = Instant::now();
        while !self.healthy() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "mlflow server did not answer in 120 s: {}",
                fs::read_to_string(store.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        let mut answer = String::new();
        tcp.write_all(request.as_bytes()).is_ok()
            && tcp.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    fn runs(&self, experiment: &str) -> Vec<Value> {
        let got = python_json("tracking/mlflow_runs.py", &[&self.url(), experiment]);
        got["runs"].as_array().unwrap().clone()
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server holds the run whole: one MLflow run per fold, tagged with the directory's
/// hash, the resolved config as params, every epoch's figures once at their steps, the
/// test figures, the artifacts, and FINISHED.
fn assert_server_has(server: &Mlflow, dir: &Path, folds: usize) {
    let runs = server.runs("t");
    assert_eq!(runs.len(), folds, "one run per fold: {runs:#?}");
    let digest = fs::read_to_string(dir.join("hash")).unwrap().trim().to_owned();
    for k in 0..folds {
        let run = runs
            .iter()
            .find(|r| {
                r["tags"]["echo_runner.fold"].as_str().and_then(|f| f.parse().ok()) == Some(k)
            })
            .unwrap_or_else(|| panic!("no run of fold {k}"));
        assert_eq!(run["tags"]["echo_runner.hash"], digest.as_str());
        assert_eq!(run["status"], "FINISHED");
        assert_eq!(run["params"]["train.epochs"], "3");
        assert_eq!(run["params"]["cv.folds"], "2");
        assert_eq!(run["params"]["experiment.name"], "t");
        let history = json_file(&dir.join(format!("fold-{k}/history.json")));
        let metrics = &run["metrics"];
        let by_step = |key: &str| -> Vec<(i64, f64)> {
            let mut v: Vec<(i64, f64)> = metrics[key]
                .as_array()
                .unwrap_or_else(|| panic!("no {key}: {metrics}"))
                .iter()
                .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
                .collect();
            v.sort_by_key(|p| p.0);
            v
        };
        let per_epoch = |value: &dyn Fn(&Value) -> f64| -> Vec<(i64, f64)> {
            let records = history.as_array().unwrap().iter();
            records.map(|r| (r["epoch"].as_i64().unwrap(), value(r))).collect()
        };
        let want = per_epoch(&|r| r["train_loss"].as_f64().unwrap());
        assert_eq!(by_step("train/loss"), want, "fold {k}: each epoch once");
        assert_eq!(by_step("val/accuracy"), per_epoch(&|r| r["val"]["accuracy"].as_f64().unwrap()));
        assert_eq!(by_step("val/loss"), per_epoch(&|r| r["val"]["loss"].as_f64().unwrap()));
        let result = json_file(&dir.join(format!("fold-{k}/metrics.json")));
        let best = result["best_epoch"].as_i64().unwrap();
        for (name, value) in figures(&result["test"]) {
            assert_eq!(by_step(&format!("test/{name}")), [(best, value)], "fold {k}: {name}");
        }
        let artifacts: Vec<&str> =
            run["artifacts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        for a in [
            "config.resolved.toml",
            "history.json",
            "metrics.json",
            "plots/curves.png",
            "run/summary.json",
            "run/plots/curves.png",
        ] {
            assert!(artifacts.contains(&a), "fold {k}: no artifact {a}: {artifacts:?}");
        }
        let ledger = json_file(&dir.join(format!("fold-{k}/mlflow.json")));
        assert_eq!(ledger[server.url()]["pending"], false, "{ledger}");
    }
}

fn track(s: &Scratch, dir: &Path, url: &str) -> String {
    let r = s.runner(&["track", dir.to_str().unwrap(), "--mlflow", url], &[]);
    assert_eq!(r.code, 0, "runner track: {}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("Bearer"), "{}", r.stdout);
    r.stdout
}

#[test]
fn mlflow_gets_each_fold_as_a_run_and_a_replay_duplicates_nothing() {
    let server = Mlflow::start();
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let url = format!("runtime.tracking.mlflow={}", server.url());
    let token = [("MLFLOW_TRACKING_TOKEN", "secret-token-4711")];
    let r = run(&s, &["--set", &url], &token);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = result_dir(&s);
    assert_server_has(&server, &dir, 2);
    let before = server.runs("t");

    let said = track(&s, &dir, &server.url());
    assert_eq!(said.lines().count(), 2, "{said}");
    assert!(
        said.contains("fold-1: run ") && said.contains("(FINISHED): 3 epochs, test figures"),
        "{said}"
    );
    let after = server.runs("t");
    let metric_counts = |runs: &[Value]| -> Vec<usize> {
        let mut counts: Vec<usize> = runs
            .iter()
            .flat_map(|r| {
                r["metrics"].as_object().unwrap().values().map(|h| h.as_array().unwrap().len())
            })
            .collect();
        counts.sort_unstable();
        counts
    };
    assert_eq!(metric_counts(&after), metric_counts(&before), "the replay sent nothing twice");
    assert_server_has(&server, &dir, 2);
    // The token went in a header only.
    for file in walk(&dir) {
        let text = String::from_utf8_lossy(&fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains("secret-token-4711"), "{} holds the token", file.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn a_server_stopped_mid_run_stops_nothing_and_runner_track_completes_the_record() {
    let mut server = Mlflow::start();
    let s = Scratch::new();
    s.write("e.toml", VALID);
    let mlflow = format!("runtime.tracking.mlflow={}", server.url());
    let mut args = vec!["run", "e.toml"];
    args.extend(SETS);
    args.extend(["--set", &mlflow]);
    let child = s.spawn(&args);
    // Stop the server once fold 0's run exists on it.
    let started = Instant::now();
    let ledger = || {
        s.result_dirs().first().map(|d| s.path().join("results").join(d).join("fold-0/mlflow.json"))
    };
    while !ledger().is_some_and(|p| fs::read_to_string(p).is_ok_and(|t| t.contains("run_id"))) {
        assert!(started.elapsed() < Duration::from_secs(180), "fold 0 never reached the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let done = finish(child.wait_with_output().unwrap());
    assert_eq!(done.code, 0, "training finished: {}", done.stderr);
    let dir = result_dir(&s);
    assert!(dir.join("summary.json").is_file());
    assert!(log(&dir).contains("cannot reach the server"), "{}", log(&dir));
    let pending = (0..2).filter(|k| {
        json_file(&dir.join(format!("fold-{k}/mlflow.json")))[server.url()]["pending"] == true
    });
    assert!(pending.count() >= 1, "the ledgers say what is not sent");

    server.restart();
    track(&s, &dir, &server.url());
    assert_server_has(&server, &dir, 2);
}
