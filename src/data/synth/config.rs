use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Parameters of the synthetic EchoNet-Dynamic generator (`data.source.kind = "synthetic"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthConfig {
    /// Number of videos to generate.
    #[serde(default = "default_videos")]
    #[schemars(range(min = 4, max = 100000))]
    pub videos: u32,
    /// Seed of the generator (independent of the experiment's training seed).
    #[serde(default)]
    pub seed: u64,
    /// Frame width and height in pixels (EchoNet-Dynamic: 112).
    #[serde(default = "default_frame_size")]
    #[schemars(range(min = 32, max = 1024))]
    pub frame_size: u32,
    /// Fewest frames per video (EchoNet-Dynamic: 28).
    #[serde(default = "default_min_frames")]
    #[schemars(range(min = 16, max = 2000))]
    pub min_frames: u32,
    /// Most frames per video (EchoNet-Dynamic: 1,002). Lengths follow EchoNet's distribution
    /// (median 171); a length outside `min_frames`–`max_frames` is redrawn evenly between them.
    #[serde(default = "default_max_frames")]
    #[schemars(range(min = 16, max = 2000))]
    pub max_frames: u32,
    /// Share of abnormal videos (EF outside 50–70) that also get a transient 2–4-frame
    /// regional wall-motion anomaly.
    #[serde(default = "default_anomaly_share")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub anomaly_share: f64,
    /// JPEG quality of the MJPEG frames (OpenCV's default: 95).
    #[serde(default = "default_jpeg_quality")]
    #[schemars(range(min = 50, max = 100))]
    pub jpeg_quality: u8,
    /// EF percentage points kept clear on each side of the seed's class boundaries (50 and
    /// 70): EFs closer than this are drawn again. 0 keeps EchoNet's distribution, borderline
    /// hearts included; the CPU demos use a margin so that a micro model learns in minutes.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub ef_margin: f64,
}

fn default_videos() -> u32 {
    400
}

fn default_frame_size() -> u32 {
    112
}

fn default_min_frames() -> u32 {
    28
}

fn default_max_frames() -> u32 {
    400
}

fn default_anomaly_share() -> f64 {
    0.5
}

fn default_jpeg_quality() -> u8 {
    95
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            videos: default_videos(),
            seed: 0,
            frame_size: default_frame_size(),
            min_frames: default_min_frames(),
            max_frames: default_max_frames(),
            anomaly_share: default_anomaly_share(),
            jpeg_quality: default_jpeg_quality(),
            ef_margin: 0.0,
        }
    }
}

impl SynthConfig {
    /// The checks the schema cannot express, plus the ranges for configs built in code.
    pub fn validate(&self) -> Result<(), String> {
        if self.videos == 0 {
            return Err("videos must be at least 1".into());
        }
        if !(32..=1024).contains(&self.frame_size) {
            return Err(format!("frame_size {} is outside 32–1024", self.frame_size));
        }
        if self.min_frames < 16 || self.min_frames > self.max_frames || self.max_frames > 2000 {
            return Err(format!(
                "need 16 ≤ min_frames ≤ max_frames ≤ 2000, got {}–{}",
                self.min_frames, self.max_frames
            ));
        }
        if !(0.0..=1.0).contains(&self.anomaly_share) {
            return Err(format!("anomaly_share {} is outside 0–1", self.anomaly_share));
        }
        if !(0.0..=10.0).contains(&self.ef_margin) {
            return Err(format!("ef_margin {} is outside 0–10", self.ef_margin));
        }
        if !(50..=100).contains(&self.jpeg_quality) {
            return Err(format!("jpeg_quality {} is outside 50–100", self.jpeg_quality));
        }
        Ok(())
    }
}
