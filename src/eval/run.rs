//! Evaluation end to end: score every clip of a split with a model (eval mode), average per
//! video, fix the threshold on dev at its EER, apply it to test, and write the report.

use std::path::Path;

use anyhow::{Context, Result};

use super::metrics::{self, Metrics};
use super::report::{GridRow, ModelReport};
use super::{per_video, ScoredVideo};
use crate::data::{Dataset, Split};
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};

/// Scores of every clip of a split, and up to `grid_per_class` figure-7 rows per class.
pub struct SplitScores {
    pub clips: Vec<ScoredVideo>,
    pub grid: Vec<GridRow>,
}

pub fn score_split(
    gpu: &Gpu,
    model: &FasTd,
    root: &Path,
    split: Split,
    protocol: Option<&str>,
    grid_per_class: usize,
    show_progress: bool,
) -> Result<SplitScores> {
    let cfg = &model.cfg;
    let data = Dataset::open(root, split, protocol, &cfg.clip_spec())?;
    for w in data.skipped() {
        eprintln!("warning: {w}");
    }
    let bar = crate::train::trainer::progress_bar(
        show_progress,
        data.len() as u64,
        &format!("{} {:?}", cfg.variant, split).to_lowercase(),
    );
    let mut out = SplitScores { clips: vec![], grid: vec![] };
    let batch_size = cfg.stage2.batch.max(1) * 2;
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let clips: Vec<_> = chunk.iter().map(|&i| data.load(i, None)).collect::<Result<_>>()?;
        let batch = HostBatch::from_clips(cfg, &clips)?;
        let scored = model.score(gpu, &batch)?;
        for (b, clip) in clips.iter().enumerate() {
            out.clips.push(ScoredVideo::new(&clip.video_id, &clip.instrument, clip.label, scored.scores[b]));
            let class = if clip.label == 1 {
                "live".to_string()
            } else {
                clip.instrument.trim_end_matches(char::is_numeric).to_string()
            };
            if out.grid.iter().filter(|r| r.class == class).count() < grid_per_class {
                // the multi-frame model's depth output is D_fusion (figure 7); Model 1 has D_single only
                let multi = scored.d_fusion[b].first().cloned().unwrap_or_else(|| scored.d_single[b][0].clone());
                let side = (cfg.image_size as u32).max(96); // legible at the tiny preset's 32 px
                let rgb = frame_image(&clip.frames, cfg.image_size);
                out.grid.push(GridRow {
                    class,
                    rgb: image::imageops::resize(&rgb, side, side, image::imageops::FilterType::Nearest),
                    single_depth: scored.d_single[b][0].clone(),
                    multi_depth: multi,
                    map: cfg.map_size(),
                    score: scored.scores[b],
                });
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// First frame of a clip back to 8-bit RGB (undoing (p - 127.5) / 128).
pub fn frame_image(frames: &[f32], size: usize) -> image::RgbImage {
    let plane = size * size;
    image::RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = y as usize * size + x as usize;
        let px = |c: usize| (frames[c * plane + i] * 128.0 + 127.5).round().clamp(0.0, 255.0) as u8;
        image::Rgb([px(0), px(1), px(2)])
    })
}

/// Dev-threshold metrics of one model, with its per-video test scores and grid rows.
pub fn evaluate_model(
    gpu: &Gpu,
    model: &FasTd,
    name: &str,
    root: &Path,
    protocol: Option<&str>,
    show_progress: bool,
) -> Result<(ModelReport, Vec<GridRow>)> {
    let dev = score_split(gpu, model, root, Split::Dev, protocol, 0, show_progress).context("scoring the dev split")?;
    let test =
        score_split(gpu, model, root, Split::Test, protocol, 2, show_progress).context("scoring the test split")?;
    let dev_videos = per_video(&dev.clips)?;
    let test_videos = per_video(&test.clips)?;
    let metrics: Metrics = metrics::evaluate(&dev_videos, &test_videos)?;
    Ok((ModelReport { name: name.to_string(), metrics, test: test_videos }, test.grid))
}
