//! Clips: cached grey frames → model-ready `[frames, 3, size, size]` f32 tensors.
//!
//! Three steps, in the order a data loader runs them, so that it reads only the frames a clip
//! needs:
//!
//! 1. [`ClipPlan::new`] picks the frame indices ([`frame_indices`]) and the one frame range
//!    that covers them ([`ClipPlan::read`]), to fetch with `ClipCache::read_range` or
//!    `InMemoryClips::range`;
//! 2. the caller fetches that range;
//! 3. [`render_clip`] gathers the clip's frames from it, augments them (training only) and
//!    normalises them into 3 channels.
//!
//! [`make_clip`] does all three from a whole video already in memory.
//!
//! Every random draw for one sample comes from [`sample_rng`], a stream keyed by
//! (seed, fold, epoch, sample index) alone, so neither the order in which samples are built
//! nor the number of worker threads changes a single byte of any clip.
//!
//! What follows the seed (youngprob/Deep-Learning-for-Echocardiogram-video-classification,
//! `dataset_kfold.py` and `train_kfold.py`) and where this differs:
//! - A video shorter than the clip is looped from frame 0 (`np.tile(arange(n), ..)[:frames]`,
//!   i.e. clip frame k is video frame k mod n), whatever the sampling, with no random start.
//! - Training: a random contiguous window; evaluation: `np.linspace(0, n-1, frames, dtype=int)`
//!   (floored, duplicates allowed). Windows with `period > 1` are this runner's extension.
//! - Augmentation is the seed's `Compose`: horizontal flip, then rotation, then `ColorJitter`,
//!   whose brightness and contrast run in a random order (torchvision shuffles the jitter
//!   operations on every call). Saturation and hue do nothing to a grey frame and are left out.
//! - **Difference:** the seed applies its torchvision transform to each frame separately, so
//!   every frame of a training clip gets its own flip, angle and jitter. Here one draw is made
//!   per clip and applied to all its frames (a consistent video, as `AugmentConfig` documents
//!   it: "a horizontal flip of the whole clip").
//! - **Difference:** rotation interpolates bilinearly; torchvision's `RandomRotation` default,
//!   which the seed uses, is nearest-neighbour. Out-of-frame pixels are black (fill 0) in both.
//!   Sampling follows PIL: a source point inside the frame's rectangle is interpolated from its
//!   four nearest pixels (clamped at the border), a point outside it is black.
//! - Pixels are f32 in [0, 1] throughout; PIL would round to u8 after each operation.

use std::ops::Range;

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{AugmentConfig, ClipConfig, FrameSampling, NormalizeConfig};

/// Why a clip could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    #[error("the video has no frames")]
    EmptyVideo,
    #[error("expected {expected} bytes of frames ({frames} frames of {size}×{size}), got {got}")]
    FrameBytes { frames: usize, size: usize, expected: usize, got: usize },
}

/// The random stream of one sample: the same (seed, fold, epoch, index) always gives the same
/// stream, on any thread and in any order. `index` is the sample's position in the epoch's
/// order, so a video drawn twice in one epoch (sampling with replacement) gets two clips.
pub fn sample_rng(seed: u64, fold: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"echo-runner clip sample v1");
    for part in [seed, fold, epoch, index] {
        hasher.update(&part.to_le_bytes());
    }
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}

/// `np.linspace(0, n - 1, count).astype(int)`, bit for bit: the same f64 arithmetic
/// (`i * step`, last point set to the end exactly), then truncation. `n` must be ≥ 1.
pub fn linspace_indices(n: usize, count: usize) -> Vec<usize> {
    let stop = n.saturating_sub(1);
    if count == 1 {
        return vec![0];
    }
    let step = stop as f64 / (count as f64 - 1.0);
    (0..count).map(|i| if i + 1 == count { stop } else { (i as f64 * step) as usize }).collect()
}

/// The `cfg.frames` video frame indices of one clip from a video of `n` frames.
///
/// - `RandomWindow`: frames `start, start + period, …` with `start` uniform over every window
///   that fits; `CenterWindow`: the window in the middle (rounded towards the start);
///   `Uniform`: [`linspace_indices`].
/// - A video too short for the clip (fewer than `(frames - 1) * period + 1` frames for a
///   window, fewer than `frames` for `Uniform`) is looped from frame 0: index
///   `(k * period) mod n` for clip frame `k` (`period` = 1 for `Uniform`), as the seed does.
///   No random draw is made then.
pub fn frame_indices<R: Rng + ?Sized>(
    n: usize,
    cfg: &ClipConfig,
    sampling: FrameSampling,
    rng: &mut R,
) -> Result<Vec<usize>, ClipError> {
    if n == 0 {
        return Err(ClipError::EmptyVideo);
    }
    let frames = cfg.frames as usize;
    let period = match sampling {
        FrameSampling::Uniform => 1,
        FrameSampling::RandomWindow | FrameSampling::CenterWindow | FrameSampling::AllClips => {
            cfg.period.max(1) as usize
        }
    };
    let span = frames.saturating_sub(1) * period + 1;
    let looped = |start: usize| (0..frames).map(|k| (start + k * period) % n).collect();
    if n < span {
        return Ok(looped(0));
    }
    Ok(match sampling {
        FrameSampling::Uniform => linspace_indices(n, frames),
        FrameSampling::RandomWindow => looped(rng.random_range(0..=n - span)),
        FrameSampling::CenterWindow => looped((n - span) / 2),
        // The first of them; [`all_clip_plans`] gives them all.
        FrameSampling::AllClips => looped(0),
    })
}

/// Every clip of `all_clips` sampling from a video of `n` frames: windows of `cfg.frames`
/// frames `cfg.period` apart, starting at 0, `eval_stride`, … while they fit
/// (echonet/dynamic's `start = np.arange(f - (length - 1) * period)` at stride 1). A video
/// shorter than one window gives one clip of its frames `0, period, …`, padded at the end
/// with zero frames after normalisation (echonet/dynamic's padding) rather than looped.
pub fn all_clip_plans(n: usize, cfg: &ClipConfig) -> Result<Vec<ClipPlan>, ClipError> {
    if n == 0 {
        return Err(ClipError::EmptyVideo);
    }
    let (frames, period) = (cfg.frames as usize, cfg.period.max(1) as usize);
    let span = frames.saturating_sub(1) * period + 1;
    let plan =
        |indices: Vec<usize>, pad: usize| ClipPlan { read: covering_range(&indices), indices, pad };
    if n < span {
        let indices: Vec<usize> = (0..frames).map(|k| k * period).filter(|&i| i < n).collect();
        let pad = frames - indices.len();
        return Ok(vec![plan(indices, pad)]);
    }
    let stride = cfg.eval_stride.max(1) as usize;
    Ok((0..=n - span)
        .step_by(stride)
        .map(|start| plan((0..frames).map(|k| start + k * period).collect(), 0))
        .collect())
}

/// The smallest range of frames holding every index (empty for no indices): what to read from
/// the cache for a clip whose indices are not contiguous.
pub fn covering_range(indices: &[usize]) -> Range<usize> {
    match (indices.iter().min(), indices.iter().max()) {
        (Some(&lo), Some(&hi)) => lo..hi + 1,
        _ => 0..0,
    }
}

/// `Some(start..end)` when the indices are exactly `start, start + 1, …, end - 1`, in order:
/// the clip is then that range of the video as it is, with nothing read in vain.
pub fn contiguous_range(indices: &[usize]) -> Option<Range<usize>> {
    let &start = indices.first()?;
    indices.iter().enumerate().all(|(k, &i)| i == start + k).then(|| start..start + indices.len())
}

/// Which frames a clip takes from its video, and the one range of frames to read for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipPlan {
    indices: Vec<usize>,
    read: Range<usize>,
    /// Zero frames after the indexed ones (only [`all_clip_plans`] pads).
    pad: usize,
}

impl ClipPlan {
    /// Draws the clip's frame indices (see [`frame_indices`]). Call it before the
    /// augmentation draws of [`render_clip`], with the same stream.
    pub fn new<R: Rng + ?Sized>(
        n: usize,
        cfg: &ClipConfig,
        sampling: FrameSampling,
        rng: &mut R,
    ) -> Result<ClipPlan, ClipError> {
        let indices = frame_indices(n, cfg, sampling, rng)?;
        let read = covering_range(&indices);
        Ok(ClipPlan { indices, read, pad: 0 })
    }

    /// The video frame of each clip frame, in clip order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The frames to read from the video: `[read.start, read.end)` covers every index. When
    /// the indices are contiguous (a window with period 1 in a long enough video) they are
    /// exactly this range.
    pub fn read(&self) -> Range<usize> {
        self.read.clone()
    }
}

/// The clip of `plan` as a `[frames, 3, size, size]` row-major tensor: `read_frames` holds the
/// frames `plan.read()` of the video (`[read.len(), size, size]` u8, as the cache gives them).
/// With `aug`, one augmentation is drawn from `rng` and applied to every frame; without it
/// (evaluation), `rng` is not touched. The grey value is copied into 3 channels, each
/// normalised with its own mean and std after scaling to [0, 1].
pub fn render_clip<R: Rng + ?Sized>(
    plan: &ClipPlan,
    read_frames: &[u8],
    size: usize,
    norm: &NormalizeConfig,
    aug: Option<&AugmentConfig>,
    rng: &mut R,
) -> Result<Vec<f32>, ClipError> {
    let pixels = size * size;
    let frames = plan.read.len();
    let expected = frames * pixels;
    if read_frames.len() != expected {
        return Err(ClipError::FrameBytes { frames, size, expected, got: read_frames.len() });
    }
    if pixels == 0 {
        // `[frames, 3, 0, 0]` holds nothing (and zero-sized chunks below would panic).
        return Ok(Vec::new());
    }
    let channels = Channels::new(norm);
    let augmentation = aug.map(|cfg| Augmentation::draw(cfg, rng));
    let warp = augmentation.as_ref().map(|a| Warp::new(size, a.flip, a.angle_deg));
    // Padding frames stay zero: the normalised mean, as echonet/dynamic pads.
    let mut out = vec![0.0f32; (plan.indices.len() + plan.pad) * 3 * pixels];
    let mut work = vec![0.0f32; pixels];
    for (&index, dst) in plan.indices.iter().zip(out.chunks_exact_mut(3 * pixels)) {
        // Every index lies in `plan.read` and the byte count was checked above.
        let offset = (index - plan.read.start) * pixels;
        let src = &read_frames[offset..offset + pixels];
        match (&augmentation, &warp) {
            (Some(a), Some(w)) => {
                w.apply(src, &mut work);
                a.jitter(&mut work);
            }
            _ => work.iter_mut().zip(src).for_each(|(v, &p)| *v = f32::from(p) * INV_255),
        }
        channels.write(&work, dst);
        if let Some(shift) = augmentation.as_ref().and_then(|a| a.shift) {
            for plane in dst.chunks_exact_mut(pixels) {
                translate(plane, size, shift);
            }
        }
    }
    Ok(out)
}

/// `plane` (`size`×`size`, normalised) moved so that output pixel (y, x) is input pixel
/// (y + dy, x + dx), zero (the normalised mean) where that falls outside: echonet/dynamic's
/// crop of a zero-padded frame.
fn translate(plane: &mut [f32], size: usize, (dy, dx): (isize, isize)) {
    let source = plane.to_vec();
    let n = size as isize;
    for y in 0..n {
        for x in 0..n {
            let (sy, sx) = (y + dy, x + dx);
            let inside = (0..n).contains(&sy) && (0..n).contains(&sx);
            plane[(y * n + x) as usize] = if inside { source[(sy * n + sx) as usize] } else { 0.0 };
        }
    }
}

/// [`ClipPlan::new`] then [`render_clip`] on a whole video in memory (`[n_frames, size, size]`
/// u8).
#[allow(clippy::too_many_arguments)]
pub fn make_clip<R: Rng + ?Sized>(
    video: &[u8],
    n_frames: usize,
    size: usize,
    cfg: &ClipConfig,
    norm: &NormalizeConfig,
    aug: Option<&AugmentConfig>,
    sampling: FrameSampling,
    rng: &mut R,
) -> Result<Vec<f32>, ClipError> {
    let expected = n_frames * size * size;
    if video.len() != expected {
        return Err(ClipError::FrameBytes { frames: n_frames, size, expected, got: video.len() });
    }
    let plan = ClipPlan::new(n_frames, cfg, sampling, rng)?;
    let pixels = size * size;
    render_clip(
        &plan,
        &video[plan.read.start * pixels..plan.read.end * pixels],
        size,
        norm,
        aug,
        rng,
    )
}

const INV_255: f32 = 1.0 / 255.0;

/// Per-channel `(v - mean) / std` as one multiply-add.
struct Channels {
    scale: [f32; 3],
    offset: [f32; 3],
}

impl Channels {
    fn new(norm: &NormalizeConfig) -> Channels {
        let scale = norm.std.map(|s| (1.0 / s) as f32);
        let offset = [0, 1, 2].map(|c| (-norm.mean[c] / norm.std[c]) as f32);
        Channels { scale, offset }
    }

    /// Writes the grey frame `grey` (values in [0, 1]) into `dst`, `[3, pixels]`.
    fn write(&self, grey: &[f32], dst: &mut [f32]) {
        for (c, plane) in dst.chunks_exact_mut(grey.len()).enumerate() {
            let (scale, offset) = (self.scale[c], self.offset[c]);
            plane.iter_mut().zip(grey).for_each(|(o, &v)| *o = v * scale + offset);
        }
    }
}

/// One clip's augmentation, drawn once and applied to all its frames.
#[derive(Debug, Clone, PartialEq)]
struct Augmentation {
    flip: bool,
    /// Counter-clockwise, in degrees (torchvision's sign).
    angle_deg: f64,
    brightness: f32,
    contrast: f32,
    /// torchvision's `ColorJitter` applies its operations in a random order.
    contrast_first: bool,
    /// Shift (rows, columns) of the normalised frames, zero-filled (`translate` > 0 only).
    shift: Option<(isize, isize)>,
}

impl Augmentation {
    fn draw<R: Rng + ?Sized>(cfg: &AugmentConfig, rng: &mut R) -> Augmentation {
        let mut uniform = |lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
        let flip = uniform(0.0, 1.0) < cfg.hflip;
        let angle_deg = uniform(-cfg.rotation, cfg.rotation);
        // torchvision clamps the lower factor at 0.
        let brightness = uniform((1.0 - cfg.brightness).max(0.0), 1.0 + cfg.brightness) as f32;
        let contrast = uniform((1.0 - cfg.contrast).max(0.0), 1.0 + cfg.contrast) as f32;
        let contrast_first = rng.random::<bool>();
        // Drawn only when asked for, so that clips without it draw what they always drew.
        // echonet/dynamic: zero-pad by `pad`, crop at `randint(0, 2 * pad)` in each axis.
        let pad = cfg.translate as isize;
        let shift = (pad > 0).then(|| {
            let mut offset = || rng.random_range(0..2 * pad as i64) as isize - pad;
            (offset(), offset())
        });
        Augmentation { flip, angle_deg, brightness, contrast, contrast_first, shift }
    }

    /// Brightness and contrast, in the drawn order, on one frame in [0, 1].
    fn jitter(&self, frame: &mut [f32]) {
        if self.contrast_first {
            adjust_contrast(frame, self.contrast);
            adjust_brightness(frame, self.brightness);
        } else {
            adjust_brightness(frame, self.brightness);
            adjust_contrast(frame, self.contrast);
        }
    }
}

/// torchvision's `adjust_brightness`: blend with black, clamp.
fn adjust_brightness(frame: &mut [f32], factor: f32) {
    frame.iter_mut().for_each(|v| *v = (*v * factor).clamp(0.0, 1.0));
}

/// torchvision's `adjust_contrast`: blend with the frame's mean grey, clamp.
fn adjust_contrast(frame: &mut [f32], factor: f32) {
    if frame.is_empty() {
        return;
    }
    let mean = (frame.iter().map(|&v| f64::from(v)).sum::<f64>() / frame.len() as f64) as f32;
    let base = (1.0 - factor) * mean;
    frame.iter_mut().for_each(|v| *v = (factor * *v + base).clamp(0.0, 1.0));
}

/// One output pixel of a warp: a weighted sum of four source pixels (all weights 0 where the
/// source point falls outside the frame, giving black).
#[derive(Debug, Clone, Copy, Default)]
struct Tap {
    index: [u32; 4],
    weight: [f32; 4],
}

/// A horizontal flip followed by a rotation about the frame centre, as a table of bilinear
/// taps built once per clip (all its frames share the transform).
struct Warp {
    taps: Vec<Tap>,
}

impl Warp {
    fn new(size: usize, flip: bool, angle_deg: f64) -> Warp {
        let (sin, cos) = angle_deg.to_radians().sin_cos();
        let centre = (size as f64 - 1.0) / 2.0;
        let last = size as f64 - 1.0;
        let clamp = |i: f64| i.clamp(0.0, last) as u32;
        let mut taps = Vec::with_capacity(size * size);
        for y in 0..size {
            for x in 0..size {
                let (dx, dy) = (x as f64 - centre, y as f64 - centre);
                // Inverse map: the output pixel comes from the input rotated back by the
                // angle (counter-clockwise on screen, y pointing down)…
                let sx = centre + dx * cos - dy * sin;
                let sy = centre + dx * sin + dy * cos;
                // …of the flipped frame.
                let sx = if flip { last - sx } else { sx };
                // PIL's rule: inside the frame's rectangle (pixel i spans i ± 0.5) is sampled.
                let inside = (-0.5..last + 0.5).contains(&sx) && (-0.5..last + 0.5).contains(&sy);
                if !inside {
                    taps.push(Tap::default());
                    continue;
                }
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let (xa, xb) = (clamp(x0), clamp(x0 + 1.0));
                let (ya, yb) = (clamp(y0), clamp(y0 + 1.0));
                let row = size as u32;
                taps.push(Tap {
                    index: [ya * row + xa, ya * row + xb, yb * row + xa, yb * row + xb],
                    weight: [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy],
                });
            }
        }
        Warp { taps }
    }

    /// Warps one u8 frame into `out`, scaled to [0, 1].
    fn apply(&self, src: &[u8], out: &mut [f32]) {
        for (o, tap) in out.iter_mut().zip(&self.taps) {
            let sum: f32 =
                (0..4).map(|k| tap.weight[k] * f32::from(src[tap.index[k] as usize])).sum();
            *o = sum * INV_255;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    fn clip_cfg(frames: u32, period: u32) -> ClipConfig {
        ClipConfig { frames, period, ..ClipConfig::default() }
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn translation_moves_normalised_frames_and_fills_with_zeros() {
        let mut plane: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        translate(&mut plane, 3, (1, -1));
        // Output (y, x) = input (y + 1, x - 1).
        assert_eq!(plane, [0.0, 4.0, 5.0, 0.0, 7.0, 8.0, 0.0, 0.0, 0.0]);
        // Without `translate` the stream is drawn as before: the same augmentation.
        let cfg = AugmentConfig::default();
        let plain = Augmentation::draw(&cfg, &mut rng());
        assert_eq!(plain.shift, None);
        let shifted = Augmentation::draw(&AugmentConfig { translate: 12, ..cfg }, &mut rng());
        assert_eq!(Augmentation { shift: None, ..shifted.clone() }, plain);
        let (dy, dx) = shifted.shift.expect("a shift");
        assert!((-12..12).contains(&dy) && (-12..12).contains(&dx), "{dy}, {dx}");
    }

    #[test]
    fn all_clips_are_every_window_at_the_stride_and_a_short_video_is_padded() {
        // echonet/dynamic at stride 1: starts np.arange(f - (length - 1) * period).
        let cfg = ClipConfig { eval_stride: 1, ..clip_cfg(4, 2) };
        let plans = all_clip_plans(12, &cfg).unwrap();
        assert_eq!(plans.len(), 12 - 3 * 2);
        assert_eq!(plans[0].indices(), [0, 2, 4, 6]);
        assert_eq!(plans[5].indices(), [5, 7, 9, 11]);
        let strided = all_clip_plans(12, &ClipConfig { eval_stride: 4, ..cfg.clone() }).unwrap();
        let starts: Vec<usize> = strided.iter().map(|p| p.indices()[0]).collect();
        assert_eq!(starts, [0, 4]);
        // 5 frames for a 7-frame window: frames 0, 2, 4, then one zero frame.
        let short = all_clip_plans(5, &cfg).unwrap();
        assert_eq!(short.len(), 1);
        assert_eq!(short[0].indices(), [0, 2, 4]);
        let size = 2;
        let video: Vec<u8> = (0..5 * size * size).map(|i| 10 + i as u8).collect();
        let read = short[0].read();
        let norm = NormalizeConfig { mean: [0.5; 3], std: [0.25; 3], from_videos: 0 };
        let clip = render_clip(
            &short[0],
            &video[read.start * 4..read.end * 4],
            size,
            &norm,
            None,
            &mut rng(),
        )
        .unwrap();
        let plane = 3 * size * size;
        assert_eq!(clip.len(), 4 * plane);
        assert!(clip[3 * plane..].iter().all(|&v| v == 0.0), "the padding frame is zero");
        let first = (f64::from(video[0]) / 255.0 - 0.5) / 0.25;
        assert!((f64::from(clip[0]) - first).abs() < 1e-5, "{} vs {first}", clip[0]);
        assert_eq!(all_clip_plans(0, &cfg), Err(ClipError::EmptyVideo));
    }

    /// A video whose pixels differ in every frame, row and column.
    fn video(n: usize, size: usize) -> Vec<u8> {
        (0..n * size * size).map(|i| (i * 37 % 251) as u8).collect()
    }

    fn warp_u8(frame: &[u8], size: usize, flip: bool, angle: f64) -> Vec<u8> {
        let mut out = vec![0.0; size * size];
        Warp::new(size, flip, angle).apply(frame, &mut out);
        out.iter().map(|v| (v * 255.0).round() as u8).collect()
    }

    #[test]
    fn uniform_matches_numpy_linspace() {
        // Values printed by numpy 2.4: np.linspace(0, n - 1, T).astype(int).
        assert_eq!(
            linspace_indices(100, 16),
            [0, 6, 13, 19, 26, 33, 39, 46, 52, 59, 66, 72, 79, 85, 92, 99]
        );
        assert_eq!(linspace_indices(10, 16), [0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9]);
        assert_eq!(linspace_indices(1, 1), [0]);
        assert_eq!(linspace_indices(1, 16), [0; 16]);
        let expected_112_60 = [
            0, 1, 3, 5, 7, 9, 11, 13, 15, 16, 18, 20, 22, 24, 26, 28, 30, 31, 33, 35, 37, 39, 41,
            43, 45, 47, 48, 50, 52, 54, 56, 58, 60, 62, 63, 65, 67, 69, 71, 73, 75, 77, 79, 80, 82,
            84, 86, 88, 90, 92, 94, 95, 97, 99, 101, 103, 105, 107, 109, 111,
        ];
        assert_eq!(linspace_indices(112, 60), expected_112_60);
        let uniform = |n, t| frame_indices(n, &clip_cfg(t, 1), FrameSampling::Uniform, &mut rng());
        assert_eq!(uniform(100, 16), Ok(linspace_indices(100, 16)));
    }

    #[test]
    fn short_videos_loop_from_frame_zero() {
        // The seed tiles arange(n) for any video shorter than the clip, even at evaluation.
        let looped = |n, frames, period, sampling| {
            frame_indices(n, &clip_cfg(frames, period), sampling, &mut rng())
        };
        let tiled = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5];
        for sampling in
            [FrameSampling::Uniform, FrameSampling::RandomWindow, FrameSampling::CenterWindow]
        {
            assert_eq!(looped(10, 16, 1, sampling), Ok(tiled.clone()), "{sampling:?}");
            assert_eq!(looped(1, 16, 1, sampling), Ok(vec![0; 16]), "{sampling:?}");
        }
        // A period-2 window over a 9-frame video looped to length: frames 0, 2, …, 8, 10 ≡ 1, …
        assert_eq!(looped(9, 8, 2, FrameSampling::RandomWindow), Ok(vec![0, 2, 4, 6, 8, 1, 3, 5]));
        assert_eq!(looped(0, 16, 1, FrameSampling::Uniform), Err(ClipError::EmptyVideo));
    }

    #[test]
    fn random_windows_fit_follow_the_period_and_reach_every_start() {
        for (n, frames, period) in [(30usize, 8u32, 3usize), (20, 16, 1), (16, 16, 1)] {
            let span = (frames as usize - 1) * period + 1;
            let mut seen = vec![false; n - span + 1];
            let mut r = rng();
            for _ in 0..2000 {
                let idx = frame_indices(
                    n,
                    &clip_cfg(frames, period as u32),
                    FrameSampling::RandomWindow,
                    &mut r,
                )
                .expect("indices");
                assert_eq!(idx.len(), frames as usize);
                assert!(idx.windows(2).all(|w| w[1] == w[0] + period), "{idx:?}");
                assert!(idx[idx.len() - 1] < n);
                seen[idx[0]] = true;
            }
            assert!(seen.iter().all(|&s| s), "n {n}, period {period}: starts seen {seen:?}");
        }
    }

    #[test]
    fn center_window_and_ranges() {
        let idx = frame_indices(100, &clip_cfg(16, 1), FrameSampling::CenterWindow, &mut rng())
            .expect("indices");
        assert_eq!(idx, (42..58).collect::<Vec<_>>());
        assert_eq!(contiguous_range(&idx), Some(42..58));
        assert_eq!(covering_range(&idx), 42..58);
        let strided = frame_indices(100, &clip_cfg(4, 3), FrameSampling::CenterWindow, &mut rng())
            .expect("indices");
        assert_eq!(strided, [45, 48, 51, 54]);
        assert_eq!(contiguous_range(&strided), None);
        assert_eq!(covering_range(&strided), 45..55);
        let looped = [3, 4, 0, 1];
        assert_eq!(contiguous_range(&looped), None);
        assert_eq!(covering_range(&looped), 0..5);
        assert_eq!(covering_range(&[]), 0..0);
        assert_eq!(contiguous_range(&[]), None);
        let plan = ClipPlan::new(100, &clip_cfg(4, 3), FrameSampling::CenterWindow, &mut rng())
            .expect("plan");
        assert_eq!((plan.indices(), plan.read()), (&[45, 48, 51, 54][..], 45..55));
    }

    #[test]
    fn flip_twice_and_rotation_by_zero_are_identities() {
        let size = 7;
        let frame = video(1, size);
        let flipped = warp_u8(&frame, size, true, 0.0);
        assert_ne!(flipped, frame);
        assert_eq!(flipped[0], frame[size - 1]);
        assert_eq!(warp_u8(&flipped, size, true, 0.0), frame);
        assert_eq!(warp_u8(&frame, size, false, 0.0), frame);
    }

    #[test]
    fn rotation_by_90_turns_counter_clockwise() {
        for size in [4usize, 5] {
            let mut frame = vec![0u8; size * size];
            frame[size - 1] = 200; // top-right corner
            frame[size + 1] = 100; // row 1, column 1
            let out = warp_u8(&frame, size, false, 90.0);
            let mut expected = vec![0u8; size * size];
            expected[0] = 200; // top-right → top-left
            expected[(size - 2) * size + 1] = 100; // (row 1, col 1) → (row size-2, col 1)
            assert_eq!(out, expected, "size {size}");
        }
    }

    #[test]
    fn rotation_fills_corners_with_black() {
        let size = 16;
        let out = warp_u8(&vec![255u8; size * size], size, false, 45.0);
        assert_eq!(out[0], 0);
        assert_eq!(out[size / 2 * size + size / 2], 255);
    }

    #[test]
    fn colour_jitter_identities_and_contrast_zero() {
        let frame: Vec<f32> = (0..64).map(|i| i as f32 / 63.0).collect();
        let mut same = frame.clone();
        adjust_brightness(&mut same, 1.0);
        adjust_contrast(&mut same, 1.0);
        assert_eq!(same, frame);
        let mut flat = frame.clone();
        adjust_contrast(&mut flat, 0.0);
        assert!(flat.iter().all(|&v| (v - 0.5).abs() < 1e-6), "{flat:?}");
        let mut bright = frame.clone();
        adjust_brightness(&mut bright, 1.5);
        assert_eq!(bright[63], 1.0);
        assert!((bright[10] - 1.5 * frame[10]).abs() < 1e-6);
    }

    #[test]
    fn output_layout_and_normalisation() {
        // Frame i holds the constant value 10 * i.
        let (n, size) = (12usize, 5usize);
        let video: Vec<u8> = (0..n).flat_map(|i| vec![(10 * i) as u8; size * size]).collect();
        let norm = NormalizeConfig::default();
        let cfg = clip_cfg(6, 1);
        let clip =
            make_clip(&video, n, size, &cfg, &norm, None, FrameSampling::Uniform, &mut rng())
                .expect("clip");
        let pixels = size * size;
        assert_eq!(clip.len(), 6 * 3 * pixels);
        for (t, &index) in linspace_indices(n, 6).iter().enumerate() {
            for c in 0..3 {
                let want = ((10 * index) as f64 / 255.0 - norm.mean[c]) / norm.std[c];
                let plane = &clip[(t * 3 + c) * pixels..(t * 3 + c + 1) * pixels];
                assert!(plane.iter().all(|&v| (f64::from(v) - want).abs() < 1e-5), "t {t} c {c}");
            }
        }
        let short = make_clip(
            &video[..pixels],
            n,
            size,
            &cfg,
            &norm,
            None,
            FrameSampling::Uniform,
            &mut rng(),
        );
        assert!(matches!(short, Err(ClipError::FrameBytes { .. })));
        let plan = ClipPlan::new(n, &cfg, FrameSampling::Uniform, &mut rng()).expect("plan");
        let wrong = render_clip(&plan, &video[..pixels], size, &norm, None, &mut rng());
        assert!(matches!(wrong, Err(ClipError::FrameBytes { .. })));
        assert_eq!(
            make_clip(&[], n, 0, &cfg, &norm, None, FrameSampling::Uniform, &mut rng()),
            Ok(vec![])
        );
    }

    /// A training clip for sample `index` of `epoch`, through the read-only-what-is-needed path.
    fn training_clip(video: &[u8], n: usize, size: usize, epoch: u64, index: u64) -> Vec<f32> {
        let mut r = sample_rng(42, 3, epoch, index);
        let plan =
            ClipPlan::new(n, &clip_cfg(8, 1), FrameSampling::RandomWindow, &mut r).expect("plan");
        let read = plan.read();
        let frames = &video[read.start * size * size..read.end * size * size];
        render_clip(
            &plan,
            frames,
            size,
            &NormalizeConfig::default(),
            Some(&AugmentConfig::default()),
            &mut r,
        )
        .expect("clip")
    }

    #[test]
    fn clips_depend_on_the_sample_key_only() {
        let (n, size) = (40usize, 24usize);
        let video = video(n, size);
        let forward: Vec<Vec<f32>> =
            (0..24).map(|i| training_clip(&video, n, size, 5, i)).collect();
        let mut backward: Vec<Vec<f32>> =
            (0..24).rev().map(|i| training_clip(&video, n, size, 5, i)).collect();
        backward.reverse();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("pool");
        let threaded: Vec<Vec<f32>> = pool.install(|| {
            (0..24u64).into_par_iter().map(|i| training_clip(&video, n, size, 5, i)).collect()
        });
        let bits = |clips: &[Vec<f32>]| -> Vec<Vec<u32>> {
            clips.iter().map(|c| c.iter().map(|v| v.to_bits()).collect()).collect()
        };
        assert_eq!(bits(&forward), bits(&backward));
        assert_eq!(bits(&forward), bits(&threaded));
        // Another epoch or another sample draws another augmentation.
        assert_ne!(forward[0], training_clip(&video, n, size, 6, 0));
        assert_ne!(forward[0], forward[1]);
        let draw =
            |epoch| Augmentation::draw(&AugmentConfig::default(), &mut sample_rng(42, 3, epoch, 0));
        assert_ne!(draw(5), draw(6));
    }

    #[test]
    fn augmentation_draws_stay_in_range() {
        let cfg = AugmentConfig::default();
        let mut r = rng();
        let draws: Vec<Augmentation> =
            (0..2000).map(|_| Augmentation::draw(&cfg, &mut r)).collect();
        assert!(draws.iter().all(|a| a.angle_deg.abs() <= 15.0));
        assert!(
            draws
                .iter()
                .all(|a| (0.8..=1.2).contains(&a.brightness) && (0.8..=1.2).contains(&a.contrast))
        );
        let flips = draws.iter().filter(|a| a.flip).count();
        assert!((850..1150).contains(&flips), "{flips} flips in 2000");
        assert!(draws.iter().any(|a| a.contrast_first) && draws.iter().any(|a| !a.contrast_first));
        let none = AugmentConfig {
            hflip: 0.0,
            rotation: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            translate: 0,
        };
        let a = Augmentation::draw(&none, &mut r);
        assert_eq!((a.flip, a.angle_deg, a.brightness, a.contrast), (false, 0.0, 1.0, 1.0));
        // An augmentation that does nothing gives the evaluation clip, bit for bit.
        let (n, size) = (10usize, 9usize);
        let video = video(n, size);
        let (cfg, norm) = (clip_cfg(4, 2), NormalizeConfig::default());
        let clip = |aug| {
            make_clip(&video, n, size, &cfg, &norm, aug, FrameSampling::CenterWindow, &mut rng())
        };
        assert_eq!(clip(Some(&none)), clip(None));
    }
}
