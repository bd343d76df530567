//! Clip score, paper eq. 18:
//! `score = beta * p_live + (1 - beta) * mean_t( sum(D_fusion(t) * M(t)) / sum(M(t)) )`.
//! CPU version over maps already read back from the GPU (one clip is small).

use anyhow::{bail, Result};

/// Masked mean of one depth map; an empty mask gives 0 (MODEL.md).
fn masked_mean(depth: &[f32], mask: Option<&[f32]>) -> f64 {
    match mask {
        None => depth.iter().map(|&d| d as f64).sum::<f64>() / depth.len().max(1) as f64,
        Some(m) => {
            let den: f64 = m.iter().map(|&w| w as f64).sum();
            if den <= 0.0 {
                return 0.0;
            }
            let num: f64 = depth.iter().zip(m).map(|(&d, &w)| d as f64 * w as f64).sum();
            num / den
        }
    }
}

/// Score of one clip from its per-frame depth maps (`D_fusion(t)`, each S x S, flattened) and
/// optional masks (same shapes). `p_live = None` is for variants without a binary head: the
/// score is then the depth term alone.
pub fn clip_score(beta: f64, p_live: Option<f64>, depth: &[Vec<f32>], masks: Option<&[Vec<f32>]>) -> Result<f64> {
    if depth.is_empty() {
        bail!("clip_score: no depth maps");
    }
    if let Some(m) = masks {
        if m.len() != depth.len() {
            bail!("clip_score: {} masks for {} depth maps", m.len(), depth.len());
        }
    }
    let mut sum = 0.0;
    for (t, d) in depth.iter().enumerate() {
        let m = masks.map(|m| m[t].as_slice());
        if let Some(m) = m {
            if m.len() != d.len() {
                bail!("clip_score: frame {t}: mask has {} values, depth {}", m.len(), d.len());
            }
        }
        sum += masked_mean(d, m);
    }
    let depth_term = sum / depth.len() as f64;
    let s = match p_live {
        Some(p) => beta * p + (1.0 - beta) * depth_term,
        None => depth_term,
    };
    if !s.is_finite() {
        bail!("clip_score: non-finite score (p_live {p_live:?}, depth term {depth_term})");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq18_by_hand() {
        // Two 2x2 frames. Frame 0 mask keeps values 1.0 and 0.5 -> 0.75; frame 1 mask is
        // empty -> 0. Depth term = (0.75 + 0) / 2 = 0.375.
        // score = 0.9 * 0.8 + 0.1 * 0.375 = 0.72 + 0.0375 = 0.7575.
        let d = vec![vec![1.0, 0.5, 0.0, 0.2], vec![0.3, 0.3, 0.3, 0.3]];
        let m = vec![vec![1.0, 1.0, 0.0, 0.0], vec![0.0; 4]];
        let s = clip_score(0.9, Some(0.8), &d, Some(&m)).unwrap();
        assert!((s - 0.7575).abs() < 1e-9, "{s}");
        // No mask, no binary head: mean of all values = (1.7/4 + 1.2/4) / 2 = 0.3625.
        let s = clip_score(0.9, None, &d, None).unwrap();
        assert!((s - 0.3625).abs() < 1e-7, "{s}");
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let d = vec![vec![1.0; 4]];
        let m = vec![vec![1.0; 3]];
        assert!(clip_score(0.9, Some(0.5), &d, Some(&m)).is_err());
        assert!(clip_score(0.9, Some(0.5), &[], None).is_err());
    }
}
