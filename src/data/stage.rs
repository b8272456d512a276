//! The data stage as `run`, `prepare` and `data-check` drive it: the dataset folder
//! (generated once into the cache folder for a synthetic source), its scan and labels (or,
//! for `data-check`, every problem in them at once), and the HDF5 clip cache.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cache::{self, CacheError, PrepareSummary};
use super::echonet::{
    DataReport, EchoNetDataset, OnBadVideo, ScanOptions, Split, inspect_echonet, read_file_list,
    scan_echonet,
};
use super::labels::{LabelReport, LabelledVideo, label_all, label_videos};
use super::synth::{self, SynthConfig};
use super::{DataConfig, DataError, DataSource, SplitConfig};
use crate::atomic;

/// A scanned and labelled dataset.
pub struct Dataset {
    pub scan: EchoNetDataset,
    pub labelled: Vec<LabelledVideo>,
    pub labels: LabelReport,
}

/// What the data stage found and did, as stored in a result directory (`data-report.json`).
#[derive(Serialize)]
pub struct StageReport<'a> {
    pub data: &'a DataReport,
    pub labels: &'a LabelReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'a PrepareSummary>,
}

/// The EchoNet-Dynamic-layout folder the experiment reads: the user's, or the synthetic one
/// (generated on first use, keyed by the generator's parameters).
pub fn dataset_root(data: &DataConfig, cache_dir: &Path) -> Result<PathBuf, DataError> {
    match &data.source {
        DataSource::Echonet { root } => Ok(root.clone()),
        DataSource::Synthetic(cfg) => synthetic_root(cfg, cache_dir),
    }
}

fn synthetic_dir(cfg: &SynthConfig, cache_dir: &Path) -> PathBuf {
    let key = blake3::hash(serde_jcs::to_string(cfg).expect("JSON").as_bytes()).to_hex();
    cache_dir.join(format!("synthetic-{}", &key[..12]))
}

fn synthetic_root(cfg: &SynthConfig, cache_dir: &Path) -> Result<PathBuf, DataError> {
    let dir = synthetic_dir(cfg, cache_dir);
    if dir.join("FileList.csv").is_file() {
        return Ok(dir);
    }
    fs::create_dir_all(cache_dir)
        .map_err(|source| DataError::CacheIo { path: cache_dir.to_path_buf(), source })?;
    let name = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = cache_dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    // A folder is renamed into place only once it is whole: a fault on the way leaves none.
    if let Err(e) = synth::generate(cfg, &tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(match e {
            DataError::Io { path, source } => DataError::CacheIo { path, source },
            e => e,
        });
    }
    // A folder without its FileList.csv is not one a generation finished: replace it. One
    // that has it was renamed into place by another process meanwhile (from the same
    // parameters, so the same bytes): keep it, since that process may be reading it.
    if dir.exists() && !dir.join("FileList.csv").is_file() {
        let _ = fs::remove_dir_all(&dir);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        let _ = fs::remove_dir_all(&tmp);
        if !dir.join("FileList.csv").is_file() {
            return Err(DataError::CacheIo { path: dir, source: e });
        }
    }
    atomic::sync_dir(cache_dir)
        .map_err(|source| DataError::CacheIo { path: cache_dir.to_path_buf(), source })?;
    Ok(dir)
}

/// Videos per class (normal, abnormal) in the pool that cross-validation divides (train +
/// val), when the dataset's FileList.csv is already on disk; `None` otherwise.
pub fn known_pool_classes(data: &DataConfig, cache_dir: &Path) -> Option<[usize; 2]> {
    let root = match &data.source {
        DataSource::Echonet { root } => root.clone(),
        DataSource::Synthetic(cfg) => synthetic_dir(cfg, cache_dir),
    };
    let rows = read_file_list(&root.join("FileList.csv")).ok()?;
    let mut counts = [0usize; 2];
    for row in &rows {
        let in_pool = match data.split {
            SplitConfig::Official => row.split != Split::Test,
            SplitConfig::Stratified { .. } => true,
        };
        if let Some(class) = row.ef.and_then(|ef| data.labels.classify(ef)).filter(|_| in_pool) {
            counts[class.index()] += 1;
        }
    }
    if let SplitConfig::Stratified { test, .. } = data.split {
        // The held-out test split takes its share of each class.
        counts = counts.map(|n| n - (n as f64 * test).round() as usize);
    }
    Some(counts)
}

/// Scans and labels the dataset, following `data.on_bad_video`.
pub fn load(data: &DataConfig, cache_dir: &Path) -> Result<Dataset, DataError> {
    let root = dataset_root(data, cache_dir)?;
    let scan = scan_echonet(
        &root,
        ScanOptions { on_bad_video: data.on_bad_video, decode_all_frames: false },
    )?;
    let (labelled, labels) = label_videos(scan.videos.clone(), &data.labels, data.on_bad_video)?;
    Ok(Dataset { scan, labelled, labels })
}

/// What `data-check` found: every problem at once, whatever `on_bad_video` says.
pub struct Check {
    /// The dataset as [`load`] reads it under `on_bad_video = "skip"`.
    pub dataset: Dataset,
    /// CSV records that cannot be read: `load` stops at the first under either policy.
    pub bad_records: Vec<DataError>,
    /// Missing or unreadable videos, then videos without a usable EF, each in FileList.csv
    /// order: `load` stops at the first under `error` and leaves them out under `skip`.
    pub bad_videos: Vec<DataError>,
}

impl Check {
    /// Whether [`load`] under `policy` would stop on this data, or leave no video to train on.
    pub fn stops_a_run(&self, policy: OnBadVideo) -> bool {
        !self.bad_records.is_empty()
            || self.dataset.labelled.is_empty()
            || (policy == OnBadVideo::Error && !self.bad_videos.is_empty())
    }
}

/// Scans and labels the dataset as [`load`] does, reading past everything it cannot use.
pub fn check(data: &DataConfig, cache_dir: &Path) -> Result<Check, DataError> {
    let root = dataset_root(data, cache_dir)?;
    let found = inspect_echonet(&root)?;
    let labelled = label_all(found.dataset.videos.clone(), &data.labels)?;
    let mut bad_videos = found.bad_videos;
    bad_videos.extend(labelled.unlabelled);
    Ok(Check {
        dataset: Dataset {
            scan: found.dataset,
            labelled: labelled.videos,
            labels: labelled.report,
        },
        bad_records: found.bad_records,
        bad_videos,
    })
}

/// Builds (or reuses) the clip cache of a loaded dataset.
pub fn prepare(
    data: &DataConfig,
    dataset: &Dataset,
    cache_dir: &Path,
) -> Result<PrepareSummary, CacheError> {
    let path = cache::cache_path(cache_dir, &dataset.scan.root, data.resize);
    cache::prepare(
        &dataset.labelled,
        &dataset.scan,
        &data.labels,
        data.resize,
        data.on_bad_video,
        &path,
    )
}
