//! Synthetic EchoNet-Dynamic generator: writes `FileList.csv`, `VolumeTracings.csv` and
//! `Videos/<FileName>.avi` (MJPEG) in the real dataset's layout, from simulated
//! apical-4-chamber videos whose class follows only from left-ventricular motion (see
//! `video.rs`). Each video comes from its own random stream, derived from (seed, index), so
//! the output is identical whatever the number of threads.

mod config;
mod ef;
mod video;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

pub use config::SynthConfig;

use super::avi::{AviWriteOptions, write_mjpeg_avi};
use super::echonet::{FILE_LIST_HEADER, Split, VOLUME_TRACINGS_HEADER};
use super::error::DataError;
use video::{VideoParams, render, sample_params};

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthSummary {
    pub videos: usize,
    /// Normal and abnormal under the seed's 50–70 rule.
    pub normal: usize,
    pub abnormal: usize,
    /// Abnormal videos with a transient regional wall-motion anomaly.
    pub with_anomaly: usize,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub total_frames: usize,
}

impl std::fmt::Display for SynthSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} videos ({} normal, {} abnormal, {} with a wall-motion anomaly; \
             TRAIN {} / VAL {} / TEST {}), {} frames",
            self.videos,
            self.normal,
            self.abnormal,
            self.with_anomaly,
            self.train,
            self.val,
            self.test,
            self.total_frames
        )
    }
}

/// One generated video's CSV lines and facts.
struct Written {
    file_list_line: String,
    tracing_lines: String,
    abnormal: bool,
    anomaly: bool,
    split: Split,
    frames: usize,
}

/// Generate `cfg.videos` videos into `out_dir` (created if needed; files of the same names
/// are replaced). Videos are rendered and written in parallel; CSVs are written last, each
/// atomically, so a complete `FileList.csv` means a complete dataset.
pub fn generate(cfg: &SynthConfig, out_dir: &Path) -> Result<SynthSummary, DataError> {
    cfg.validate().map_err(DataError::Config)?;
    let videos_dir = out_dir.join("Videos");
    fs::create_dir_all(&videos_dir).map_err(|e| DataError::io(&videos_dir, e))?;

    let written: Vec<Written> = (0..cfg.videos)
        .into_par_iter()
        .map(|index| {
            let params = sample_params(cfg, index);
            let frames = render(&params, cfg.frame_size);
            let path = videos_dir.join(format!("{}.avi", params.file_name));
            let options = AviWriteOptions { fps: params.fps, quality: cfg.jpeg_quality };
            write_mjpeg_avi(&path, &frames, &options)?;
            Ok(describe(&params, cfg.frame_size))
        })
        .collect::<Result<_, DataError>>()?;

    let mut file_list = FILE_LIST_HEADER.join(",") + "\n";
    let mut tracings = VOLUME_TRACINGS_HEADER.join(",") + "\n";
    let mut summary = SynthSummary {
        videos: written.len(),
        normal: 0,
        abnormal: 0,
        with_anomaly: 0,
        train: 0,
        val: 0,
        test: 0,
        total_frames: 0,
    };
    for w in &written {
        file_list.push_str(&w.file_list_line);
        tracings.push_str(&w.tracing_lines);
        if w.abnormal {
            summary.abnormal += 1;
        } else {
            summary.normal += 1;
        }
        summary.with_anomaly += usize::from(w.anomaly);
        match w.split {
            Split::Train => summary.train += 1,
            Split::Val => summary.val += 1,
            Split::Test => summary.test += 1,
        }
        summary.total_frames += w.frames;
    }
    write_atomic(&out_dir.join("VolumeTracings.csv"), tracings.as_bytes())?;
    write_atomic(&out_dir.join("FileList.csv"), file_list.as_bytes())?;
    Ok(summary)
}

fn describe(p: &VideoParams, size: u32) -> Written {
    let file_list_line = format!(
        "{},{},{},{},{size},{size},{},{},{}\n",
        p.file_name,
        p.ef,
        p.esv,
        p.edv,
        p.fps,
        p.frames,
        p.split.as_str()
    );
    let (ed, es) = p.ed_es_frames();
    let mut tracing_lines = String::new();
    for frame in [ed, es] {
        for [x1, y1, x2, y2] in p.tracing(frame) {
            // Writing to a String cannot fail.
            let _ = writeln!(
                tracing_lines,
                "{}.avi,{x1:.4},{y1:.4},{x2:.4},{y2:.4},{frame}",
                p.file_name
            );
        }
    }
    Written {
        file_list_line,
        tracing_lines,
        abnormal: p.abnormal,
        anomaly: p.anomaly.is_some(),
        split: p.split,
        frames: p.frames as usize,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    crate::atomic::write_file(path, bytes).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::data::avi::AviFile;
    use crate::data::echonet::{OnBadVideo, ScanOptions, TracingRow, scan_echonet};
    use crate::data::labels::{Class, LabelRule, label_videos};

    fn small(videos: u32, seed: u64) -> SynthConfig {
        SynthConfig {
            videos,
            seed,
            frame_size: 64,
            min_frames: 20,
            max_frames: 60,
            ..SynthConfig::default()
        }
    }

    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.expect("walk");
            if entry.file_type().is_file() {
                let rel =
                    entry.path().strip_prefix(dir).expect("prefix").to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(entry.path()).expect("read"));
            }
        }
        out
    }

    #[test]
    fn output_is_identical_on_one_or_many_threads() {
        let cfg = small(6, 42);
        let run = |threads: usize| {
            let dir = tempfile::tempdir().expect("tempdir");
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            pool.install(|| generate(&cfg, dir.path())).expect("generate");
            (files(dir.path()), dir)
        };
        let (one, _d1) = run(1);
        let (three, _d3) = run(3);
        assert_eq!(one.len(), 6 + 2);
        assert!(one == three, "generation depends on the thread count");
        let (other_seed, _d) = {
            let dir = tempfile::tempdir().expect("tempdir");
            generate(&small(6, 43), dir.path()).expect("generate");
            (files(dir.path()), dir)
        };
        assert!(one["FileList.csv"] != other_seed["FileList.csv"]);
    }

    #[test]
    fn layout_and_columns_match_echonet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = small(12, 5);
        let summary = generate(&cfg, dir.path()).expect("generate");
        assert_eq!(summary.videos, 12);
        assert!(summary.to_string().starts_with("12 videos ("), "{summary}");
        assert_eq!(summary.normal + summary.abnormal, 12);
        assert_eq!(summary.train + summary.val + summary.test, 12);

        let data = scan_echonet(
            dir.path(),
            ScanOptions { on_bad_video: OnBadVideo::Error, decode_all_frames: true },
        )
        .expect("scan");
        let r = &data.report;
        assert_eq!((r.file_list_rows, r.video_files, r.usable_videos), (12, 12, 12));
        let problems = [
            &r.missing_video,
            &r.unreadable_video,
            &r.missing_ef,
            &r.duplicate_row,
            &r.unlisted_video,
            &r.frame_count_mismatch,
            &r.size_mismatch,
            &r.fps_mismatch,
            &r.without_tracings,
        ];
        assert!(problems.iter().all(|p| p.count == 0), "{r}");
        assert_eq!(r.total_frames, summary.total_frames);
        let tracings = data.tracings.as_ref().expect("VolumeTracings.csv");
        for v in &data.videos {
            let row = &v.row;
            let (ef, esv, edv) =
                (row.ef.expect("EF"), row.esv.expect("ESV"), row.edv.expect("EDV"));
            assert!((ef - (edv - esv) / edv * 100.0).abs() < 1e-9, "{row:?}");
            assert!((7.0..=97.0).contains(&ef));
            assert_eq!((row.frame_width, row.frame_height), (64, 64));
            assert!((cfg.min_frames..=cfg.max_frames).contains(&row.number_of_frames));
            let rows = &tracings[&row.file_name];
            let frames: std::collections::BTreeSet<u32> = rows.iter().map(|t| t.frame).collect();
            assert_eq!(rows.len(), 42, "21 rows for each of ED and ES");
            assert!(frames.len() == 2 && frames.iter().all(|&f| (f as usize) < v.frames));
            assert!(
                rows.iter().all(|t| {
                    [t.x1, t.y1, t.x2, t.y2].iter().all(|c| (0.0..=112.0).contains(c))
                })
            );
        }
        let labelled =
            label_videos(data.videos, &LabelRule::default(), OnBadVideo::Error).expect("labels");
        assert_eq!(labelled.1.abnormal, summary.abnormal);
    }

    fn auroc(scores: &[f64], labels: &[bool]) -> f64 {
        let pos: Vec<f64> =
            scores.iter().zip(labels).filter(|(_, l)| **l).map(|(s, _)| *s).collect();
        let neg: Vec<f64> =
            scores.iter().zip(labels).filter(|(_, l)| !**l).map(|(s, _)| *s).collect();
        let mut wins = 0.0;
        for p in &pos {
            for n in &neg {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / (pos.len() * neg.len()) as f64
    }

    /// Mean test AUROC of an L2-regularised logistic regression (plain gradient descent on
    /// standardised features) over 5 class-stratified folds. Averaging per-fold AUROCs, not
    /// pooling out-of-fold scores, keeps a signal-free feature centred on 0.5.
    fn cross_validated_auroc(x: &[Vec<f64>], y: &[bool]) -> f64 {
        let (n, d) = (x.len(), x[0].len());
        let mut seen = [0usize; 2];
        let fold_of: Vec<usize> = y
            .iter()
            .map(|&l| {
                seen[usize::from(l)] += 1;
                seen[usize::from(l)] % 5
            })
            .collect();
        let mut total = 0.0;
        for fold in 0..5 {
            let train: Vec<usize> = (0..n).filter(|&i| fold_of[i] != fold).collect();
            let test: Vec<usize> = (0..n).filter(|&i| fold_of[i] == fold).collect();
            let mean: Vec<f64> = (0..d)
                .map(|j| train.iter().map(|&i| x[i][j]).sum::<f64>() / train.len() as f64)
                .collect();
            let sd: Vec<f64> = (0..d)
                .map(|j| {
                    let v = train.iter().map(|&i| (x[i][j] - mean[j]).powi(2)).sum::<f64>()
                        / train.len() as f64;
                    v.sqrt().max(1e-9)
                })
                .collect();
            let z =
                |i: usize| -> Vec<f64> { (0..d).map(|j| (x[i][j] - mean[j]) / sd[j]).collect() };
            let (mut w, mut b) = (vec![0.0; d], 0.0);
            for _ in 0..500 {
                let (mut gw, mut gb) = (vec![0.0; d], 0.0);
                for &i in &train {
                    let zi = z(i);
                    let p = 1.0
                        / (1.0 + (-(b + w.iter().zip(&zi).map(|(a, b)| a * b).sum::<f64>())).exp());
                    let err = p - f64::from(u8::from(y[i]));
                    gb += err;
                    gw.iter_mut().zip(&zi).for_each(|(g, v)| *g += err * v);
                }
                let m = train.len() as f64;
                b -= 0.5 * gb / m;
                w.iter_mut().zip(&gw).for_each(|(w, g)| *w -= 0.5 * (g / m + 1e-3 * *w));
            }
            let scores: Vec<f64> = test
                .iter()
                .map(|&i| b + w.iter().zip(z(i)).map(|(a, b)| a * b).sum::<f64>())
                .collect();
            let labels: Vec<bool> = test.iter().map(|&i| y[i]).collect();
            total += auroc(&scores, &labels);
        }
        total / 5.0
    }

    /// The no-shortcut test: statistics that ignore frame order (brightness, contrast, length,
    /// frame rate, how dark the LV region is on average) must not predict the class, while the
    /// LV's range of motion, measured on the same decoded pixels, must.
    #[test]
    fn order_free_statistics_are_at_chance_and_motion_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        generate(&small(300, 2026), dir.path()).expect("generate");
        let data = scan_echonet(dir.path(), ScanOptions::default()).expect("scan");
        let tracings = data.tracings.clone().expect("tracings");
        let (videos, _) =
            label_videos(data.videos, &LabelRule::default(), OnBadVideo::Error).expect("labels");

        let mut order_free = Vec::new();
        let mut motion = Vec::new();
        let mut truth = Vec::new();
        let mut labels = Vec::new();
        for v in &videos {
            let frames =
                AviFile::open(&v.video.path).expect("open").read_all_frames().expect("decode");
            let all: Vec<f64> =
                frames.iter().flat_map(|f| f.pixels().iter().map(|&p| f64::from(p))).collect();
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            let sd =
                (all.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / all.len() as f64).sqrt();

            // From the tracings (in 112-pixel space; rows 0–20 trace end-diastole, 21–41
            // end-systole, each starting with the long axis from apex to base).
            let rows = &tracings[&v.video.row.file_name];
            let scale = 64.0 / 112.0;
            let (ed_axis, es_axis) = (rows[0], rows[21]);
            let apex = (ed_axis.x1 * scale, ed_axis.y1 * scale);
            let half_length = |t: &TracingRow| {
                ((t.x2 - t.x1).powi(2) + (t.y2 - t.y1).powi(2)).sqrt() / 2.0 * scale
            };
            let (a_ed, a_es) = (half_length(&ed_axis), half_length(&es_axis));
            let b_ed = half_length(&rows[10]).max(half_length(&rows[11]));
            let axis = (
                (ed_axis.x2 - ed_axis.x1) / (2.0 * a_ed / scale),
                (ed_axis.y2 - ed_axis.y1) / (2.0 * a_ed / scale),
            );
            let pixel = |k: usize| ((k % 64) as f64 + 0.5, (k / 64) as f64 + 0.5);
            // Order-free: a disc at the centre of the time-averaged cavity (its area is the mean
            // of the ED and ES areas), which the cavity never leaves.
            let a_mean = ((a_ed * a_ed + a_es * a_es) / 2.0).sqrt();
            let (cx, cy) = (apex.0 + a_mean * axis.0, apex.1 + a_mean * axis.1);
            let radius = 0.4 * a_mean * b_ed / a_ed;
            let roi: Vec<usize> = (0..64 * 64)
                .filter(|&k| {
                    let (x, y) = pixel(k);
                    (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius
                })
                .collect();
            let darkness = frames
                .iter()
                .map(|f| {
                    roi.iter().map(|&k| f64::from(f.pixels()[k])).sum::<f64>()
                        / roi.len().max(1) as f64
                })
                .sum::<f64>()
                / frames.len() as f64;
            // Motion: dark pixels inside the end-diastolic cavity, frame by frame.
            let (ex, ey) = (apex.0 + a_ed * axis.0, apex.1 + a_ed * axis.1);
            let ed_cavity: Vec<usize> = (0..64 * 64)
                .filter(|&k| {
                    let (dx, dy) = (pixel(k).0 - ex, pixel(k).1 - ey);
                    let u = dx * axis.0 + dy * axis.1;
                    let w = dx * axis.1 - dy * axis.0;
                    (u / a_ed).powi(2) + (w / b_ed).powi(2) <= 1.0
                })
                .collect();
            let lit: Vec<f64> = all.iter().copied().filter(|&p| p > 8.0).collect();
            let threshold = 0.5 * lit.iter().sum::<f64>() / lit.len().max(1) as f64;
            let dark: Vec<f64> = frames
                .iter()
                .map(|f| {
                    ed_cavity.iter().filter(|&&k| f64::from(f.pixels()[k]) < threshold).count()
                        as f64
                })
                .collect();
            let max = dark.iter().copied().fold(f64::MIN, f64::max);
            let min = dark.iter().copied().fold(f64::MAX, f64::min);
            let motion_ef = 100.0 * (1.0 - (min / max.max(1.0)).powf(1.5));

            let ef = v.video.row.ef.expect("EF");
            order_free.push(vec![mean, sd, v.video.frames as f64, v.video.fps, darkness]);
            motion.push(vec![motion_ef, (motion_ef - 60.0).powi(2)]);
            truth.push(vec![ef, (ef - 60.0).powi(2)]);
            labels.push(v.class == Class::Abnormal);
        }
        let names = ["mean brightness", "pixel SD", "frame count", "FPS", "mean LV-region grey"];
        for (j, name) in names.iter().enumerate() {
            let column: Vec<Vec<f64>> = order_free.iter().map(|x| vec![x[j]]).collect();
            let single = cross_validated_auroc(&column, &labels);
            println!("{name} alone: AUROC {single:.3}");
            assert!((single - 0.5).abs() < 0.12, "{name} predicts the class: AUROC {single}");
        }
        let chance = cross_validated_auroc(&order_free, &labels);
        let from_motion = cross_validated_auroc(&motion, &labels);
        let from_ef = cross_validated_auroc(&truth, &labels);
        println!(
            "AUROC: order-free statistics {chance:.3}, LV motion from pixels {from_motion:.3}, true EF {from_ef:.3} \
             ({} abnormal of {})",
            labels.iter().filter(|&&l| l).count(),
            labels.len()
        );
        assert!(
            (chance - 0.5).abs() < 0.12,
            "order-free statistics predict the class: AUROC {chance}"
        );
        assert!(from_ef > 0.95, "the harness itself: AUROC {from_ef}");
        assert!(from_motion > 0.75, "LV motion should carry the class: AUROC {from_motion}");
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// Generation speed at the default settings (112 px, EchoNet-like lengths):
    /// `cargo test --release --lib generate_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn generate_throughput() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SynthConfig { videos: 40, seed: 1, ..SynthConfig::default() };
        let start = std::time::Instant::now();
        let summary = generate(&cfg, dir.path()).expect("generate");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "generate: {:.1} videos/s, {:.0} frames/s on {} threads ({} frames)",
            summary.videos as f64 / secs,
            summary.total_frames as f64 / secs,
            rayon::current_num_threads(),
            summary.total_frames
        );
    }
}
