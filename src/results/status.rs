//! `runner status`: where a run stands, read from its result directory without disturbing it
//! — folds done, the fold and epoch in progress, the last checkpoint's time, the best
//! validation score so far, and whether a process holds the lock (tested without waiting
//! and released at once), and apart from failures, the last fault of the machine that
//! stopped a fold (`fold-<k>/ENVIRONMENT-ERROR`).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

use super::runs::RUNS;
use super::view::{CheckpointState, FoldState, RunView, ViewError};
use crate::lock::{LOCK, LockProbe, probe};
use crate::train::SelectionMetric;
use crate::train::fit::ENVIRONMENT_ERROR;

/// Best validation score so far: (score, fold, epoch counted from 1).
type Best = (f64, usize, Option<u32>);

fn ago(time: SystemTime) -> String {
    match SystemTime::now().duration_since(time) {
        Ok(d) => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
        ),
        Err(_) => "in the future (clock skew?)".into(),
    }
}

/// "2026-11-26T20:12:40Z (4m 3s ago)".
fn when(rfc3339: Option<&str>, fallback: Option<SystemTime>) -> Option<String> {
    let time = rfc3339.and_then(|t| humantime::parse_rfc3339_weak(t).ok()).or(fallback)?;
    Some(format!("{} ({})", humantime::format_rfc3339_seconds(time), ago(time)))
}

fn lock_text(p: &LockProbe) -> String {
    match p {
        LockProbe::Absent => "never locked".into(),
        LockProbe::Free => "no process holds the lock".into(),
        LockProbe::Held(who) => format!("held by {who}"),
        LockProbe::Unknown(e) => format!("lock state unknown ({e})"),
    }
}

/// The last line of `runs.jsonl`, as a sentence.
fn last_run(dir: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct Record {
        event: String,
        time: String,
        host: String,
        pid: u32,
        #[serde(default)]
        exit_status: Option<i32>,
    }
    let text = fs::read_to_string(dir.join(RUNS)).ok()?;
    let r: Record =
        serde_json::from_str(text.lines().rev().find(|l| !l.trim().is_empty())?).ok()?;
    Some(match (r.event.as_str(), r.exit_status) {
        ("end", Some(code)) => {
            format!("ended {} with exit status {code} (pid {} on {})", r.time, r.pid, r.host)
        }
        _ => {
            format!("started {} (pid {} on {}) and has not recorded an end", r.time, r.pid, r.host)
        }
    })
}

fn better(best: &mut Option<Best>, candidate: Best) {
    if best.as_ref().is_none_or(|b| candidate.0 > b.0) {
        *best = Some(candidate);
    }
}

fn checkpoint_line(path: &Path, state: &CheckpointState) -> String {
    let mtime = fs::metadata(path.join("state.json")).and_then(|m| m.modified()).ok();
    when(state.written.as_deref(), mtime)
        .map_or_else(String::new, |w| format!("last checkpoint {w}"))
}

/// The last fault of the machine that stopped the fold in `fold_dir`, as a sentence.
fn environment_error(fold_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(fold_dir.join(ENVIRONMENT_ERROR)).ok()?;
    let (time, why) = text.trim().split_once(' ')?;
    let at = when(Some(time), None).unwrap_or_else(|| time.to_owned());
    Some(format!(
        "last environment error {at}: {} (a fault of the machine, not a failure: the same \
         command resumes)",
        why.lines().next().unwrap_or("")
    ))
}

/// The status of the result directory `dir`, as text.
pub fn status(dir: &Path) -> Result<String, ViewError> {
    let view = RunView::open(dir)?;
    let metric = view.select_by();
    // Each line says "val <metric>": the validation loss is "val loss".
    let metric_name = match metric {
        SelectionMetric::ValLoss => "loss".to_owned(),
        _ => serde_json::to_value(metric)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    };
    let epochs = view.epochs();
    let of_epochs = |e: u64| epochs.map_or(e.to_string(), |n| format!("{e}/{n}"));
    let mut out = String::new();
    let _ = writeln!(out, "{}", view.dir.display());
    let name = view.config("/experiment/name").and_then(|v| v.as_str()).unwrap_or("?");
    let _ = writeln!(
        out,
        "  experiment   {name}, hash {}…, runner {}",
        &view.digest.get(..12).unwrap_or(&view.digest),
        view.runner_version
    );
    if let Some(note) = view.version_note() {
        let _ = writeln!(out, "  note         {note}");
    }
    let lock = probe(&view.dir.join(LOCK));
    let _ = writeln!(out, "  process      {}", lock_text(&lock));
    if let Some(run) = last_run(&view.dir) {
        let _ = writeln!(out, "  last run     {run}");
    }
    let total = view.folds.len();
    let done = view.done().len();
    let _ = writeln!(out, "  folds        {done}/{total} done");
    let mut best: Option<Best> = None;
    for (k, fold) in view.folds.iter().enumerate() {
        let fold_dir = view.dir.join(format!("fold-{k}"));
        let line = match fold {
            FoldState::Done(f) => {
                let score = f.val.select(metric);
                if let Some(s) = score {
                    better(&mut best, (s, k, Some(f.best_epoch + 1)));
                }
                let s = score.map_or("n/a".into(), |s| format!("{:.3}", shown(metric, s)));
                format!(
                    "done: best epoch {}, val {metric_name} {s}",
                    of_epochs(u64::from(f.best_epoch) + 1)
                )
            }
            FoldState::Broken(why) => format!("marked done, but {why}"),
            FoldState::Failed(why) => format!("FAILED: {}", why.lines().next().unwrap_or("")),
            FoldState::NotStarted => "not started".into(),
            FoldState::Started { history, checkpoint } => {
                let state = checkpoint.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
                let completed = state.epoch.map_or(history.len() as u64, u64::from);
                let mut parts = vec![match state.batch.filter(|&b| b > 0) {
                    Some(b) => {
                        format!("in progress: epoch {} (at batch {b})", of_epochs(completed + 1))
                    }
                    None => format!("in progress: epoch {}", of_epochs(completed + 1)),
                }];
                if let Some((path, s)) = checkpoint {
                    parts.push(checkpoint_line(path, s));
                } else {
                    parts.push("no checkpoint yet".into());
                }
                let from_history = history
                    .iter()
                    .filter_map(|e| e.val.select(metric).map(|s| (s, e.epoch + 1)))
                    .fold(None::<(f64, u32)>, |b, c| {
                        if b.is_none_or(|b| c.0 > b.0) { Some(c) } else { b }
                    });
                let so_far = state
                    .best_score
                    .map(|s| (s, state.best_epoch.map(|e| e + 1)))
                    .or(from_history.map(|(s, e)| (s, Some(e))));
                if let Some((s, e)) = so_far {
                    better(&mut best, (s, k, e));
                    let at = e.map_or(String::new(), |e| format!(" (epoch {e})"));
                    let s = shown(metric, s);
                    parts.push(format!("best val {metric_name} so far {s:.3}{at}"));
                }
                match probe(&fold_dir.join(LOCK)) {
                    LockProbe::Absent => {}
                    p => parts.push(lock_text(&p)),
                }
                parts.retain(|p| !p.is_empty());
                parts.join("; ")
            }
        };
        let _ = writeln!(out, "  fold {k:<7} {line}");
        if !matches!(fold, FoldState::Done(_))
            && let Some(fault) = environment_error(&fold_dir)
        {
            let _ = writeln!(out, "  {:<12} {fault}", "");
        }
    }
    match best {
        Some((s, k, e)) => {
            let at = e.map_or(String::new(), |e| format!(", epoch {e}"));
            let s = shown(metric, s);
            let _ = writeln!(out, "  best so far  val {metric_name} {s:.3} (fold {k}{at})");
        }
        None => {
            let _ = writeln!(out, "  best so far  nothing validated yet");
        }
    }
    let summary = if view.summary.is_some() {
        "summary.json written: the run is complete"
    } else {
        "no summary.json yet"
    };
    let _ = writeln!(out, "  summary      {summary}");
    Ok(out)
}

/// A selection score as the metric reads: the loss, which selection ranks negated, as it is.
fn shown(metric: SelectionMetric, score: f64) -> f64 {
    if metric == SelectionMetric::ValLoss { -score } else { score }
}
