//! One fold of a result directory into its MLflow run, from the files the run wrote: the
//! experiment named as the runner's, the run found by its tags (the result directory's hash
//! and the fold) or created, then whatever the server lacks of the params (the flattened
//! resolved config), the epochs of `history.json` (one step each), the test figures of
//! `metrics.json` (at the best epoch's step), the artifacts, and the status. What the server
//! has is asked of the server, so a second sync sends nothing twice, whatever happened to
//! the first; `fold-<k>/mlflow.json` records what was sent to which server, and what not.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::client::{CallError, Client, Metric, proxied};
use crate::atomic;
use crate::results::plots::PLOTS;
use crate::results::{DIGEST, RESOLVED};
use crate::track::hparams;
use crate::train::HISTORY;
use crate::train::checkpoint::EpochRecord;
use crate::train::fit::{DONE, FAILED, METRICS, SUMMARY};
use crate::train::metrics::Metrics;

/// The record of what was sent, in each fold's directory.
pub const LEDGER: &str = "mlflow.json";
/// The tags that find a fold's run again.
pub const HASH_TAG: &str = "echo_runner.hash";
pub const FOLD_TAG: &str = "echo_runner.fold";
/// The metric whose steps tell which epochs the server has: every epoch logs it, in the
/// same call as the epoch's other figures.
const EPOCH_MARKER: &str = "train/loss";
const TEST_MARKER: &str = "test/accuracy";
/// MLflow's limits per `log-batch` call.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;

fn fold_dir(dir: &Path, k: usize) -> PathBuf {
    dir.join(format!("fold-{k}"))
}

/// What a result directory says about itself.
pub struct Source {
    pub dir: PathBuf,
    pub name: String,
    pub digest: String,
    pub params: Vec<(String, String)>,
}

impl Source {
    pub fn read(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let resolved = read(RESOLVED)?;
        let config: serde_json::Value = toml::from_str(&resolved)
            .map_err(|e| format!("{}: {e}", dir.join(RESOLVED).display()))?;
        let name = config["experiment"]["name"].as_str().unwrap_or_default().to_owned();
        let params =
            hparams::flatten(&config).iter().map(|(k, v)| (k.clone(), hparams::text(v))).collect();
        Ok(Source { dir: dir.to_path_buf(), name, digest: read(DIGEST)?.trim().to_owned(), params })
    }

    /// The folds the directory has, in order.
    pub fn folds(&self) -> Vec<usize> {
        let mut folds: Vec<usize> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("fold-")?.parse().ok())
            .collect();
        folds.sort_unstable();
        folds
    }
}

/// What one server has of one fold, as far as this runner knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub experiment_id: String,
    pub run_id: String,
    /// Epochs of `history.json` the server has.
    pub epochs: usize,
    pub test: bool,
    /// Artifact path → blake3 of the content sent.
    pub artifacts: BTreeMap<String, String>,
    pub status: String,
    /// Something is not sent yet (and why, the last time it was tried).
    pub pending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `fold-<k>/mlflow.json`: server URL → what it has.
type Ledger = BTreeMap<String, Sent>;

fn read_ledger(path: &Path) -> Ledger {
    fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The figures of one epoch, or of the test set, under `group/`.
fn figures(group: &str, m: &Metrics, step: i64, out: &mut Vec<Metric>) {
    for (name, value) in m.tracked() {
        out.push(Metric { key: format!("{group}/{name}"), value, step });
    }
}

fn epoch_metrics(r: &EpochRecord) -> Vec<Metric> {
    let step = i64::from(r.epoch);
    let mut out = vec![
        Metric { key: EPOCH_MARKER.into(), value: r.train_loss, step },
        Metric { key: "train/lr".into(), value: r.lr, step },
    ];
    figures("train", &r.train, step, &mut out);
    figures("val", &r.val, step, &mut out);
    out
}

/// The files sent as artifacts, under their artifact paths: the config, the fold's history,
/// metrics and figures, and, once the run is complete, its summary and figures.
fn artifact_files(source: &Source, k: usize) -> Vec<(String, PathBuf)> {
    let fold = fold_dir(&source.dir, k);
    let mut out = vec![
        (RESOLVED.to_owned(), source.dir.join(RESOLVED)),
        (HISTORY.to_owned(), fold.join(HISTORY)),
        (METRICS.to_owned(), fold.join(METRICS)),
        (format!("run/{SUMMARY}"), source.dir.join(SUMMARY)),
    ];
    for (prefix, dir) in
        [(PLOTS.to_owned(), fold.join(PLOTS)), (format!("run/{PLOTS}"), source.dir.join(PLOTS))]
    {
        let mut names: Vec<String> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (format!("{prefix}/{n}"), dir.join(&n))));
    }
    out.into_iter().filter(|(_, p)| p.is_file()).collect()
}

/// Syncs fold `k` of `source` to the server of `client` (at `url`); records the outcome
/// in the fold's ledger (best effort: it is a record, the server is the truth).
pub fn sync_fold(client: &Client, url: &str, source: &Source, k: usize) -> Result<Sent, CallError> {
    let path = fold_dir(&source.dir, k).join(LEDGER);
    let mut ledger = read_ledger(&path);
    let mut sent = ledger.get(url).cloned().unwrap_or_default();
    let result = send(client, source, k, &mut sent);
    sent.pending = !matches!(result, Ok(true));
    sent.error = result.as_ref().err().map(ToString::to_string);
    ledger.insert(url.to_owned(), sent.clone());
    let text = serde_json::to_string_pretty(&ledger).expect("JSON") + "\n";
    let _ = atomic::write_file(&path, text.as_bytes());
    result.map(|_| sent)
}

/// Sends what the server lacks; `Ok(true)` when it has everything the fold has written.
fn send(client: &Client, source: &Source, k: usize, sent: &mut Sent) -> Result<bool, CallError> {
    let fold = fold_dir(&source.dir, k);
    sent.experiment_id = client.experiment(&source.name)?;
    let fold_text = k.to_string();
    let tags = [(HASH_TAG, source.digest.as_str()), (FOLD_TAG, fold_text.as_str())];
    let run = match client.find_run(&sent.experiment_id, &tags)? {
        Some(run) => client.run(&run.run_id)?,
        None => {
            let short = &source.digest[..source.digest.len().min(12)];
            let name = format!("{}-{short}/fold-{k}", source.name);
            client.create_run(&sent.experiment_id, &name, &tags)?
        }
    };
    sent.run_id = run.run_id.clone();

    let missing: Vec<(String, String)> =
        source.params.iter().filter(|(key, _)| !run.params.contains_key(key)).cloned().collect();
    for chunk in missing.chunks(MAX_PARAMS) {
        client.log_batch(&run.run_id, &[], chunk)?;
    }

    let history: Vec<EpochRecord> = fs::read(fold.join(HISTORY))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let have = client.steps(&run.run_id, EPOCH_MARKER)?;
    let mut batch: Vec<Metric> = vec![];
    for r in history.iter().filter(|r| !have.contains(&i64::from(r.epoch))) {
        let metrics = epoch_metrics(r);
        if batch.len() + metrics.len() > MAX_METRICS {
            client.log_batch(&run.run_id, &batch, &[])?;
            batch.clear();
        }
        // The marker last: a call cut short leaves no marker of an epoch half sent.
        batch.extend(metrics.into_iter().rev());
    }
    if !batch.is_empty() {
        client.log_batch(&run.run_id, &batch, &[])?;
    }
    sent.epochs = history.len();

    let result: Option<serde_json::Value> =
        fs::read(fold.join(METRICS)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(result) = &result {
        let test: Option<Metrics> = serde_json::from_value(result["test"].clone()).ok();
        if let Some(test) = test.filter(|_| !run.metrics.contains(TEST_MARKER)) {
            let step = result["best_epoch"].as_i64().unwrap_or(0);
            let mut metrics = vec![];
            figures("test", &test, step, &mut metrics);
            client.log_batch(&run.run_id, &metrics, &[])?;
        }
        sent.test = true;
    }

    let mut complete = true;
    if proxied(&run.artifact_uri).is_some() {
        for (name, file) in artifact_files(source, k) {
            let Ok(bytes) = fs::read(&file) else { continue };
            let digest = blake3::hash(&bytes).to_hex().to_string();
            if sent.artifacts.get(&name) != Some(&digest) {
                client.put_artifact(&run.artifact_uri, &name, &bytes)?;
                sent.artifacts.insert(name, digest);
            }
        }
    } else {
        complete = false;
        sent.error =
            Some(format!("artifacts not sent: the server keeps them at {}", run.artifact_uri));
    }

    let status = if fold.join(DONE).exists() {
        "FINISHED"
    } else if fold.join(FAILED).exists() {
        "FAILED"
    } else {
        "RUNNING"
    };
    if run.status != status {
        client.set_status(&run.run_id, status)?;
    }
    sent.status = status.to_owned();
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epochs_marker_is_sent_after_its_other_figures() {
        let m = Metrics::compute(
            &[crate::data::labels::Class::Normal, crate::data::labels::Class::Abnormal],
            &[0.2, 0.7],
            0.5,
        )
        .unwrap();
        let r = EpochRecord {
            epoch: 4,
            lr: 0.1,
            train_loss: 0.3,
            train: m.clone(),
            val: Metrics { loss: Some(0.4), ..m },
            loss_scale: None,
        };
        let keys: Vec<String> = epoch_metrics(&r).into_iter().rev().map(|m| m.key).collect();
        assert_eq!(keys.last().map(String::as_str), Some(EPOCH_MARKER));
        assert_eq!(keys.len(), 13, "{keys:?}");
        assert!(keys.iter().any(|k| k == "val/loss"), "{keys:?}");
        assert!(epoch_metrics(&r).iter().all(|m| m.step == 4));
    }
}
