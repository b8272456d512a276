//! MLflow, on request (`runtime.tracking.mlflow`, or MLFLOW_TRACKING_URI): each fold of a
//! run is an MLflow run, sent from a thread of its own while training goes on, so a server
//! that is down or slow never holds training up. Each call is bounded in time; what is not
//! sent stays in the result directory (`fold-<k>/mlflow.json` says what), and the next
//! epoch, the next `runner run` or `runner track` sends it.

mod client;
mod sync;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use client::TOKEN_VAR;
pub use sync::{FOLD_TAG, HASH_TAG, LEDGER, Sent, Source};

use client::{CallError, Client};

/// Where the server URL comes from when the experiment names none.
pub const URI_VAR: &str = "MLFLOW_TRACKING_URI";

/// The server to send to: the experiment's `runtime.tracking.mlflow`, else MLFLOW_TRACKING_URI
/// when it names an HTTP(S) server (MLflow also takes paths and `databricks` there, which
/// this runner does not send to: `Err` says so).
pub fn server(configured: Option<&str>) -> Result<Option<String>, String> {
    let url = match configured {
        Some(url) => url.to_owned(),
        None => match std::env::var(URI_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => return Ok(None),
        },
    };
    check_url(&url).map(|()| Some(url))
}

/// An `http(s)://host[:port][/path]` URL without credentials in it.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        None => Err(format!(
            "MLflow server {url:?}: not an http:// or https:// URL (this runner sends to a tracking server)"
        )),
        Some(rest) if rest.split('/').next().is_some_and(|host| host.contains('@')) => {
            Err(format!(
                "MLflow server URL: no credentials in it, please: give the token in {TOKEN_VAR}"
            ))
        }
        Some("") => Err(format!("MLflow server {url:?}: no host")),
        Some(_) => Ok(()),
    }
}

/// Sends the folds of one result directory from a thread of its own.
pub struct Mlflow {
    url: String,
    jobs: Option<Sender<usize>>,
    worker: Option<JoinHandle<()>>,
    notes: Arc<Mutex<Vec<String>>>,
    /// Whether the server answers: it has answered a call, and the last call reached it.
    answering: Arc<AtomicBool>,
    touched: BTreeSet<usize>,
}

impl Mlflow {
    pub fn start(url: String, dir: &Path) -> Self {
        let (jobs, queue) = channel();
        let notes = Arc::new(Mutex::new(vec![]));
        let answering = Arc::new(AtomicBool::new(false));
        let worker = {
            let (url, dir) = (url.clone(), dir.to_path_buf());
            let (notes, answering) = (Arc::clone(&notes), Arc::clone(&answering));
            std::thread::Builder::new()
                .name("mlflow".into())
                .spawn(move || work(&url, &dir, &queue, &notes, &answering))
                .ok()
        };
        Mlflow { url, jobs: Some(jobs), worker, notes, answering, touched: BTreeSet::new() }
    }

    /// Fold `k` has news: send it when the thread is free.
    pub fn fold(&mut self, k: usize) {
        self.touched.insert(k);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(k);
        }
    }

    pub fn notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sends every fold this run touched once more (its figures and summary are written
    /// now), waiting for the thread at most `wait`; then what there is to say. A server that
    /// has not answered (down, or silent so far) is not waited for: the run ends as fast as
    /// one without MLflow, and what it did not get stays in the result directory.
    pub fn finish(mut self, wait: Duration) -> Vec<String> {
        if !self.answering.load(Ordering::SeqCst) {
            self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
                "mlflow {}: the server has not answered; what it did not get stays in the result directory (fold-<k>/{LEDGER}): `runner track RESULT_DIR --mlflow URL` sends it",
                self.url
            ));
            return self.notes();
        }
        for k in std::mem::take(&mut self.touched) {
            self.fold(k);
        }
        self.jobs = None;
        let deadline = Instant::now() + wait;
        if let Some(worker) = self.worker.take() {
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if worker.is_finished() {
                let _ = worker.join();
            } else {
                self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(format!(
                    "mlflow {}: still sending after {} s; what is not sent stays in the result directory: `runner track` sends it",
                    self.url,
                    wait.as_secs()
                ));
            }
        }
        self.notes()
    }
}

fn work(
    url: &str,
    dir: &Path,
    queue: &Receiver<usize>,
    notes: &Mutex<Vec<String>>,
    answering: &AtomicBool,
) {
    let note = |line: String| notes.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    let source = match Source::read(dir) {
        Ok(s) => s,
        Err(e) => return note(format!("mlflow {url}: not sent: {e}")),
    };
    let client = Client::new(url);
    let mut down = false;
    while let Ok(first) = queue.recv() {
        let mut folds = BTreeSet::from([first]);
        folds.extend(queue.try_iter());
        for k in folds {
            let result = sync::sync_fold(&client, url, &source, k);
            answering.store(!matches!(result, Err(CallError::Unreachable(_))), Ordering::SeqCst);
            match result {
                Ok(sent) => {
                    if down {
                        note(format!("mlflow {url}: reached again"));
                        down = false;
                    }
                    if let Some(e) = sent.error {
                        note(format!("mlflow {url}: fold-{k}: {e}"));
                    }
                }
                Err(e @ CallError::Unreachable(_)) => {
                    if !down {
                        note(format!(
                            "mlflow {url}: cannot reach the server ({e}); training goes on, and what is not sent stays in the result directory (fold-<k>/{LEDGER}) for the next epoch, run or `runner track`"
                        ));
                        down = true;
                    }
                    // The other folds would wait for the same timeout: they go next time.
                    break;
                }
                Err(e) => note(format!("mlflow {url}: fold-{k}: {e}")),
            }
        }
    }
}

/// Sends every fold of the result directory `dir` to `url` now; one line per fold.
pub fn replay(url: &str, dir: &Path) -> Result<Vec<String>, String> {
    let source = Source::read(dir)?;
    let client = Client::new(url);
    let mut lines = vec![];
    for k in source.folds() {
        let sent = sync::sync_fold(&client, url, &source, k)
            .map_err(|e| format!("{}: fold-{k}: {e}", dir.display()))?;
        let mut line = format!(
            "{}: fold-{k}: run {} ({}): {} epochs{}, {} artifacts",
            dir.display(),
            sent.run_id,
            sent.status,
            sent.epochs,
            if sent.test { ", test figures" } else { "" },
            sent.artifacts.len()
        );
        if let Some(e) = sent.error {
            line += &format!("; {e}");
        }
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_servers_without_credentials_are_taken() {
        assert_eq!(check_url("http://127.0.0.1:5000"), Ok(()));
        assert_eq!(check_url("https://mlflow.example.org/tracking"), Ok(()));
        assert!(check_url("file:./mlruns").unwrap_err().contains("not an http"));
        assert!(check_url("databricks").is_err());
        assert!(check_url("http://me:secret@host:5000").unwrap_err().contains(TOKEN_VAR));
        assert!(check_url("http://").is_err());
    }
}
