//! Evaluation end to end: score every clip of a split with a model (eval mode), average per
//! video, fix the threshold on dev at its EER, apply it to test, and write the report.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::metrics::{self, Metrics};
use super::report::{GridRow, ModelReport};
use super::{per_video, ScoredVideo};
use crate::data::{DataSource, Dataset, Split};
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};

/// Scores of every clip of a split and, when asked for, one depth-figure row per video (see
/// `score_split`).
pub struct SplitScores {
    pub clips: Vec<ScoredVideo>,
    pub grid: Vec<GridRow>,
}

/// Side of the RGB images kept per video: legible at the tiny preset's 32 px, and small enough
/// that one image per test video fits in memory at the paper's 256 px.
fn row_side(image_size: usize) -> u32 {
    (image_size as u32).clamp(96, 128)
}

/// Scores every clip of a split. With `grid_per_class` > 0 it also keeps one row per video (its
/// first clip's frame and depth maps, the video's mean score) for the report's per-video table;
/// per class the `grid_per_class` worst-scored videos (live: lowest, attacks: highest) and as
/// many typical ones (nearest the class median) are marked for the depth figure (`GridRow::pick`).
pub fn score_split(
    gpu: &Gpu,
    model: &FasTd,
    source: &DataSource,
    split: Split,
    grid_per_class: usize,
    show_progress: bool,
) -> Result<SplitScores> {
    let cfg = &model.cfg;
    let data = Dataset::open_source(source, split, &cfg.clip_spec())?;
    if data.layout == crate::data::Layout::CelebaSpoof && !cfg.variant().single_only {
        bail!(
            "{} is CelebA-Spoof: photos, which a multi-frame model (variant {}) cannot judge; evaluate a \
             single-frame model (variant 1, e.g. a run's stage1.safetensors)",
            source.root.display(),
            cfg.variant
        );
    }
    for w in data.skipped() {
        eprintln!("warning: {w}");
    }
    let bar = crate::util::progress::progress_bar(
        show_progress,
        data.len() as u64,
        &format!("{} {:?}", cfg.variant, split).to_lowercase(),
    );
    let mut out = SplitScores { clips: vec![], grid: vec![] };
    let mut seen = std::collections::HashSet::new();
    let batch_size = cfg.stage2.batch.max(1) * 2;
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let clips: Vec<_> = chunk.iter().map(|&i| data.load(i, None)).collect::<Result<_>>()?;
        let batch = HostBatch::from_clips(cfg, &clips)?;
        let scored = model.score(gpu, &batch)?;
        for (b, clip) in clips.iter().enumerate() {
            out.clips.push(ScoredVideo::new(&clip.video_id, &clip.instrument, clip.label, scored.scores[b]));
            if grid_per_class == 0 || !seen.insert(clip.video_id.clone()) {
                continue;
            }
            let class = if clip.label == 1 {
                "live".to_string()
            } else {
                clip.instrument.trim_end_matches(char::is_numeric).to_string()
            };
            // the multi-frame model's depth output is D_fusion (figure 7); Model 1 has D_single only
            let multi = scored.d_fusion[b].first().cloned().unwrap_or_else(|| scored.d_single[b][0].clone());
            let side = row_side(cfg.image_size);
            let rgb = frame_image(&clip.frames, cfg.image_size);
            out.grid.push(GridRow {
                class,
                rgb: image::imageops::resize(&rgb, side, side, image::imageops::FilterType::Triangle),
                single_depth: scored.d_single[b][0].clone(),
                multi_depth: multi,
                map: cfg.map_size(),
                score: scored.scores[b],
                video: clip.video_id.clone(),
                instrument: clip.instrument.clone(),
                label: clip.label,
                threshold: None,
                error: None,
                pick: None,
            });
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if grid_per_class > 0 {
        // the video's score, as the metrics and the table see it
        let videos = per_video(&out.clips)?;
        let score: std::collections::HashMap<&str, f64> =
            videos.iter().map(|v| (v.video_id.as_str(), v.score)).collect();
        for r in &mut out.grid {
            r.score = score.get(r.video.as_str()).copied().unwrap_or(r.score);
        }
        super::report::pick_grid_rows(&mut out.grid, grid_per_class);
    }
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

/// A threshold fixed outside the evaluated data: given by the user, or stored with a model
/// trained elsewhere (the cross-dataset protocol: the training side's dev EER).
#[derive(Clone, Debug, PartialEq)]
pub struct FixedThreshold {
    pub value: f64,
    pub source: String,
}

/// Dev-threshold metrics of one model, with its per-video test scores and grid rows.
pub fn evaluate_model(
    gpu: &Gpu,
    model: &FasTd,
    name: &str,
    source: &DataSource,
    show_progress: bool,
) -> Result<(ModelReport, Vec<GridRow>)> {
    evaluate_model_with(gpu, model, name, source, None, GRID_PER_CLASS, show_progress)
}

/// Depth-grid rows per class by default: this many worst-scored and this many typical videos.
pub const GRID_PER_CLASS: usize = 2;

/// Metrics of one model on the test split at `fixed`, or (None) at the threshold fixed on
/// this dataset's dev split at its EER.
pub fn evaluate_model_with(
    gpu: &Gpu,
    model: &FasTd,
    name: &str,
    source: &DataSource,
    fixed: Option<&FixedThreshold>,
    grid_per_class: usize,
    show_progress: bool,
) -> Result<(ModelReport, Vec<GridRow>)> {
    let threshold = match fixed {
        Some(f) => f.value,
        None => {
            let dev = score_split(gpu, model, source, Split::Dev, 0, show_progress).context("scoring the dev split")?;
            metrics::dev_threshold(&per_video(&dev.clips)?).context("the dev split")?
        }
    };
    let test = score_split(gpu, model, source, Split::Test, grid_per_class, show_progress)
        .context("scoring the test split")?;
    let test_videos = per_video(&test.clips)?;
    let metrics: Metrics = metrics::at_threshold(&test_videos, threshold).context("the test split")?;
    Ok((ModelReport { name: name.to_string(), metrics, test: test_videos }, test.grid))
}

/// Whether `path` holds `eval --json` output (one protocol's metrics, or several summarised).
pub fn is_eval_json(path: &Path) -> bool {
    use crate::util::outputs::json_with_keys;
    // every key of tdfas's metrics: a file of the user's that shares two of them is not taken for one
    let metrics = ["threshold_source", "videos", "apcer", "bpcer", "acer", "hter", "eer", "auc", "n_live", "n_attack"];
    json_with_keys(path, &metrics) || json_with_keys(path, &["sub_protocols", "mean_std"])
}

/// `tdfas eval` over a protocol: one evaluation per sub-protocol (see
/// `data::sub_protocols`), and their mean ± std when there are several.
pub struct ProtocolEvaluation {
    /// (sub-protocol, results), named "Model N" or "Model N, protocol P"
    pub runs: Vec<ModelReport>,
    pub protocols: Vec<Option<String>>,
    /// depth-figure rows of the first sub-protocol's test split
    pub grid: Vec<GridRow>,
    pub summary: Option<metrics::Summary>,
    /// where the threshold came from ("dev EER of this dataset" unless fixed)
    pub threshold_source: String,
}

impl ProtocolEvaluation {
    /// The paper's table: one row per sub-protocol, then mean ± std when there are several.
    pub fn table(&self) -> String {
        let rows: Vec<(String, Metrics)> = self.runs.iter().map(|r| (r.name.clone(), r.metrics.clone())).collect();
        let mut s = super::report::paper_table(&rows);
        for (name, m) in &rows {
            s.push_str(&format!("{name}\n{}\n", m.operating_lines()));
        }
        if let (Some(summary), Some(first)) = (&self.summary, self.runs.first()) {
            let name = first.name.split(", protocol").next().unwrap_or(&first.name);
            s.push('\n');
            s.push_str(&super::report::paper_table_mean_std(&[(
                format!("{name}, mean ± std over {} sub-protocols", summary.n),
                summary.clone(),
            )]));
        }
        s
    }

    /// What was evaluated and at which threshold, for the top of the printed table.
    pub fn header(&self, checkpoint: &Path, data: &Path, protocol: Option<&str>) -> String {
        format!(
            "checkpoint {}\ndata {} (test split), protocol {}\nthreshold: {}",
            checkpoint.display(),
            data.display(),
            protocol.unwrap_or("(none)"),
            self.threshold_source
        )
    }

    /// Every number: for one protocol the metrics (top level), the threshold's source and every
    /// test video's score; per sub-protocol and summary otherwise.
    pub fn json(&self) -> Result<String> {
        if self.summary.is_none() {
            let mut v = serde_json::to_value(&self.runs[0].metrics)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("threshold_source".into(), self.threshold_source.clone().into());
                o.insert("videos".into(), serde_json::to_value(&self.runs[0].test)?);
            }
            return Ok(serde_json::to_string_pretty(&v)?);
        }
        let per: serde_json::Map<String, serde_json::Value> = self
            .protocols
            .iter()
            .zip(&self.runs)
            .map(|(p, r)| Ok((p.clone().unwrap_or_default(), serde_json::to_value(&r.metrics)?)))
            .collect::<Result<_>>()?;
        Ok(serde_json::to_string_pretty(&serde_json::json!({ "sub_protocols": per, "mean_std": self.summary }))?)
    }
}

pub fn evaluate_protocol(
    gpu: &Gpu,
    model: &FasTd,
    name: &str,
    source: &DataSource,
    show_progress: bool,
) -> Result<ProtocolEvaluation> {
    evaluate_protocol_with(gpu, model, name, source, None, GRID_PER_CLASS, show_progress)
}

/// `evaluate_protocol` at a fixed threshold (None: each sub-protocol's dev EER).
pub fn evaluate_protocol_with(
    gpu: &Gpu,
    model: &FasTd,
    name: &str,
    source: &DataSource,
    fixed: Option<&FixedThreshold>,
    grid_per_class: usize,
    show_progress: bool,
) -> Result<ProtocolEvaluation> {
    let protocols: Vec<Option<String>> = match source.protocol {
        Some(p) => crate::data::sub_protocols(source.root, p)?.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let several = protocols.len() > 1;
    let (mut runs, mut grid) = (Vec::new(), Vec::new());
    for (i, p) in protocols.iter().enumerate() {
        let label = if several { format!("{name}, protocol {}", p.as_deref().unwrap_or("")) } else { name.to_string() };
        if several && show_progress {
            eprintln!("sub-protocol {} ({}/{})", p.as_deref().unwrap_or(""), i + 1, protocols.len());
        }
        let (r, g) = evaluate_model_with(
            gpu,
            model,
            &label,
            &source.with_protocol(p.as_deref()),
            fixed,
            grid_per_class,
            show_progress,
        )
        .with_context(|| format!("protocol {}", p.as_deref().unwrap_or("(none)")))?;
        if i == 0 {
            grid = g;
        }
        runs.push(r);
    }
    let summary = if several {
        Some(metrics::summarize(&runs.iter().map(|r| r.metrics.clone()).collect::<Vec<_>>())?)
    } else {
        None
    };
    let threshold_source = match fixed {
        Some(f) => format!("{:.4} fixed ({})", f.value, f.source),
        None => "the EER threshold of this dataset's dev split".to_string(),
    };
    Ok(ProtocolEvaluation { runs, protocols, grid, summary, threshold_source })
}
