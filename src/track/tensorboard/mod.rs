//! TensorBoard event files, in every fold's `tensorboard/` folder, written as the fold
//! trains: `batch/loss` and `batch/lr` every `runtime.tracking.tensorboard_every` optimizer
//! steps (step: steps done, from 1); `train/…` and `val/…` at every epoch's end (step: the
//! epoch as `history.json` numbers it, from 0); `test/…` once the fold is done (step: its
//! best epoch); and the HParams plugin's session records, which list the experiment's
//! hyperparameters beside these figures.
//!
//! A fold that resumes keeps what was written up to its checkpoint and drops the rest: a
//! process killed after its last checkpoint wrote events that the resumed one writes again.
//! So the folder holds one file, rewritten whole (atomically) when something must go.

mod proto;
mod record;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use proto::HValue;

use crate::atomic;
use crate::io_retry;
use crate::train::TrainError;
use crate::train::checkpoint::EpochRecord;
use crate::train::metrics::Metrics;
use crate::train::tracking::Resume;

/// The folder, in a fold's directory.
pub const TENSORBOARD: &str = "tensorboard";

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// An open event file, appended to record by record.
pub struct EventFile {
    file: File,
    path: PathBuf,
}

/// Whether a record written before a restart at `at` stays: figures of the steps and
/// epochs before it do; the test figures and the session records are written again.
fn kept(step: i64, tag: &str, at: Resume) -> bool {
    let (group, _) = tag.split_once('/').unwrap_or((tag, ""));
    match group {
        "batch" => step <= at.step as i64,
        "train" | "val" => step < i64::from(at.epoch),
        _ => false,
    }
}

impl EventFile {
    /// The event file of the fold in `fold_dir`, holding what was written before `at`.
    pub fn open(fold_dir: &Path, at: Resume) -> Result<Self, TrainError> {
        let dir = fold_dir.join(TENSORBOARD);
        io_retry::retry(&dir, || fs::create_dir_all(&dir)).map_err(io(&dir))?;
        let mut old: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("tfevents")))
            .collect();
        old.sort();
        let mut kept_records = vec![];
        let mut dropped = old.len() != 1;
        for path in &old {
            let bytes = fs::read(path).map_err(io(path))?;
            let (records, whole) = record::records(&bytes);
            dropped |= !whole;
            for payload in records {
                match proto::step_and_tag(payload) {
                    Some((step, Some(tag))) if kept(step, &tag, at) => {
                        kept_records.push(record::frame(payload));
                    }
                    // The file version opens the file written below.
                    Some((_, None)) => {}
                    _ => dropped = true,
                }
            }
        }
        let path = match old.last() {
            Some(last) if !dropped => last.clone(),
            _ => {
                let host = gethostname::gethostname().to_string_lossy().into_owned();
                let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let path = dir.join(format!("events.out.tfevents.{secs}.{host}"));
                let mut bytes = record::frame(&proto::file_version(now()));
                bytes.extend(kept_records.concat());
                atomic::write_file(&path, &bytes).map_err(io(&path))?;
                for p in old.iter().filter(|p| **p != path) {
                    fs::remove_file(p).map_err(io(p))?;
                }
                path
            }
        };
        let file = io_retry::retry(&path, || OpenOptions::new().append(true).open(&path))
            .map_err(io(&path))?;
        Ok(EventFile { file, path })
    }

    fn write(&mut self, event: &[u8]) -> Result<(), TrainError> {
        atomic::append_all(&mut self.file, &self.path, &record::frame(event))
            .map_err(io(&self.path))
    }

    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<(), TrainError> {
        self.write(&proto::scalar(now(), step, tag, value as f32))
    }

    pub fn session_start(&mut self, hparams: &[(String, HValue)]) -> Result<(), TrainError> {
        self.write(&proto::session_start(now(), hparams))
    }

    pub fn session_end(&mut self) -> Result<(), TrainError> {
        self.write(&proto::session_end(now()))
    }

    /// Makes what was written durable.
    pub fn sync(&mut self) -> Result<(), TrainError> {
        io_retry::retry(&self.path, || self.file.sync_data()).map_err(io(&self.path))
    }

    /// A set's figures under `group/`: accuracy, balanced accuracy, abnormal recall, AUROC
    /// and AUPRC (the last two where both classes are present).
    pub fn metrics(&mut self, group: &str, step: i64, m: &Metrics) -> Result<(), TrainError> {
        for (name, v) in m.tracked() {
            self.scalar(&format!("{group}/{name}"), step, v)?;
        }
        Ok(())
    }

    pub fn epoch(&mut self, r: &EpochRecord) -> Result<(), TrainError> {
        let step = i64::from(r.epoch);
        self.scalar("train/loss", step, r.train_loss)?;
        self.scalar("train/lr", step, r.lr)?;
        self.metrics("train", step, &r.train)?;
        self.metrics("val", step, &r.val)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_and_steps(fold: &Path) -> Vec<(i64, Option<String>)> {
        let files: Vec<_> = fs::read_dir(fold.join(TENSORBOARD)).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "one event file");
        let bytes = fs::read(files[0].path()).unwrap();
        let (records, whole) = record::records(&bytes);
        assert!(whole);
        records.into_iter().map(|r| proto::step_and_tag(r).unwrap()).collect()
    }

    #[test]
    fn a_restart_keeps_what_came_before_its_checkpoint_and_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let fold = dir.path();
        let mut f = EventFile::open(fold, Resume { epoch: 0, step: 0 }).unwrap();
        f.session_start(&[("a".into(), HValue::Bool(true))]).unwrap();
        for step in 1..=6 {
            f.scalar("batch/loss", step, 0.5).unwrap();
            if step % 3 == 0 {
                f.scalar("train/loss", step / 3 - 1, 0.4).unwrap();
            }
        }
        f.session_end().unwrap();
        drop(f);
        // A half-written record at the end, as a kill leaves it.
        let path = fs::read_dir(fold.join(TENSORBOARD)).unwrap().next().unwrap().unwrap().path();
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend(&record::frame(&proto::scalar(0.0, 7, "batch/loss", 1.0))[..9]);
        fs::write(&path, bytes).unwrap();

        // The checkpoint of epoch 1, batch 1: four steps, one epoch.
        let mut f = EventFile::open(fold, Resume { epoch: 1, step: 4 }).unwrap();
        f.scalar("batch/loss", 5, 0.5).unwrap();
        drop(f);
        let got = tags_and_steps(fold);
        let expected: Vec<(i64, Option<String>)> = [
            (0, None),
            (1, Some("batch/loss")),
            (2, Some("batch/loss")),
            (3, Some("batch/loss")),
            (0, Some("train/loss")),
            (4, Some("batch/loss")),
            (5, Some("batch/loss")),
        ]
        .into_iter()
        .map(|(s, t)| (s, t.map(str::to_owned)))
        .collect();
        assert_eq!(got, expected);

        // Nothing to drop: the same file, appended to.
        let file = |fold: &Path| fs::read_dir(fold.join(TENSORBOARD)).unwrap().next().unwrap();
        let first = file(fold).unwrap().path();
        let mut f = EventFile::open(fold, Resume { epoch: 1, step: 5 }).unwrap();
        f.scalar("batch/loss", 6, 0.5).unwrap();
        drop(f);
        assert_eq!(file(fold).unwrap().path(), first);
        assert_eq!(tags_and_steps(fold).len(), expected.len() + 1);
    }
}
