//! Evaluation: per-video scores (from the clip scores of `model::score`, paper eq. 18), face
//! anti-spoofing metrics (ISO/IEC 30107-3 APCER / BPCER / ACER, HTER, EER, ROC, AUC) and reports.
//!
//! Conventions used everywhere in this module:
//! - label 1 = live (bona fide), anything else = attack (presentation attack);
//! - a higher score means "more live"; a sample is accepted as live when `score >= threshold`.

pub mod metrics;
pub mod report;
#[cfg(not(target_arch = "wasm32"))]
pub mod run;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Instrument name used for bona fide (live) presentations.
pub const LIVE: &str = "live";

/// One scored clip or video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredVideo {
    pub video_id: String,
    /// "live" or the attack instrument ("print", "replay", "print1", ...).
    pub instrument: String,
    /// 1 = live, 0 = attack.
    pub label: u32,
    /// Higher = more live.
    pub score: f64,
}

impl ScoredVideo {
    pub fn new(video_id: &str, instrument: &str, label: u32, score: f64) -> Self {
        ScoredVideo { video_id: video_id.to_string(), instrument: instrument.to_string(), label, score }
    }

    pub fn is_live(&self) -> bool {
        self.label == 1
    }
}

/// Mean clip score per `video_id` (the paper scores a video as the mean over its clips).
/// Output is sorted by `video_id`. Errors on a non-finite score or when clips of one video
/// disagree on label or instrument.
pub fn per_video(clips: &[ScoredVideo]) -> Result<Vec<ScoredVideo>> {
    // video_id -> (first clip, score sum, clip count)
    let mut acc: BTreeMap<&str, (&ScoredVideo, f64, usize)> = BTreeMap::new();
    for (i, c) in clips.iter().enumerate() {
        if !c.score.is_finite() {
            bail!("per_video: clip {i} of video '{}' has non-finite score {}", c.video_id, c.score);
        }
        let e = acc.entry(c.video_id.as_str()).or_insert((c, 0.0, 0));
        if e.0.label != c.label || e.0.instrument != c.instrument {
            bail!(
                "per_video: clips of video '{}' disagree: label/instrument {}/{} vs {}/{} (clip {i})",
                c.video_id,
                e.0.label,
                e.0.instrument,
                c.label,
                c.instrument
            );
        }
        e.1 += c.score;
        e.2 += 1;
    }
    Ok(acc.into_values().map(|(first, sum, n)| ScoredVideo { score: sum / n as f64, ..first.clone() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_video_averages_clips_and_sorts_by_id() {
        let clips = vec![
            ScoredVideo::new("b", "print", 0, 0.2),
            ScoredVideo::new("a", "live", 1, 0.9),
            ScoredVideo::new("b", "print", 0, 0.4),
            ScoredVideo::new("a", "live", 1, 0.5),
            ScoredVideo::new("a", "live", 1, 0.7),
        ];
        let v = per_video(&clips).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].video_id, "a");
        assert!((v[0].score - 0.7).abs() < 1e-12); // (0.9 + 0.5 + 0.7) / 3
        assert_eq!(v[1].video_id, "b");
        assert!((v[1].score - 0.3).abs() < 1e-12); // (0.2 + 0.4) / 2
        assert_eq!(v[1].instrument, "print");
    }

    #[test]
    fn per_video_rejects_inconsistent_labels_and_nan() {
        let bad = vec![ScoredVideo::new("a", "live", 1, 0.9), ScoredVideo::new("a", "print", 0, 0.5)];
        let e = per_video(&bad).unwrap_err().to_string();
        assert!(e.contains("'a'"), "{e}");
        let nan = vec![ScoredVideo::new("a", "live", 1, f64::NAN)];
        assert!(per_video(&nan).is_err());
    }
}
