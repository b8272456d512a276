//! EF → class: 0 = normal, 1 = abnormal, by the seed's band rule (normal iff 50 ≤ EF ≤ 70)
//! or a threshold rule (abnormal iff EF < threshold); videos without a usable EF are an error
//! or a counted skip, per [`OnBadVideo`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::echonet::{OnBadVideo, VideoRecord};
use super::error::DataError;

/// The two classes, with their index in the model's output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Normal = 0,
    Abnormal = 1,
}

impl Class {
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How the ejection fraction (percent) decides the class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum LabelRule {
    /// Normal iff `normal_min ≤ EF ≤ normal_max`; abnormal below or above (the seed: 50–70).
    Band {
        #[schemars(range(min = 0.0, max = 100.0))]
        normal_min: f64,
        #[schemars(range(min = 0.0, max = 100.0))]
        normal_max: f64,
    },
    /// Abnormal iff `EF < threshold` (e.g. 50 for reduced EF, 40 for HFrEF).
    Below {
        #[schemars(range(min = 0.0, max = 100.0))]
        threshold: f64,
    },
}

impl Default for LabelRule {
    fn default() -> Self {
        LabelRule::Band { normal_min: 50.0, normal_max: 70.0 }
    }
}

impl LabelRule {
    /// Whether the bounds make sense (finite, within 0–100, min ≤ max).
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
        match *self {
            LabelRule::Band { normal_min, normal_max }
                if !ok(normal_min) || !ok(normal_max) || normal_min > normal_max =>
            {
                Err(format!(
                    "band rule needs 0 ≤ normal_min ≤ normal_max ≤ 100, got {normal_min}–{normal_max}"
                ))
            }
            LabelRule::Below { threshold } if !ok(threshold) => {
                Err(format!("threshold rule needs 0 ≤ threshold ≤ 100, got {threshold}"))
            }
            _ => Ok(()),
        }
    }

    /// The class of a video with ejection fraction `ef`; `None` when `ef` is NaN or infinite.
    pub fn classify(&self, ef: f64) -> Option<Class> {
        if !ef.is_finite() {
            return None;
        }
        let abnormal = match *self {
            LabelRule::Band { normal_min, normal_max } => ef < normal_min || ef > normal_max,
            LabelRule::Below { threshold } => ef < threshold,
        };
        Some(if abnormal { Class::Abnormal } else { Class::Normal })
    }
}

/// A usable video with its class.
#[derive(Debug, Clone)]
pub struct LabelledVideo {
    pub video: VideoRecord,
    pub class: Class,
}

/// What labelling did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelReport {
    pub normal: usize,
    pub abnormal: usize,
    /// Videos skipped for a missing or NaN EF (all of them, by file name).
    pub skipped_missing_ef: Vec<String>,
}

/// Every video labelled that can be.
#[derive(Debug)]
pub struct Labelled {
    pub videos: Vec<LabelledVideo>,
    pub report: LabelReport,
    /// An error naming each video without a usable EF (file name and FileList.csv line), in
    /// order; these videos are in `report.skipped_missing_ef`.
    pub unlabelled: Vec<DataError>,
}

/// Label every video that has a usable EF, and name each one that has none.
pub fn label_all(videos: Vec<VideoRecord>, rule: &LabelRule) -> Result<Labelled, DataError> {
    rule.validate().map_err(DataError::Config)?;
    let mut out = Labelled {
        videos: Vec::with_capacity(videos.len()),
        report: LabelReport::default(),
        unlabelled: Vec::new(),
    };
    for video in videos {
        match video.row.ef.and_then(|ef| rule.classify(ef)) {
            Some(class) => {
                match class {
                    Class::Normal => out.report.normal += 1,
                    Class::Abnormal => out.report.abnormal += 1,
                }
                out.videos.push(LabelledVideo { video, class });
            }
            None => {
                out.report.skipped_missing_ef.push(video.row.file_name.clone());
                out.unlabelled.push(DataError::Label {
                    record: format!(
                        "{} (FileList.csv line {})",
                        video.row.file_name, video.row.line
                    ),
                    detail: "EF is missing or NaN, so it has no label".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Label every video; a missing EF stops with an error naming the video (`Error`) or skips
/// it and lists it in the report (`Skip`).
pub fn label_videos(
    videos: Vec<VideoRecord>,
    rule: &LabelRule,
    policy: OnBadVideo,
) -> Result<(Vec<LabelledVideo>, LabelReport), DataError> {
    let labelled = label_all(videos, rule)?;
    match labelled.unlabelled.into_iter().next() {
        Some(first) if policy == OnBadVideo::Error => Err(first),
        _ => Ok((labelled.videos, labelled.report)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_rule_matches_the_seed() {
        let rule = LabelRule::default();
        assert_eq!(rule.classify(49.99), Some(Class::Abnormal));
        assert_eq!(rule.classify(50.0), Some(Class::Normal));
        assert_eq!(rule.classify(70.0), Some(Class::Normal));
        assert_eq!(rule.classify(70.01), Some(Class::Abnormal));
        assert_eq!(rule.classify(f64::NAN), None);
        assert_eq!(Class::Normal.index(), 0);
        assert_eq!(Class::Abnormal.index(), 1);
    }

    #[test]
    fn threshold_rule() {
        let rule = LabelRule::Below { threshold: 40.0 };
        assert_eq!(rule.classify(39.9), Some(Class::Abnormal));
        assert_eq!(rule.classify(40.0), Some(Class::Normal));
        assert_eq!(rule.classify(95.0), Some(Class::Normal));
    }

    #[test]
    fn rule_serde_is_tagged_and_strict() {
        let band: LabelRule =
            toml::from_str("rule = \"band\"\nnormal_min = 45.0\nnormal_max = 75.0").expect("band");
        assert_eq!(band, LabelRule::Band { normal_min: 45.0, normal_max: 75.0 });
        let below: LabelRule =
            serde_json::from_str(r#"{"rule":"below","threshold":50}"#).expect("below");
        assert_eq!(below, LabelRule::Below { threshold: 50.0 });
        assert!(
            serde_json::from_str::<LabelRule>(r#"{"rule":"below","threshold":50,"x":1}"#).is_err()
        );
        assert!(LabelRule::Band { normal_min: 70.0, normal_max: 50.0 }.validate().is_err());
        assert!(LabelRule::default().validate().is_ok());
    }
}
