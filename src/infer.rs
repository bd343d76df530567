//! Inference on user input: folders of face-cropped frames or videos, a live score per clip
//! and per input, optionally the depth maps as PNG.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::data::{clip_starts, generic, load, video, Clip, ClipIndex};
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::Config;

pub struct InputScore {
    pub input: PathBuf,
    pub clip_scores: Vec<f64>,
    pub score: f64,
}

/// The frames of an input: a folder of NNNN.png|jpg, or a video decoded with FFmpeg.
fn frame_paths(input: &Path, work: &Path) -> Result<Vec<PathBuf>> {
    if input.is_dir() {
        let frames = generic::frame_files(input).with_context(|| format!("{}: listing frames", input.display()))?;
        if frames.is_empty() {
            bail!("{}: no frames named NNNN.png or NNNN.jpg in this folder", input.display());
        }
        return Ok(frames.into_values().collect());
    }
    if !input.exists() {
        bail!("{}: no such file or folder", input.display());
    }
    let dir = work.join(input.file_stem().and_then(|s| s.to_str()).unwrap_or("video"));
    std::fs::create_dir_all(&dir)?;
    video::decode(input, &dir).with_context(|| format!("{}: decoding the video", input.display()))?;
    let frames = generic::frame_files(&dir)?;
    if frames.is_empty() {
        bail!("{}: the video decoded to no frames", input.display());
    }
    Ok(frames.into_values().collect())
}

/// The clips of one input: Nf frames every `interval` (one clip of consecutive frames when the
/// input is shorter than a clip's span), with all-ones face masks (eq. 18 without masks).
pub fn input_clips(cfg: &Config, input: &Path, work: &Path) -> Result<Vec<Clip>> {
    let spec = cfg.clip_spec();
    let paths = frame_paths(input, work)?;
    let mut starts = clip_starts(paths.len(), &spec);
    if starts.is_empty() {
        if paths.len() < cfg.frames {
            bail!("{}: {} frames, the model needs at least {} (Nf)", input.display(), paths.len(), cfg.frames);
        }
        starts.push(0);
    }
    let step = if paths.len() > (cfg.frames - 1) * cfg.interval { cfg.interval } else { 1 };
    let mut clips = Vec::new();
    for (ci, &s0) in starts.iter().enumerate() {
        let idx = ClipIndex {
            video_id: input.display().to_string(),
            instrument: "unknown".into(),
            label: 0,
            frame_paths: (0..cfg.frames).map(|k| paths[s0 + k * step].clone()).collect(),
            depth_paths: vec![None; cfg.frames],
            mask_paths: vec![None; cfg.frames],
            anchors: vec![None; cfg.frames],
            video: None,
        };
        let mut clip =
            load::load_clip(&idx, &spec, None).with_context(|| format!("{}: reading clip {ci}", input.display()))?;
        clip.mask.iter_mut().for_each(|m| *m = 1.0);
        clips.push(clip);
    }
    Ok(clips)
}

/// A scratch folder for decoded videos, removed when dropped.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new(what: &str) -> WorkDir {
        WorkDir(std::env::temp_dir().join(format!("tdfas-{what}-{}", std::process::id())))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Scores each input, clip by clip (see `input_clips`), and averages the clips per input.
pub fn infer(gpu: &Gpu, model: &FasTd, inputs: &[PathBuf], depth_dir: Option<&Path>) -> Result<Vec<InputScore>> {
    let cfg = &model.cfg;
    let work = WorkDir::new("infer");
    let mut results = Vec::new();
    for input in inputs {
        let mut clip_scores = Vec::new();
        for (ci, clip) in input_clips(cfg, input, &work.0)?.iter().enumerate() {
            let batch = HostBatch::from_clips(cfg, std::slice::from_ref(clip))?;
            let scored = model.score(gpu, &batch)?;
            clip_scores.push(scored.scores[0]);
            if let Some(dir) = depth_dir {
                std::fs::create_dir_all(dir)?;
                let name = input.file_name().and_then(|n| n.to_str()).unwrap_or("input");
                let maps = if scored.d_multi[0].is_empty() { &scored.d_single[0] } else { &scored.d_multi[0] };
                for (t, map) in maps.iter().enumerate() {
                    let s = cfg.map_size();
                    let img = image::GrayImage::from_fn(s as u32, s as u32, |x, y| {
                        image::Luma([(map[y as usize * s + x as usize].clamp(0.0, 1.0) * 255.0) as u8])
                    });
                    let big = image::imageops::resize(
                        &img,
                        (s * 8) as u32,
                        (s * 8) as u32,
                        image::imageops::FilterType::Nearest,
                    );
                    let path = dir.join(format!("{name}_clip{ci}_t{t}.png"));
                    big.save(&path).with_context(|| format!("writing {}", path.display()))?;
                }
            }
        }
        let score = clip_scores.iter().sum::<f64>() / clip_scores.len() as f64;
        results.push(InputScore { input: input.clone(), clip_scores, score });
    }
    Ok(results)
}
