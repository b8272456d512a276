//! The HDF5 clip cache: every usable video decoded once into 8-bit grey frames at the
//! configured size, one dataset per video, chunked along frames and deflate-compressed so that
//! plain h5py reads it. Layout:
//!
//! ```text
//! /videos/<FileName>   uint8 [frames, size, size]; attributes file_name, ef, label, split,
//!                      fps, original_height, original_width, frame_count
//! /manifest            uint8 bytes of a JSON list of the sources (name, bytes, mtime) that
//!                      made the cache; a change in any source rebuilds it
//! attributes of /      size, label_rule (JSON; another rule rebuilds it), runner_version
//! ```
//!
//! A cache is built into a temporary file and renamed into place, so an interrupted prepare
//! never leaves a file that is taken as valid. Decoding runs on all cores; only writing holds
//! HDF5's global lock.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use hdf5::types::VarLenUnicode;
use rayon::prelude::*;
use serde::Serialize;

use super::echonet::{EchoNetDataset, OnBadVideo};
use super::error::DataError;
use super::labels::{LabelRule, LabelledVideo};
use crate::atomic;
use crate::io_retry::{self, Fault};

/// Videos decoded in memory at once while building (bounds memory, keeps all cores busy).
const BATCH: usize = 32;
/// Frames per HDF5 chunk.
const CHUNK_FRAMES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{}: HDF5: {message}", .path.display())]
    Hdf5 { path: PathBuf, message: String },
    /// Writing or publishing the cache file itself.
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Data(#[from] DataError),
}

impl CacheError {
    /// The fault of the machine this error is: any failure to write, publish or read the
    /// cache file (it is the runner's own, rebuilt from the dataset when in doubt), and a
    /// transient or full-disk error reading or generating the data (`DataError::fault`).
    pub fn fault(&self) -> Option<Fault<'_>> {
        match self {
            CacheError::Hdf5 { path, .. } => Some(Fault { path, source: None }),
            CacheError::Io { path, source } => Some(Fault { path, source: Some(source) }),
            CacheError::Data(e) => e.fault(),
        }
    }
}

fn cache_io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io { path: path.to_path_buf(), source }
}

fn h5(path: &Path) -> impl Fn(hdf5::Error) -> CacheError + '_ {
    move |e| CacheError::Hdf5 { path: path.to_path_buf(), message: e.to_string() }
}

/// One source file, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
struct Source {
    name: String,
    bytes: u64,
    mtime_ns: u128,
}

/// What [`prepare`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareSummary {
    pub path: PathBuf,
    /// The cache was valid and kept as it was.
    pub reused: bool,
    pub videos: usize,
    pub frames: usize,
    /// Videos that failed to decode and were skipped (`on_bad_video = "skip"`), with why.
    pub skipped: Vec<(String, String)>,
}

/// The cache file of a dataset folder at a frame size, under `cache_dir`.
pub fn cache_path(cache_dir: &Path, dataset_root: &Path, size: u32) -> PathBuf {
    let root = dataset_root.canonicalize().unwrap_or_else(|_| dataset_root.to_path_buf());
    let key = blake3::hash(root.to_string_lossy().as_bytes()).to_hex();
    cache_dir.join(format!("clips-{}-{size}px.h5", &key[..12]))
}

fn manifest(dataset: &EchoNetDataset) -> Result<String, DataError> {
    let mut files: Vec<(String, PathBuf)> =
        dataset.videos.iter().map(|v| (v.row.file_name.clone(), v.path.clone())).collect();
    files.push(("FileList.csv".into(), dataset.root.join("FileList.csv")));
    let sources = files
        .into_iter()
        .map(|(name, path)| {
            let meta = fs::metadata(&path).map_err(|e| DataError::io(&path, e))?;
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            Ok(Source { name, bytes: meta.len(), mtime_ns })
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    Ok(serde_json::to_string(&sources).expect("a manifest is JSON"))
}

/// Builds the cache at `path` unless a valid one (same sources, size and label rule) is there.
pub fn prepare(
    labelled: &[LabelledVideo],
    dataset: &EchoNetDataset,
    rule: &LabelRule,
    size: u32,
    policy: OnBadVideo,
    path: &Path,
) -> Result<PrepareSummary, CacheError> {
    let manifest = manifest(dataset)?;
    let rule_json = serde_json::to_string(rule).expect("a label rule is JSON");
    if let Ok(cache) = ClipCache::open(path)
        && cache.size == size
        && cache.manifest == manifest
        && cache.label_rule == rule_json
    {
        let frames = cache.videos.iter().map(|v| v.frames).sum();
        return Ok(PrepareSummary {
            path: path.to_path_buf(),
            reused: true,
            videos: cache.videos.len(),
            frames,
            skipped: vec![],
        });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    io_retry::retry(dir, || fs::create_dir_all(dir)).map_err(cache_io(dir))?;
    let tmp = dir.join(crate::atomic::tmp_name(
        &path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    ));
    let result = build(labelled, &rule_json, size, policy, &manifest, &tmp);
    match result {
        Ok((videos, frames, skipped)) => {
            // The file is closed (and flushed) by now; make it durable, then publish it.
            let published = io_retry::retry(&tmp, || {
                fs::File::open(&tmp)?.sync_all()?;
                fs::rename(&tmp, path)?;
                atomic::sync_dir(dir)
            });
            if let Err(e) = published {
                let _ = fs::remove_file(&tmp);
                return Err(cache_io(path)(e));
            }
            Ok(PrepareSummary { path: path.to_path_buf(), reused: false, videos, frames, skipped })
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

type Built = (usize, usize, Vec<(String, String)>);

fn build(
    labelled: &[LabelledVideo],
    rule_json: &str,
    size: u32,
    policy: OnBadVideo,
    manifest: &str,
    tmp: &Path,
) -> Result<Built, CacheError> {
    let file = hdf5::File::create(tmp).map_err(h5(tmp))?;
    let group = file.create_group("videos").map_err(h5(tmp))?;
    let (mut videos, mut frames, mut skipped) = (0, 0, Vec::new());
    let side = size as usize;
    for batch in labelled.chunks(BATCH) {
        let decoded: Vec<Result<Vec<u8>, DataError>> = batch
            .par_iter()
            .map(|lv| {
                let avi = super::avi::AviFile::open(&lv.video.path)?;
                let mut pixels = Vec::with_capacity(avi.frame_count() * side * side);
                for frame in avi.read_all_frames()? {
                    pixels.extend_from_slice(frame.resize_square(size).pixels());
                }
                Ok(pixels)
            })
            .collect();
        for (lv, pixels) in batch.iter().zip(decoded) {
            let pixels = match pixels {
                Ok(p) => p,
                Err(e) if policy == OnBadVideo::Skip => {
                    skipped.push((lv.video.row.file_name.clone(), e.to_string()));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let n = pixels.len() / (side * side);
            let ds = group
                .new_dataset::<u8>()
                .chunk((n.min(CHUNK_FRAMES), side, side))
                .deflate(4)
                .shape((n, side, side))
                .create(lv.video.row.file_name.as_str())
                .map_err(h5(tmp))?;
            ds.write_raw(&pixels).map_err(h5(tmp))?;
            let v = &lv.video;
            let text = |s: &str| {
                s.parse::<VarLenUnicode>().map_err(|e| CacheError::Hdf5 {
                    path: tmp.to_path_buf(),
                    message: e.to_string(),
                })
            };
            let put_str = |name: &str, value: &str| -> Result<(), CacheError> {
                ds.new_attr::<VarLenUnicode>()
                    .create(name)
                    .map_err(h5(tmp))?
                    .write_scalar(&text(value)?)
                    .map_err(h5(tmp))
            };
            put_str("file_name", &v.row.file_name)?;
            put_str("split", v.row.split.as_str())?;
            let put_f64 = |name: &str, value: f64| {
                ds.new_attr::<f64>()
                    .create(name)
                    .and_then(|a| a.write_scalar(&value))
                    .map_err(h5(tmp))
            };
            put_f64("ef", v.row.ef.unwrap_or(f64::NAN))?;
            put_f64("fps", v.fps)?;
            let put_u32 = |name: &str, value: u32| {
                ds.new_attr::<u32>()
                    .create(name)
                    .and_then(|a| a.write_scalar(&value))
                    .map_err(h5(tmp))
            };
            put_u32("label", lv.class.index() as u32)?;
            put_u32("original_height", v.height)?;
            put_u32("original_width", v.width)?;
            put_u32("frame_count", n as u32)?;
            videos += 1;
            frames += n;
        }
    }
    let bytes = manifest.as_bytes();
    file.new_dataset::<u8>()
        .shape(bytes.len())
        .create("manifest")
        .and_then(|d| d.write_raw(bytes))
        .map_err(h5(tmp))?;
    file.new_attr::<u32>().create("size").and_then(|a| a.write_scalar(&size)).map_err(h5(tmp))?;
    for (name, value) in [("label_rule", rule_json), ("runner_version", env!("CARGO_PKG_VERSION"))]
    {
        let value = value
            .parse::<VarLenUnicode>()
            .map_err(|e| CacheError::Hdf5 { path: tmp.to_path_buf(), message: e.to_string() })?;
        file.new_attr::<VarLenUnicode>()
            .create(name)
            .and_then(|a| a.write_scalar(&value))
            .map_err(h5(tmp))?;
    }
    file.close().map_err(h5(tmp))?;
    Ok((videos, frames, skipped))
}

/// A video in the cache.
#[derive(Debug, Clone)]
pub struct CachedVideo {
    pub name: String,
    pub frames: usize,
    /// Where its chunks lie in the file, by first frame.
    chunks: Vec<Chunk>,
}

/// One stored chunk: frames `first..first + CHUNK_FRAMES` (fewer at the end of a video).
#[derive(Debug, Clone, Copy)]
struct Chunk {
    first: usize,
    addr: u64,
    bytes: usize,
    deflated: bool,
}

/// An open cache. Reads of frame ranges go straight to the chunks' bytes in the file and
/// inflate them with zlib outside HDF5, so they run in parallel without its global lock.
pub struct ClipCache {
    path: PathBuf,
    file: hdf5::File,
    raw: fs::File,
    pub size: u32,
    pub videos: Vec<CachedVideo>,
    index: std::collections::HashMap<String, usize>,
    manifest: String,
    /// The label rule (JSON) its `label` attributes follow.
    label_rule: String,
}

impl ClipCache {
    pub fn open(path: &Path) -> Result<ClipCache, CacheError> {
        let file = hdf5::File::open(path).map_err(h5(path))?;
        let size = file.attr("size").and_then(|a| a.read_scalar::<u32>()).map_err(h5(path))?;
        let manifest_bytes =
            file.dataset("manifest").and_then(|d| d.read_raw::<u8>()).map_err(h5(path))?;
        let manifest = String::from_utf8_lossy(&manifest_bytes).into_owned();
        let label_rule = file
            .attr("label_rule")
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map_err(h5(path))?
            .as_str()
            .to_owned();
        let group = file.group("videos").map_err(h5(path))?;
        let mut videos = Vec::new();
        for name in group.member_names().map_err(h5(path))? {
            let ds = group.dataset(&name).map_err(h5(path))?;
            let frames = ds.shape().first().copied().unwrap_or(0);
            let count = ds.num_chunks().unwrap_or(0);
            let mut chunks = (0..count)
                .map(|i| {
                    let info = ds.chunk_info(i).ok_or_else(|| CacheError::Hdf5 {
                        path: path.to_path_buf(),
                        message: format!("videos/{name}: no chunk {i}"),
                    })?;
                    Ok(Chunk {
                        first: info.offset.first().copied().unwrap_or(0) as usize,
                        addr: info.addr,
                        bytes: info.size as usize,
                        deflated: info.filter_mask & 1 == 0,
                    })
                })
                .collect::<Result<Vec<_>, CacheError>>()?;
            chunks.sort_by_key(|c| c.first);
            videos.push(CachedVideo { name, frames, chunks });
        }
        let index = videos.iter().enumerate().map(|(i, v)| (v.name.clone(), i)).collect();
        let raw = io_retry::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(ClipCache {
            path: path.to_path_buf(),
            file,
            raw,
            size,
            videos,
            index,
            manifest,
            label_rule,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames of a cached video; `None` when the cache does not hold it.
    pub fn frames_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).map(|&i| self.videos[i].frames)
    }

    /// All frames of a video, `[frames, size, size]` row-major.
    pub fn read_video(&self, name: &str) -> Result<Vec<u8>, CacheError> {
        let ds = self.file.dataset(&format!("videos/{name}")).map_err(h5(&self.path))?;
        ds.read_raw::<u8>().map_err(h5(&self.path))
    }

    /// Every video decompressed into memory, for training runs whose data fits: reading a
    /// clip is then a copy, with no HDF5 call (nor its global lock) on the hot path.
    pub fn load_all(&self) -> Result<InMemoryClips, CacheError> {
        let mut videos = std::collections::HashMap::new();
        for v in &self.videos {
            videos.insert(v.name.clone(), self.read_video(&v.name)?);
        }
        Ok(InMemoryClips { side: self.size as usize, videos })
    }

    /// The frames `start..end` of a video, `[end - start, size, size]` row-major: only the
    /// chunks holding them are read and inflated.
    pub fn read_range(&self, name: &str, start: usize, end: usize) -> Result<Vec<u8>, CacheError> {
        use std::io::Read;
        use std::os::unix::fs::FileExt;
        let bad = |message: String| CacheError::Hdf5 {
            path: self.path.clone(),
            message: format!("videos/{name}: {message}"),
        };
        let video = self
            .index
            .get(name)
            .map(|&i| &self.videos[i])
            .ok_or_else(|| bad("no such video".into()))?;
        if start > end || end > video.frames {
            return Err(bad(format!(
                "frames {start}..{end} requested, the video has {}",
                video.frames
            )));
        }
        let frame = (self.size as usize).pow(2);
        let mut out = Vec::with_capacity((end - start) * frame);
        let mut stored = Vec::new();
        let mut chunk = Vec::new();
        for c in video.chunks.iter().filter(|c| c.first < end && c.first + CHUNK_FRAMES > start) {
            stored.resize(c.bytes, 0);
            self.raw
                .read_exact_at(&mut stored, c.addr)
                .map_err(|e| DataError::io(&self.path, e))?;
            chunk.clear();
            if c.deflated {
                flate2::read::ZlibDecoder::new(stored.as_slice())
                    .read_to_end(&mut chunk)
                    .map_err(|e| bad(format!("chunk at frame {}: {e}", c.first)))?;
            } else {
                chunk.extend_from_slice(&stored);
            }
            let from = start.max(c.first) - c.first;
            let to = end.min(c.first + CHUNK_FRAMES) - c.first;
            let bytes = chunk
                .get(from * frame..to * frame)
                .ok_or_else(|| bad(format!("short chunk at frame {}", c.first)))?;
            out.extend_from_slice(bytes);
        }
        Ok(out)
    }
}

/// A whole cache in memory (see [`ClipCache::load_all`]).
pub struct InMemoryClips {
    side: usize,
    videos: std::collections::HashMap<String, Vec<u8>>,
}

impl InMemoryClips {
    /// Frames `start..end` of a video, `[end - start, size, size]` row-major; `None` for an
    /// unknown video or a range past its end.
    pub fn range(&self, name: &str, start: usize, end: usize) -> Option<&[u8]> {
        let frame = self.side * self.side;
        self.videos.get(name)?.get(start * frame..end * frame)
    }

    /// Frames given directly, `[frames, side, side]` per video: for tests of what reads them.
    #[cfg(test)]
    pub fn from_frames(side: usize, videos: std::collections::HashMap<String, Vec<u8>>) -> Self {
        InMemoryClips { side, videos }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::echonet::{ScanOptions, scan_echonet};
    use crate::data::labels::label_videos;
    use crate::data::synth::{SynthConfig, generate};

    const SIZE: u32 = 24;

    fn dataset(dir: &Path) -> (EchoNetDataset, Vec<LabelledVideo>) {
        let cfg = SynthConfig {
            videos: 5,
            seed: 9,
            frame_size: 32,
            min_frames: 16,
            max_frames: 30,
            ..SynthConfig::default()
        };
        generate(&cfg, dir).unwrap();
        let scan = scan_echonet(dir, ScanOptions::default()).unwrap();
        let (labelled, _) =
            label_videos(scan.videos.clone(), &LabelRule::default(), OnBadVideo::Error).unwrap();
        (scan, labelled)
    }

    fn build(scan: &EchoNetDataset, labelled: &[LabelledVideo], path: &Path) -> PrepareSummary {
        prepare(labelled, scan, &LabelRule::default(), SIZE, OnBadVideo::Error, path).unwrap()
    }

    #[test]
    fn cache_holds_the_decoded_resized_frames_and_reads_any_range() {
        let tmp = tempfile::tempdir().unwrap();
        let (scan, labelled) = dataset(&tmp.path().join("data"));
        let path = tmp.path().join("clips.h5");
        let summary = build(&scan, &labelled, &path);
        assert!(!summary.reused);
        assert_eq!(summary.videos, 5);
        let cache = ClipCache::open(&path).unwrap();
        let memory = cache.load_all().unwrap();
        let frame = (SIZE * SIZE) as usize;
        for lv in &labelled {
            let name = &lv.video.row.file_name;
            let direct: Vec<u8> = crate::data::avi::AviFile::open(&lv.video.path)
                .unwrap()
                .read_all_frames()
                .unwrap()
                .iter()
                .flat_map(|f| f.resize_square(SIZE).into_pixels())
                .collect();
            assert_eq!(cache.read_video(name).unwrap(), direct, "{name}");
            let n = direct.len() / frame;
            for (a, b) in [(0, n), (3, 11), (4, 8), (n - 1, n), (5, 5)] {
                let want = &direct[a * frame..b * frame];
                assert_eq!(cache.read_range(name, a, b).unwrap(), want, "{name} {a}..{b}");
                assert_eq!(memory.range(name, a, b).unwrap(), want);
            }
            assert!(cache.read_range(name, 0, n + 1).is_err());
        }
    }

    #[test]
    fn a_valid_cache_is_reused_and_a_changed_or_broken_one_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let (scan, labelled) = dataset(&tmp.path().join("data"));
        let path = tmp.path().join("clips.h5");
        assert!(!build(&scan, &labelled, &path).reused);
        assert!(build(&scan, &labelled, &path).reused);
        let video = &labelled[0].video.path;
        fs::File::options()
            .write(true)
            .open(video)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3))
            .unwrap();
        assert!(!build(&scan, &labelled, &path).reused);
        // Another label rule rebuilds it, so that its `label` attributes follow the rule.
        let below = LabelRule::Below { threshold: 40.0 };
        let relabel = || prepare(&labelled, &scan, &below, SIZE, OnBadVideo::Error, &path).unwrap();
        assert!(!relabel().reused);
        assert!(relabel().reused);
        assert!(!build(&scan, &labelled, &path).reused);
        // A truncated cache (say, copied while it was written) is not taken as valid.
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(!build(&scan, &labelled, &path).reused);
        assert_eq!(ClipCache::open(&path).unwrap().videos.len(), 5);
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.contains(".tmp-").then_some(name)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
