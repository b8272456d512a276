//! One synthetic apical-4-chamber echo: its parameters, drawn from a per-video random stream,
//! and its frames. Only the left ventricle's motion carries the class: its cavity area follows
//! a cardiac cycle whose end-systolic/end-diastolic ratio gives the row's EF, and some
//! abnormal videos get a short regional bulge of the LV wall. Brightness, gain, noise, heart
//! size and position, sector shape, FPS, heart rate and length are drawn independently of
//! EF. The time-averaged LV cavity area is drawn directly (a low-EF heart is not on average
//! bigger or smaller than a normal one), so no statistic that ignores frame order
//! separates the classes unless it measures the cavity's range of motion.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::SynthConfig;
use super::ef::sample_ef;
use crate::data::avi::GreyFrame;
use crate::data::echonet::Split;

/// Tracings are in EchoNet's 112-pixel space whatever the frame size.
const TRACING_SPACE: f64 = 112.0;
/// Chords per traced frame after the long axis (EchoNet has about 20).
const CHORDS: usize = 20;

#[derive(Debug, Clone)]
pub(crate) struct VideoParams {
    pub file_name: String,
    pub ef: f64,
    pub esv: f64,
    pub edv: f64,
    pub split: Split,
    pub fps: u32,
    pub frames: u32,
    /// Frames per cardiac cycle.
    pub period: f64,
    /// Cycle phase of frame 0 (0 = end-diastole).
    pub phase0: f64,
    /// Share of the cycle spent in systole.
    pub systole: f64,
    /// Outside the seed's 50–70 band.
    pub abnormal: bool,
    pub anomaly: Option<Anomaly>,
    look: Look,
    pub lv: Ventricle,
    rv: Ventricle,
    la: Atrium,
    ra: Atrium,
    noise_seed: u64,
}

/// Appearance, all independent of EF.
#[derive(Debug, Clone)]
struct Look {
    gain: f64,
    tissue: f64,
    tissue_wave: [f64; 4],
    myocardium: f64,
    blood: f64,
    attenuation: f64,
    speckle: f64,
    speckle_persistence: f64,
    floor_noise: f64,
    sector_apex: (f64, f64),
    sector_radius: f64,
    sector_half_angle: f64,
}

/// A ventricle as an ellipse hanging from a fixed apex; coordinates in units of the frame side.
#[derive(Debug, Clone)]
pub(crate) struct Ventricle {
    pub apex: (f64, f64),
    /// Long-axis direction (unit vector from apex to base).
    pub axis: (f64, f64),
    pub a_ed: f64,
    pub b_ed: f64,
    /// End-systolic over end-diastolic cavity area.
    pub area_ratio: f64,
    pub wall_area: f64,
}

#[derive(Debug, Clone)]
struct Atrium {
    center: (f64, f64),
    radius: f64,
    amplitude: f64,
    wall: f64,
}

/// A transient regional wall-motion abnormality: for `len` frames from `start`, the LV wall
/// around ellipse angle `angle` bulges outward by up to `strength` of its radius.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anomaly {
    pub start: u32,
    pub len: u32,
    angle: f64,
    strength: f64,
}

/// The LV cavity at one instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LvShape {
    pub center: (f64, f64),
    pub a: f64,
    pub b: f64,
}

/// A per-video random stream: the same (seed, index) gives the same video on any thread.
fn video_rng(seed: u64, index: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(index));
    rng
}

/// SplitMix64's finaliser: a bijection of u64, so distinct indices give distinct names.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn file_name(seed: u64, index: u32) -> String {
    format!("0X{:016X}", mix64(u64::from(index).wrapping_add(mix64(seed ^ 0x5EED))))
}

fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// Draw every parameter of video `index`. All draws happen in a fixed order whatever their
/// values, so the class never shifts the random stream of the appearance.
pub(crate) fn sample_params(cfg: &SynthConfig, index: u32) -> VideoParams {
    let mut rng = video_rng(cfg.seed, index);
    let ef_drawn = loop {
        let ef = sample_ef(&mut rng);
        if [50.0, 70.0].iter().all(|b: &f64| (ef - b).abs() >= cfg.ef_margin) {
            break ef;
        }
    };
    let edv = (95.0 * (0.35 * normal(&mut rng)).exp()).clamp(25.0, 350.0);
    let esv = edv * (1.0 - ef_drawn / 100.0);
    let ef = (edv - esv) / edv * 100.0;
    let abnormal = !(50.0..=70.0).contains(&ef);

    let split_u = rng.random::<f64>();
    let split = if split_u < 0.74 {
        Split::Train
    } else if split_u < 0.87 {
        Split::Val
    } else {
        Split::Test
    };
    let fps = if rng.random::<f64>() < 0.79 {
        50
    } else {
        (18f64.ln() + (138f64.ln() - 18f64.ln()) * rng.random::<f64>()).exp().round() as u32
    };
    // EchoNet lengths (median 171, quartiles 144 / 201); bounds that leave that range (short
    // demo videos) get lengths spread evenly between them instead of all at one bound.
    let echonet_length = (171f64.ln() + 0.247 * normal(&mut rng)).exp().round() as u32;
    let even_length = rng.random_range(cfg.min_frames..=cfg.max_frames);
    let frames = if (cfg.min_frames..=cfg.max_frames).contains(&echonet_length) {
        echonet_length
    } else {
        even_length
    };
    let heart_rate = uniform(&mut rng, 55.0, 105.0);
    // At least one whole cycle in every video, and at least 8 frames per cycle.
    let period = (f64::from(fps) * 60.0 / heart_rate).min(0.9 * f64::from(frames)).max(8.0);
    let phase0 = rng.random::<f64>();
    let systole = uniform(&mut rng, 0.30, 0.40);

    let look = Look {
        gain: uniform(&mut rng, 0.80, 1.25),
        tissue: uniform(&mut rng, 0.22, 0.36),
        tissue_wave: [
            uniform(&mut rng, 3.0, 9.0),
            uniform(&mut rng, 0.0, std::f64::consts::TAU),
            uniform(&mut rng, 3.0, 9.0),
            uniform(&mut rng, 0.0, std::f64::consts::TAU),
        ],
        myocardium: uniform(&mut rng, 0.62, 0.88),
        blood: uniform(&mut rng, 0.02, 0.07),
        attenuation: uniform(&mut rng, 0.15, 0.45),
        speckle: uniform(&mut rng, 0.30, 0.55),
        speckle_persistence: uniform(&mut rng, 0.50, 0.85),
        floor_noise: uniform(&mut rng, 0.005, 0.03),
        sector_apex: (0.5 + uniform(&mut rng, -0.02, 0.02), uniform(&mut rng, 0.0, 0.04)),
        sector_radius: uniform(&mut rng, 0.90, 0.98),
        sector_half_angle: uniform(&mut rng, 0.63, 0.78),
    };

    // Left ventricle: the time-averaged cavity area is drawn; the end-diastolic size follows
    // from it and the EF (mean of the contraction profile is 1/2, see `contraction`).
    let mean_area = uniform(&mut rng, 0.045, 0.075);
    let aspect = uniform(&mut rng, 1.7, 2.3);
    let area_ratio = (1.0 - ef / 100.0).powf(2.0 / 3.0);
    let ed_area = 2.0 * mean_area / (1.0 + area_ratio);
    let lv_angle = uniform(&mut rng, 0.10, 0.30);
    let lv_apex = (uniform(&mut rng, 0.50, 0.56), uniform(&mut rng, 0.09, 0.14));
    let a_ed = (ed_area * aspect / std::f64::consts::PI).sqrt();
    let lv = Ventricle {
        apex: lv_apex,
        axis: (lv_angle.sin(), lv_angle.cos()),
        a_ed,
        b_ed: a_ed / aspect,
        area_ratio,
        wall_area: mean_area * uniform(&mut rng, 0.7, 1.1),
    };
    // Length of the LV at its mean area, to place the left atrium below the base.
    let lv_mean_a = (mean_area * aspect / std::f64::consts::PI).sqrt();

    let rv_area = mean_area * uniform(&mut rng, 0.55, 0.85);
    let rv_aspect = uniform(&mut rng, 1.8, 2.6);
    let rv_ratio = uniform(&mut rng, 0.55, 0.80);
    let rv_angle = -uniform(&mut rng, 0.25, 0.45);
    let rv_apex =
        (lv_apex.0 - uniform(&mut rng, 0.06, 0.10), lv_apex.1 + uniform(&mut rng, 0.03, 0.07));
    let rv_ed = 2.0 * rv_area / (1.0 + rv_ratio);
    let rv_a = (rv_ed * rv_aspect / std::f64::consts::PI).sqrt();
    let rv = Ventricle {
        apex: rv_apex,
        axis: (rv_angle.sin(), rv_angle.cos()),
        a_ed: rv_a,
        b_ed: rv_a / rv_aspect,
        area_ratio: rv_ratio,
        wall_area: lv.wall_area * uniform(&mut rng, 0.3, 0.5),
    };
    let rv_mean_a = (rv_area * rv_aspect / std::f64::consts::PI).sqrt();
    let atrium = |apex: (f64, f64), axis: (f64, f64), length: f64, rng: &mut ChaCha8Rng| {
        let radius = uniform(rng, 0.075, 0.10);
        let reach = 2.0 * length + 0.9 * radius;
        Atrium {
            center: (apex.0 + reach * axis.0, apex.1 + reach * axis.1),
            radius,
            amplitude: uniform(rng, 0.10, 0.30),
            wall: uniform(rng, 0.015, 0.03),
        }
    };
    let la = atrium(lv.apex, lv.axis, lv_mean_a, &mut rng);
    let ra = atrium(rv.apex, rv.axis, rv_mean_a, &mut rng);

    let anomaly_u = rng.random::<f64>();
    let len = rng.random_range(2..=4u32);
    let start = rng.random_range(0..=frames - len);
    let angle = match rng.random_range(0..3u32) {
        0 => std::f64::consts::FRAC_PI_2,
        1 => -std::f64::consts::FRAC_PI_2,
        _ => std::f64::consts::PI,
    } + uniform(&mut rng, -0.4, 0.4);
    let strength = uniform(&mut rng, 0.15, 0.30);
    let anomaly = (abnormal && anomaly_u < cfg.anomaly_share).then_some(Anomaly {
        start,
        len,
        angle,
        strength,
    });

    VideoParams {
        file_name: file_name(cfg.seed, index),
        ef,
        esv,
        edv,
        split,
        fps,
        frames,
        period,
        phase0,
        systole,
        abnormal,
        anomaly,
        look,
        lv,
        rv,
        la,
        ra,
        noise_seed: rng.random(),
    }
}

/// Contraction at cycle phase `phase`: 0 at end-diastole, 1 at end-systole, half-cosine
/// ramps up over systole and down over diastole, so its average over a cycle is exactly 1/2.
fn contraction(phase: f64, systole: f64) -> f64 {
    let p = phase.rem_euclid(1.0);
    if p < systole {
        0.5 * (1.0 - (std::f64::consts::PI * p / systole).cos())
    } else {
        0.5 * (1.0 + (std::f64::consts::PI * (p - systole) / (1.0 - systole)).cos())
    }
}

impl Ventricle {
    /// Cavity ellipse at contraction `c`: the area scales by `1 − c(1 − area_ratio)`, both
    /// axes alike, so volume ∝ area^1.5 and ESV/EDV = area_ratio^1.5 = 1 − EF.
    pub(crate) fn shape(&self, c: f64) -> LvShape {
        let scale = (1.0 - c * (1.0 - self.area_ratio)).sqrt();
        let a = self.a_ed * scale;
        LvShape {
            center: (self.apex.0 + a * self.axis.0, self.apex.1 + a * self.axis.1),
            a,
            b: self.b_ed * scale,
        }
    }

    fn wall_width(&self, shape: &LvShape) -> f64 {
        // The ring between the cavity and the outer ellipse keeps the myocardium's area.
        let s = shape.a + shape.b;
        0.5 * (-s + (s * s + 4.0 * self.wall_area / std::f64::consts::PI).sqrt())
    }
}

impl VideoParams {
    pub(crate) fn contraction_at(&self, frame: u32) -> f64 {
        contraction(self.phase0 + f64::from(frame) / self.period, self.systole)
    }

    /// Outward scale of the LV wall at frame `t` and ellipse-normalised position (u, v):
    /// above 1 only inside an anomaly's frames and angular segment (±0.5 rad).
    fn lv_bulge(&self, t: u32, u: f64, v: f64) -> f64 {
        match self.anomaly.filter(|a| (a.start..a.start + a.len).contains(&t)) {
            Some(a) => {
                let x = angle_diff(v.atan2(u), a.angle) / 0.5;
                1.0 + if x.abs() < 1.0 {
                    a.strength * 0.5 * (1.0 + (std::f64::consts::PI * x).cos())
                } else {
                    0.0
                }
            }
            None => 1.0,
        }
    }

    /// Pixels of the LV cavity on frame `t` at `size × size`, rasterised like [`render`].
    #[cfg(test)]
    pub(crate) fn lv_cavity_pixels(&self, t: u32, size: u32) -> u32 {
        let n = size as usize;
        let lv = self.lv.shape(self.contraction_at(t));
        let w = self.lv.wall_width(&lv);
        let unit = |i: usize| (i as f64 + 0.5) / n as f64;
        let mut count = 0;
        for y in 0..n {
            for x in 0..n {
                let q = (unit(x), unit(y));
                if classify(q, &lv, self.lv.axis, w, |u, v| self.lv_bulge(t, u, v)) == Tissue::Blood
                {
                    count += 1;
                }
            }
        }
        count
    }

    /// End-diastolic and end-systolic frames of the first cycle.
    pub(crate) fn ed_es_frames(&self) -> (u32, u32) {
        let last = (self.period.ceil() as u32).min(self.frames - 1);
        let c: Vec<(u32, f64)> = (0..=last).map(|t| (t, self.contraction_at(t))).collect();
        let ed = c.iter().min_by(|x, y| x.1.total_cmp(&y.1)).map_or(0, |x| x.0);
        let es = c.iter().max_by(|x, y| x.1.total_cmp(&y.1)).map_or(0, |x| x.0);
        (ed, es)
    }

    /// `VolumeTracings.csv` rows (x1, y1, x2, y2) of a frame: the long axis from apex to base,
    /// then chords across the cavity perpendicular to it, in 112-pixel space.
    pub(crate) fn tracing(&self, frame: u32) -> Vec<[f64; 4]> {
        let shape = self.lv.shape(self.contraction_at(frame));
        let (d, n) = (self.lv.axis, (self.lv.axis.1, -self.lv.axis.0));
        let at = |u: f64, v: f64| {
            (
                (shape.center.0 + u * d.0 + v * n.0) * TRACING_SPACE,
                (shape.center.1 + u * d.1 + v * n.1) * TRACING_SPACE,
            )
        };
        let mut rows = Vec::with_capacity(CHORDS + 1);
        let (apex, base) = (at(-shape.a, 0.0), at(shape.a, 0.0));
        rows.push([apex.0, apex.1, base.0, base.1]);
        for k in 1..=CHORDS {
            let u = -shape.a + 2.0 * shape.a * k as f64 / (CHORDS + 1) as f64;
            let half = shape.b * (1.0 - (u / shape.a).powi(2)).max(0.0).sqrt();
            let (p, q) = (at(u, -half), at(u, half));
            rows.push([p.0, p.1, q.0, q.1]);
        }
        rows
    }
}

/// Region of a pixel, from back to front.
#[derive(Clone, Copy, PartialEq)]
enum Tissue {
    Background,
    Wall,
    Blood,
}

/// Where `p` falls in an ellipse cavity of semi-axes (a, b) with a wall of width `w`, both
/// scaled along the ellipse angle by `bulge` (1 = no bulge).
fn classify(
    p: (f64, f64),
    s: &LvShape,
    axis: (f64, f64),
    w: f64,
    bulge: impl Fn(f64, f64) -> f64,
) -> Tissue {
    let (dx, dy) = (p.0 - s.center.0, p.1 - s.center.1);
    let u = dx * axis.0 + dy * axis.1;
    let v = dx * axis.1 - dy * axis.0;
    let outer = (u / (s.a + w)).powi(2) + (v / (s.b + w)).powi(2);
    if outer > 2.0 {
        return Tissue::Background;
    }
    let f = bulge(u / s.a, v / s.b);
    if (u / s.a).powi(2) + (v / s.b).powi(2) <= f * f {
        Tissue::Blood
    } else if outer <= f * f {
        Tissue::Wall
    } else {
        Tissue::Background
    }
}

fn angle_diff(a: f64, b: f64) -> f64 {
    (a - b + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

/// Render every frame at `size × size`.
pub(crate) fn render(p: &VideoParams, size: u32) -> Vec<GreyFrame> {
    let n = size as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(p.noise_seed);
    let look = &p.look;
    let unit = |i: usize| (i as f64 + 0.5) / n as f64;

    // Static per video: sector mask, depth-attenuated tissue level, persistent speckle.
    let mut inside = vec![false; n * n];
    let mut tissue = vec![0f32; n * n];
    let mut depth_gain = vec![0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            let (dx, dy) = (unit(x) - look.sector_apex.0, unit(y) - look.sector_apex.1);
            let r = (dx * dx + dy * dy).sqrt();
            let theta = dx.atan2(dy);
            let k = y * n + x;
            inside[k] = dy > 0.0
                && r <= look.sector_radius
                && r >= 0.03
                && theta.abs() <= look.sector_half_angle;
            let w = look.tissue_wave;
            let wave = 1.0 + 0.25 * (w[0] * unit(x) + w[1]).sin() * (w[2] * unit(y) + w[3]).sin();
            tissue[k] = (look.tissue * wave) as f32;
            depth_gain[k] = (look.gain * (1.0 - look.attenuation * r / look.sector_radius)) as f32;
        }
    }
    let persistent: Vec<f32> = (0..n * n).map(|_| normal(&mut rng) as f32).collect();
    let rho = look.speckle_persistence as f32;
    let fresh_w = (1.0 - rho * rho).sqrt();

    let mut frames = Vec::with_capacity(p.frames as usize);
    let mut noise = vec![0f32; n * n];
    let mut tmp = vec![0f32; n * n];
    for t in 0..p.frames {
        let c = p.contraction_at(t);
        let lv = p.lv.shape(c);
        let rv = p.rv.shape(c);
        let (lv_w, rv_w) = (p.lv.wall_width(&lv), p.rv.wall_width(&rv));
        let lv_bulge = |u: f64, v: f64| p.lv_bulge(t, u, v);
        // Atria fill while the ventricles empty.
        let atria: Vec<(&Atrium, f64)> = [&p.la, &p.ra]
            .into_iter()
            .map(|a| (a, a.radius * (1.0 + a.amplitude * (c - 0.5))))
            .collect();

        for (k, v) in noise.iter_mut().enumerate() {
            *v = rho * persistent[k] + fresh_w * normal(&mut rng) as f32;
        }
        blur_121(&mut noise, &mut tmp, n);

        let mut pixels = vec![0u8; n * n];
        for y in 0..n {
            for x in 0..n {
                let k = y * n + x;
                if !inside[k] {
                    continue;
                }
                let q = (unit(x), unit(y));
                let mut region = Tissue::Background;
                for (a, r) in &atria {
                    let d = ((q.0 - a.center.0).powi(2) + (q.1 - a.center.1).powi(2)).sqrt();
                    if d <= *r {
                        region = Tissue::Blood;
                    } else if d <= r + a.wall && region == Tissue::Background {
                        region = Tissue::Wall;
                    }
                }
                let overlay =
                    |current: Tissue, t: Tissue| if t == Tissue::Background { current } else { t };
                region = overlay(region, classify(q, &rv, p.rv.axis, rv_w, |_, _| 1.0));
                region = overlay(region, classify(q, &lv, p.lv.axis, lv_w, lv_bulge));
                let echo = match region {
                    Tissue::Background => f64::from(tissue[k]),
                    Tissue::Wall => look.myocardium,
                    Tissue::Blood => look.blood,
                } as f32;
                // Blurred noise has a third of the variance; 2.67 restores a unit SD.
                let speckle = (1.0 + look.speckle as f32 * 2.67 * noise[k]).max(0.0);
                let floor = look.floor_noise as f32 * (1.0 + noise[k]).max(0.0);
                let value = depth_gain[k] * (echo * speckle + floor) * 255.0;
                pixels[k] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
        frames.push(GreyFrame { width: size, height: size, pixels });
    }
    frames
}

/// In-place separable [1 2 1]/4 blur (edges clamped): gives the speckle a grain of a few
/// pixels instead of independent pixels.
fn blur_121(v: &mut [f32], tmp: &mut [f32], n: usize) {
    for y in 0..n {
        for x in 0..n {
            let l = v[y * n + x.saturating_sub(1)];
            let r = v[y * n + (x + 1).min(n - 1)];
            tmp[y * n + x] = 0.25 * l + 0.5 * v[y * n + x] + 0.25 * r;
        }
    }
    for y in 0..n {
        for x in 0..n {
            let u = tmp[y.saturating_sub(1) * n + x];
            let d = tmp[(y + 1).min(n - 1) * n + x];
            v[y * n + x] = 0.25 * u + 0.5 * tmp[y * n + x] + 0.25 * d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn correlation(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    #[test]
    fn cavity_area_and_tracings_recover_ef() {
        let cfg =
            SynthConfig { seed: 11, min_frames: 16, max_frames: 60, ..SynthConfig::default() };
        let (mut ef, mut from_area, mut from_tracings) = (Vec::new(), Vec::new(), Vec::new());
        for index in 0..150 {
            let p = sample_params(&cfg, index);
            let areas: Vec<f64> =
                (0..p.frames).map(|t| f64::from(p.lv_cavity_pixels(t, 64))).collect();
            let max = areas.iter().copied().fold(f64::MIN, f64::max);
            let min = areas.iter().copied().fold(f64::MAX, f64::min);
            from_area.push(100.0 * (1.0 - (min / max).powf(1.5)));
            // Method of discs on the traced chords (the first row is the long axis).
            let volume = |frame: u32| {
                let rows = p.tracing(frame);
                let axis = rows[0];
                let h = ((axis[2] - axis[0]).powi(2) + (axis[3] - axis[1]).powi(2)).sqrt()
                    / (CHORDS + 1) as f64;
                rows[1..]
                    .iter()
                    .map(|r| {
                        std::f64::consts::PI * ((r[2] - r[0]).powi(2) + (r[3] - r[1]).powi(2)) / 4.0
                            * h
                    })
                    .sum::<f64>()
            };
            let (ed, es) = p.ed_es_frames();
            from_tracings.push(100.0 * (1.0 - volume(es) / volume(ed)));
            ef.push(p.ef);
        }
        let r_area = correlation(&ef, &from_area);
        let r_tracings = correlation(&ef, &from_tracings);
        println!("EF vs cavity-area EF: r = {r_area:.3}; vs tracing EF: r = {r_tracings:.3}");
        assert!(r_area > 0.95, "cavity area: r = {r_area}");
        assert!(r_tracings > 0.95, "tracings: r = {r_tracings}");
    }

    #[test]
    fn nuisance_parameters_follow_echonet_and_ignore_ef() {
        let cfg = SynthConfig { seed: 3, ..SynthConfig::default() };
        let params: Vec<VideoParams> = (0..3000).map(|i| sample_params(&cfg, i)).collect();
        let n = params.len() as f64;
        let share =
            |f: &dyn Fn(&VideoParams) -> bool| params.iter().filter(|p| f(p)).count() as f64 / n;
        assert!((share(&|p| p.split == Split::Train) - 0.74).abs() < 0.03);
        assert!((share(&|p| p.split == Split::Val) - 0.13).abs() < 0.02);
        assert!((share(&|p| p.fps == 50) - 0.79).abs() < 0.03);
        assert!(params.iter().all(|p| (18..=138).contains(&p.fps)));
        assert!(params.iter().all(|p| (cfg.min_frames..=cfg.max_frames).contains(&p.frames)));
        assert!(params.iter().all(|p| p.period <= f64::from(p.frames) && p.period >= 8.0));
        let mut frames: Vec<u32> = params.iter().map(|p| p.frames).collect();
        frames.sort_unstable();
        assert!(
            (160..=182).contains(&frames[frames.len() / 2]),
            "median frames {}",
            frames[frames.len() / 2]
        );
        let abnormal = share(&|p| p.abnormal);
        assert!((abnormal - 0.256).abs() < 0.025, "abnormal share {abnormal}");
        let anomalies = share(&|p| p.anomaly.is_some()) / abnormal;
        assert!((anomalies - cfg.anomaly_share).abs() < 0.06, "anomaly share {anomalies}");
        assert!(params.iter().all(|p| p.anomaly.is_none() || p.abnormal));

        // Brightness, size, rate and length are uncorrelated with EF and with the class.
        let ef: Vec<f64> = params.iter().map(|p| p.ef).collect();
        let class: Vec<f64> = params.iter().map(|p| f64::from(u8::from(p.abnormal))).collect();
        let nuisances: [(&str, Vec<f64>); 5] = [
            ("gain", params.iter().map(|p| p.look.gain).collect()),
            (
                "mean LV area",
                params
                    .iter()
                    .map(|p| p.lv.a_ed * p.lv.b_ed * (1.0 + p.lv.area_ratio) / 2.0)
                    .collect(),
            ),
            ("fps", params.iter().map(|p| f64::from(p.fps)).collect()),
            ("frames", params.iter().map(|p| f64::from(p.frames)).collect()),
            ("speckle", params.iter().map(|p| p.look.speckle).collect()),
        ];
        for (name, values) in &nuisances {
            for (what, target) in [("EF", &ef), ("class", &class)] {
                let r = correlation(values, target);
                assert!(r.abs() < 0.06, "{name} correlates with {what}: r = {r}");
            }
        }
    }

    #[test]
    fn file_names_look_like_echonet_and_are_unique() {
        let names: std::collections::HashSet<String> = (0..5000).map(|i| file_name(9, i)).collect();
        assert_eq!(names.len(), 5000);
        assert!(names.iter().all(|n| {
            n.len() == 18
                && n.starts_with("0X")
                && n[2..].chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        }));
        assert_ne!(file_name(9, 0), file_name(10, 0));
    }
}
