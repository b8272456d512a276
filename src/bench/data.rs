//! `runner bench data`: AVI decoding, cache preparation and cache reads on generated videos.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;

use crate::data::avi::AviFile;
use crate::data::cache::{self, CacheError, ClipCache};
use crate::data::echonet::{OnBadVideo, ScanOptions, scan_echonet};
use crate::data::labels::{LabelRule, label_videos};
use crate::data::synth::{self, SynthConfig};

#[derive(Debug, Clone)]
pub struct DataBench {
    /// Synthetic videos to generate and measure on.
    pub videos: u32,
    /// Frame size of the videos and of the cache.
    pub size: u32,
    /// Frames per clip read from the cache.
    pub clip_frames: usize,
    /// Clips read per measurement.
    pub reads: usize,
    /// Scratch folder (removed afterwards).
    pub scratch: PathBuf,
}

/// Decode, prepare and cache-read throughput on generated EchoNet-like videos.
pub fn data(opts: &DataBench) -> Result<Vec<serde_json::Value>, CacheError> {
    let root = opts.scratch.join("EchoNet-Dynamic");
    let _ = std::fs::remove_dir_all(&opts.scratch);
    let synth_cfg = SynthConfig {
        videos: opts.videos,
        seed: 1,
        frame_size: opts.size,
        ..SynthConfig::default()
    };
    synth::generate(&synth_cfg, &root)?;
    let result = measure(opts, &root);
    let _ = std::fs::remove_dir_all(&opts.scratch);
    result
}

fn measure(opts: &DataBench, root: &Path) -> Result<Vec<serde_json::Value>, CacheError> {
    let threads = rayon::current_num_threads();
    let scan = scan_echonet(
        root,
        ScanOptions { on_bad_video: OnBadVideo::Error, decode_all_frames: false },
    )?;
    let paths: Vec<&Path> = scan.videos.iter().map(|v| v.path.as_path()).collect();
    let decode = |path: &&Path| -> Result<usize, CacheError> {
        Ok(AviFile::open(path)?.read_all_frames()?.len())
    };

    let t = Instant::now();
    let frames: usize = paths.iter().map(decode).sum::<Result<usize, _>>()?;
    let one_core = frames as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _: usize = paths.par_iter().map(decode).sum::<Result<usize, _>>()?;
    let all_cores = frames as f64 / t.elapsed().as_secs_f64();

    let (labelled, _) =
        label_videos(scan.videos.clone(), &LabelRule::default(), OnBadVideo::Error)?;
    let path = opts.scratch.join("clips.h5");
    let t = Instant::now();
    cache::prepare(&labelled, &scan, &LabelRule::default(), opts.size, OnBadVideo::Error, &path)?;
    let prepare = labelled.len() as f64 / t.elapsed().as_secs_f64();

    let clips = ClipCache::open(&path)?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let windows: Vec<(String, usize)> = (0..opts.reads)
        .map(|_| {
            let v = &clips.videos[rng.random_range(0..clips.videos.len())];
            let start = rng.random_range(0..=v.frames.saturating_sub(opts.clip_frames));
            (v.name.clone(), start)
        })
        .collect();
    let n = opts.clip_frames;
    let t = Instant::now();
    for (name, start) in &windows {
        clips.read_range(name, *start, start + n)?;
    }
    let hdf5_one = windows.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    windows
        .par_iter()
        .try_for_each(|(name, start)| clips.read_range(name, *start, start + n).map(drop))?;
    let hdf5_all = windows.len() as f64 / t.elapsed().as_secs_f64();

    let memory = clips.load_all()?;
    let t = Instant::now();
    let copied: usize = windows
        .par_iter()
        .map(|(name, start)| {
            let clip = memory.range(name, *start, start + n).map(<[u8]>::to_vec);
            std::hint::black_box(clip).map_or(0, |c| c.len())
        })
        .sum();
    let memory_all = windows.len() as f64 / t.elapsed().as_secs_f64();
    assert_eq!(
        copied,
        windows.len() * n * (opts.size as usize).pow(2),
        "every window lies in its video"
    );

    let line = |metric: &str, value: f64, unit: &str| {
        json!({"bench": "data", "metric": metric, "value": (value * 10.0).round() / 10.0, "unit": unit,
               "videos": opts.videos, "size": opts.size, "clip_frames": n, "threads": threads})
    };
    Ok(vec![
        line("avi_decode_one_core", one_core, "frames/s"),
        line("avi_decode_all_cores", all_cores, "frames/s"),
        line("prepare", prepare, "videos/s"),
        line("cache_read_hdf5_one_thread", hdf5_one, "clips/s"),
        line("cache_read_hdf5_all_threads", hdf5_all, "clips/s"),
        line("cache_read_in_memory_all_threads", memory_all, "clips/s"),
    ])
}
