//! Checkpoints within a fold: `fold-<k>/checkpoints/e<epoch>-b<batch>/`, written at every
//! epoch end and when a stop is requested, the last two kept.
//!
//! One checkpoint is `state.json` (where the loop stands, the epoch so far, the history and
//! the best epoch), `model.mpk` and `optimizer.mpk` (Burn records, parameter ids included,
//! so the optimizer's moments meet their parameters again) and `checksum`: blake3 over the
//! three, written last. It is built in a temporary folder and renamed into place, so a crash
//! leaves a whole checkpoint or none. The random streams need no saved state: each is a pure
//! function of (seed, fold, epoch, batch or sample), so the position is the state. f16's loss
//! scale is state of its own, and `state.json` carries it. A write that fails with a
//! transient I/O error is tried again whole (`io_retry`); one that fails for good leaves the
//! checkpoints before it as they were.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::loss_scale::LossScale;
use super::metrics::Metrics;
use crate::atomic;
use crate::data::labels::Class;
use crate::io_retry::{self, MaybeTransient};

/// How a checkpoint's model and optimizer records are written: full precision, named
/// MessagePack, in memory (then written atomically with the rest).
pub type RecordBytes = burn::record::NamedMpkBytesRecorder<burn::record::FullPrecisionSettings>;

pub const CHECKPOINTS: &str = "checkpoints";
const STATE: &str = "state.json";
const MODEL: &str = "model.mpk";
const OPTIMIZER: &str = "optimizer.mpk";
const CHECKSUM: &str = "checksum";
const KEEP: usize = 2;

/// What one epoch did, as `history.json` and `metrics.json` list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u32,
    pub lr: f64,
    pub train_loss: f64,
    /// On the epoch's sampled training clips (with their augmentation), at the objective's
    /// threshold.
    pub train: Metrics,
    /// With the validation loss (`val.loss`).
    pub val: Metrics,
    /// f16's loss scaling over the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<EpochScaling>,
}

/// How f16's loss scaling went in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochScaling {
    /// The scale at the epoch's end.
    pub scale: f64,
    /// Steps whose gradients overflowed, so the optimizer did not take them.
    pub skipped_steps: u32,
}

/// The running sums of the epoch in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSoFar {
    pub loss_sum: f64,
    pub labels: Vec<Class>,
    pub probs: Vec<f64>,
    /// f16: steps skipped for overflowing gradients.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The best epoch so far; its weights are `fold-<k>/best.safetensors`, whose blake3 is kept
/// here to tell that file from one a later (lost) epoch wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub epoch: u32,
    pub score: f64,
    pub val: Metrics,
    pub val_probs: Vec<f64>,
    pub weights_blake3: String,
}

/// Where a fold's loop stands: the next batch to train is `batch` of epoch `epoch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: u32,
    pub batch: usize,
    pub so_far: EpochSoFar,
    pub history: Vec<EpochRecord>,
    pub best: Option<Best>,
    /// f16's loss scaling, where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScale>,
}

impl LoopState {
    fn dir_name(&self) -> String {
        format!("e{:05}-b{:07}", self.epoch, self.batch)
    }
}

/// `state.json`: the loop state and when it was written (for `runner status`).
#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    written: String,
    state: LoopState,
}

/// A checkpoint read back and verified.
pub struct Restored {
    pub path: PathBuf,
    pub state: LoopState,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl MaybeTransient for CheckpointError {
    fn transient(&self) -> bool {
        let CheckpointError::Io { source, .. } = self;
        source.transient()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

fn digest(parts: [&[u8]; 3]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().to_hex().to_string()
}

/// Writes a checkpoint of `state` into `fold_dir/checkpoints/` and drops all but the last
/// two. Returns its path.
pub fn save(
    fold_dir: &Path,
    state: &LoopState,
    model: &[u8],
    optimizer: &[u8],
) -> Result<PathBuf, CheckpointError> {
    let root = fold_dir.join(CHECKPOINTS);
    io_retry::retry(&root, || save_once(fold_dir, state, model, optimizer))
}

fn save_once(
    fold_dir: &Path,
    state: &LoopState,
    model: &[u8],
    optimizer: &[u8],
) -> Result<PathBuf, CheckpointError> {
    let root = fold_dir.join(CHECKPOINTS);
    fs::create_dir_all(&root).map_err(io(&root))?;
    let name = state.dir_name();
    let tmp = root.join(atomic::tmp_name(&name));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(io(&tmp))?;
    let file = StateFile {
        format: 1,
        written: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        state: state.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).expect("checkpoint state is JSON");
    let sum = digest([&json, model, optimizer]);
    for (file, bytes) in
        [(STATE, &json[..]), (MODEL, model), (OPTIMIZER, optimizer), (CHECKSUM, sum.as_bytes())]
    {
        let path = tmp.join(file);
        let mut f = File::create(&path).map_err(io(&path))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io(&path))?;
    }
    atomic::sync_dir(&tmp).map_err(io(&tmp))?;
    super::crash::point("checkpoint");
    let path = root.join(&name);
    // A replay after a fallback writes a name again; the older one may be the corrupt one.
    if path.exists() {
        fs::remove_dir_all(&path).map_err(io(&path))?;
    }
    fs::rename(&tmp, &path).map_err(io(&path))?;
    atomic::sync_dir(&root).map_err(io(&root))?;
    prune(&root)?;
    Ok(path)
}

/// The checkpoint folders, oldest first (names sort by position).
fn listed(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return vec![] };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('e')))
        .collect();
    out.sort();
    out
}

/// Keeps the last [`KEEP`] checkpoints and removes leftovers of interrupted writes.
fn prune(root: &Path) -> Result<(), CheckpointError> {
    let all = listed(root);
    for old in &all[..all.len().saturating_sub(KEEP)] {
        fs::remove_dir_all(old).map_err(io(old))?;
    }
    for entry in fs::read_dir(root).map_err(io(root))?.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with('.') {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Restored, String> {
    let get = |name: &str| {
        let file = path.join(name);
        io_retry::retry(&file, || fs::read(&file)).map_err(|e| format!("{name}: {e}"))
    };
    let (json, model, optimizer, sum) = (get(STATE)?, get(MODEL)?, get(OPTIMIZER)?, get(CHECKSUM)?);
    let expected = String::from_utf8_lossy(&sum);
    if digest([&json, &model, &optimizer]) != expected.trim() {
        return Err("its checksum does not match its contents".into());
    }
    let file: StateFile = serde_json::from_slice(&json).map_err(|e| format!("{STATE}: {e}"))?;
    if file.format != 1 {
        return Err(format!("{STATE}: format {} is not one this runner reads", file.format));
    }
    Ok(Restored { path: path.to_path_buf(), state: file.state, model, optimizer })
}

/// The newest checkpoint that verifies; each one that does not is reported through `warn`
/// and the one before it tried.
pub fn latest(fold_dir: &Path, warn: &mut dyn FnMut(String)) -> Option<Restored> {
    for path in listed(&fold_dir.join(CHECKPOINTS)).iter().rev() {
        match read(path) {
            Ok(r) => return Some(r),
            Err(why) => warn(format!(
                "checkpoint {} is unusable ({why}); trying the one before it",
                path.display()
            )),
        }
    }
    None
}

/// The newest checkpoint at a glance, unverified (for `runner status`).
pub struct Glance {
    pub path: PathBuf,
    /// The next batch to train is `batch` of epoch `epoch` (0-based).
    pub epoch: u32,
    pub batch: usize,
    /// RFC 3339.
    pub written: String,
    /// The best epoch so far (0-based) and its selection score.
    pub best: Option<(u32, f64)>,
}

/// The newest checkpoint whose `state.json` reads, without checking its checksum.
pub fn peek(fold_dir: &Path) -> Option<Glance> {
    listed(&fold_dir.join(CHECKPOINTS)).into_iter().rev().find_map(|path| {
        let file: StateFile = serde_json::from_slice(&fs::read(path.join(STATE)).ok()?).ok()?;
        let best = file.state.best.as_ref().map(|b| (b.epoch, b.score));
        Some(Glance {
            path,
            epoch: file.state.epoch,
            batch: file.state.batch,
            written: file.written,
            best,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epoch: u32, batch: usize) -> LoopState {
        LoopState {
            epoch,
            batch,
            so_far: EpochSoFar {
                loss_sum: 1.5,
                labels: vec![Class::Abnormal],
                probs: vec![0.25],
                skipped_steps: 0,
            },
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_last_two_and_reads_the_newest_back() {
        let dir = tempfile::tempdir().unwrap();
        for (e, b) in [(0, 0), (1, 0), (1, 3), (2, 0)] {
            save(dir.path(), &state(e, b), &[e as u8; 10], b"optim").unwrap();
        }
        let names: Vec<String> = listed(&dir.path().join(CHECKPOINTS))
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["e00001-b0000003", "e00002-b0000000"]);
        let r = latest(dir.path(), &mut |w| panic!("{w}")).unwrap();
        assert_eq!(r.state, state(2, 0));
        assert_eq!(r.model, [2u8; 10]);
        assert_eq!(peek(dir.path()).map(|g| (g.epoch, g.batch)), Some((2, 0)));
    }

    #[test]
    fn a_corrupt_newest_checkpoint_is_reported_and_the_previous_one_used() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &state(1, 0), b"model one", b"optim").unwrap();
        let newest = save(dir.path(), &state(2, 0), b"model two", b"optim").unwrap();
        let mut bytes = fs::read(newest.join(MODEL)).unwrap();
        bytes[3] ^= 0x40;
        fs::write(newest.join(MODEL), bytes).unwrap();
        let mut warnings = vec![];
        let r = latest(dir.path(), &mut |w| warnings.push(w)).unwrap();
        assert_eq!(r.state.epoch, 1);
        assert_eq!(r.model, b"model one");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("e00002-b0000000") && warnings[0].contains("checksum"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_truncated_or_missing_file_is_unusable_and_none_left_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let only = save(dir.path(), &state(1, 0), b"model", b"optim").unwrap();
        fs::remove_file(only.join(OPTIMIZER)).unwrap();
        let mut warnings = vec![];
        assert!(latest(dir.path(), &mut |w| warnings.push(w)).is_none());
        assert!(warnings[0].contains(OPTIMIZER), "{warnings:?}");
    }

    #[test]
    fn an_interrupted_write_leaves_no_checkpoint_and_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(CHECKPOINTS);
        fs::create_dir_all(root.join(".e00003-b0000000.tmp-host-1")).unwrap();
        assert!(latest(dir.path(), &mut |w| panic!("{w}")).is_none());
        save(dir.path(), &state(1, 0), b"m", b"o").unwrap();
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
    }
}
