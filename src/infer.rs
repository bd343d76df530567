//! Inference on user input: folders of frames or videos (whole scenes from a phone or webcam, or
//! face crops), each turned into a verdict. The face is found per clip (`data::face`, the median
//! box of its frames), cropped as in training, scored (eq. 18), and the clip scores of an input
//! are averaged and compared with the threshold stored in the checkpoint (the training data's
//! dev EER) or given by the user.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::data::imageops::Rect;
use crate::data::load::{load_clip_with_face, FaceSource};
use crate::data::{generic, video, Clip, ClipIndex, ClipSpec};
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::Config;

/// Where a verdict's threshold came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Threshold {
    pub value: f64,
    /// e.g. "dev EER of runs/demo/data, protocol all" or "--threshold"
    pub source: String,
}

/// How the face was found in one input.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct FaceReport {
    /// "detector", "full frame (--no-detect)" or "none found"
    pub source: String,
    /// the median box over the scored clips (x, y, w, h in the frame's pixels)
    pub face_box: Option<[f32; 4]>,
    pub frames: usize,
    pub frames_without_face: usize,
    /// clips left unscored because no frame of theirs showed a face
    pub clips_without_face: usize,
}

/// One input's result: a verdict, or the reason there is none.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InputScore {
    pub input: PathBuf,
    /// "live", "attack", "no face" (nothing to score), "no threshold" or "error"
    pub verdict: String,
    pub score: Option<f64>,
    pub threshold: Option<Threshold>,
    pub clip_scores: Vec<f64>,
    pub face: FaceReport,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

impl InputScore {
    /// One tab-separated line for the terminal.
    pub fn line(&self) -> String {
        let mut s = format!("{}\t{}", self.input.display(), self.verdict);
        if let Some(score) = self.score {
            s.push_str(&format!("\tscore {score:.4}"));
        }
        if let Some(t) = &self.threshold {
            s.push_str(&format!("\tthreshold {:.4} ({})", t.value, t.source));
        }
        if !self.clip_scores.is_empty() {
            let clips = self.clip_scores.iter().map(|s| format!("{s:.4}")).collect::<Vec<_>>().join(" ");
            s.push_str(&format!("\tclips {} [{clips}]", self.clip_scores.len()));
        }
        if self.face.frames > 0 {
            s.push_str(&format!("\tface {}", self.face.source));
            if let Some(b) = self.face.face_box {
                s.push_str(&format!(" {:.0},{:.0} {:.0}x{:.0}", b[0], b[1], b[2], b[3]));
            }
            if self.face.frames_without_face > 0 {
                s.push_str(&format!(
                    " (no face found in {} of {} frames)",
                    self.face.frames_without_face, self.face.frames
                ));
            }
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("\terror: {e}"));
        }
        s
    }
}

/// The frames of an input in frame-number order, as runs of consecutive numbers (a clip never
/// spans a gap, as in training): a folder of NNNN.png|jpg, or a video decoded with FFmpeg.
fn frame_runs(input: &Path, work: &Path) -> Result<Vec<Vec<PathBuf>>> {
    let frames = if input.is_dir() {
        let frames = generic::frame_files(input).with_context(|| format!("{}: listing frames", input.display()))?;
        if frames.is_empty() {
            bail!("{}: no frames named NNNN.png or NNNN.jpg in this folder", input.display());
        }
        frames
    } else {
        if !input.exists() {
            bail!("{}: no such file or folder", input.display());
        }
        // one scratch folder per input (two inputs may share a file name)
        let n = std::fs::read_dir(work).map(|d| d.count()).unwrap_or(0);
        let dir = work.join(format!("{n:04}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        video::decode(input, &dir).with_context(|| format!("{}: decoding the video", input.display()))?;
        let frames = generic::frame_files(&dir)?;
        if frames.is_empty() {
            bail!("{}: the video decoded to no frames", input.display());
        }
        frames
    };
    let mut runs: Vec<Vec<PathBuf>> = Vec::new();
    let mut last = None;
    for (n, p) in frames {
        match (runs.last_mut(), last) {
            (Some(run), Some(prev)) if n == prev + 1 => run.push(p),
            _ => runs.push(vec![p]),
        }
        last = Some(n);
    }
    Ok(runs)
}

/// Start positions of the clips in a run of `n` consecutive frames: Nf frames every
/// `interval`, non-overlapping; one clip of consecutive frames when the run is shorter than a
/// clip's span but has Nf frames.
fn run_clips(n: usize, spec: &ClipSpec) -> Vec<(usize, usize)> {
    let starts = crate::data::clip_starts(n, spec);
    if !starts.is_empty() {
        return starts.into_iter().map(|s| (s, spec.interval)).collect();
    }
    if n >= spec.frames {
        return vec![(0, 1)];
    }
    vec![]
}

/// The clips of one input with where their face boxes came from. Errors when the input has fewer than Nf consecutive frames.
pub fn input_clips_with_faces(cfg: &Config, input: &Path, work: &Path) -> Result<Vec<(Clip, FaceSource)>> {
    let spec = cfg.clip_spec();
    let runs = frame_runs(input, work)?;
    let mut clips = Vec::new();
    for run in &runs {
        for (s0, step) in run_clips(run.len(), &spec) {
            let idx = ClipIndex {
                video_id: input.display().to_string(),
                instrument: "unknown".into(),
                label: 0,
                frame_paths: (0..cfg.frames).map(|k| run[s0 + k * step].clone()).collect(),
                depth_paths: vec![None; cfg.frames],
                mask_paths: vec![None; cfg.frames],
                anchors: vec![None; cfg.frames],
                video: None,
            };
            // The face mask for eq. 18 is rendered from the face box, as for datasets without
            // masks: the dev threshold stored with a model was fixed on masked scores too.
            let (clip, face) = load_clip_with_face(&idx, &spec, None)
                .with_context(|| format!("{}: reading clip {}", input.display(), clips.len()))?;
            clips.push((clip, face));
        }
    }
    if clips.is_empty() {
        let longest = runs.iter().map(|r| r.len()).max().unwrap_or(0);
        bail!(
            "{}: at most {longest} consecutive frames, the model needs at least {} (Nf)",
            input.display(),
            cfg.frames
        );
    }
    Ok(clips)
}

/// The clips of one input (see `input_clips_with_faces`).
pub fn input_clips(cfg: &Config, input: &Path, work: &Path) -> Result<Vec<Clip>> {
    Ok(input_clips_with_faces(cfg, input, work)?.into_iter().map(|(c, _)| c).collect())
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

/// Scores each input on its own: a bad input gives its own error and the others are still scored.
pub fn infer(
    gpu: &Gpu,
    model: &FasTd,
    inputs: &[PathBuf],
    threshold: Option<Threshold>,
    depth_dir: Option<&Path>,
) -> Vec<InputScore> {
    let work = WorkDir::new("infer");
    let _ = std::fs::create_dir_all(&work.0);
    let names = depth_names(inputs);
    inputs
        .iter()
        .zip(&names)
        .map(|(input, name)| {
            let mut r = InputScore {
                input: input.clone(),
                verdict: "error".into(),
                score: None,
                threshold: threshold.clone(),
                clip_scores: vec![],
                face: FaceReport::default(),
                warnings: vec![],
                error: None,
            };
            if let Err(e) = score_input(gpu, model, input, &work.0, depth_dir.map(|d| (d, name.as_str())), &mut r) {
                r.error = Some(format!("{e:#}"));
                r.verdict = "error".into();
            }
            r
        })
        .collect()
}

/// File-name stems for the depth maps: the input's name, numbered when two inputs share it.
fn depth_names(inputs: &[PathBuf]) -> Vec<String> {
    let stem = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into());
    inputs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = stem(p);
            if inputs.iter().filter(|q| stem(q) == s).count() > 1 {
                format!("{i:02}_{s}")
            } else {
                s
            }
        })
        .collect()
}

fn score_input(
    gpu: &Gpu,
    model: &FasTd,
    input: &Path,
    work: &Path,
    depth: Option<(&Path, &str)>,
    r: &mut InputScore,
) -> Result<()> {
    let cfg = &model.cfg;
    let clips = input_clips_with_faces(cfg, input, work)?;
    let mut boxes: Vec<Option<Rect>> = vec![];
    for (ci, (clip, face)) in clips.iter().enumerate() {
        match *face {
            FaceSource::Detector { box_, missed, frames } => {
                r.face.source = "detector".into();
                r.face.frames += frames;
                r.face.frames_without_face += missed;
                boxes.push(Some(box_));
            }
            FaceSource::FullFrame { frames } => {
                r.face.frames += frames;
                if crate::data::face::detection_enabled() {
                    // never scored silently: a clip with no face in any frame is left out
                    r.face.frames_without_face += frames;
                    r.face.clips_without_face += 1;
                    continue;
                }
                r.face.source = "full frame (--no-detect)".into();
            }
            FaceSource::SmallFrames { frames } => {
                r.face.frames += frames;
                r.face.source = "frames taken as face crops (too small to search)".into();
            }
            FaceSource::Dataset => r.face.source = "dataset".into(),
        }
        let batch = HostBatch::from_clips(cfg, std::slice::from_ref(clip))?;
        let scored = model.score(gpu, &batch)?;
        r.clip_scores.push(scored.scores[0]);
        if let Some((dir, name)) = depth {
            write_depth_maps(dir, name, ci, cfg, &scored)?;
        }
    }
    let found = crate::data::face::median_box(&boxes);
    r.face.face_box = found.rect.map(|b| [b.x, b.y, b.w, b.h]);
    if r.clip_scores.is_empty() {
        r.face.source = "none found".into();
        r.verdict = "no face".into();
        r.warnings.push(format!(
            "no face found in {} of {} frames: nothing scored (--no-detect scores whole frames)",
            r.face.frames_without_face, r.face.frames
        ));
        return Ok(());
    }
    if r.face.clips_without_face > 0 {
        r.warnings.push(format!("{} clip(s) without a face left out", r.face.clips_without_face));
    }
    let score = r.clip_scores.iter().sum::<f64>() / r.clip_scores.len() as f64;
    r.score = Some(score);
    r.verdict = match &r.threshold {
        Some(t) if score >= t.value => "live".into(),
        Some(_) => "attack".into(),
        None => "no threshold".into(),
    };
    Ok(())
}

/// The depth map the score uses (D_fusion for the multi-frame model, D_single for Model 1),
/// one PNG per time step, named after the input, the clip and the map.
fn write_depth_maps(
    dir: &Path,
    name: &str,
    ci: usize,
    cfg: &Config,
    scored: &crate::model::fastd::Scored,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the depth folder {}", dir.display()))?;
    let (kind, maps) = if scored.d_fusion[0].is_empty() {
        ("d_single", &scored.d_single[0])
    } else {
        ("d_fusion", &scored.d_fusion[0])
    };
    for (t, map) in maps.iter().enumerate() {
        let s = cfg.map_size();
        let img = image::GrayImage::from_fn(s as u32, s as u32, |x, y| {
            image::Luma([(map[y as usize * s + x as usize].clamp(0.0, 1.0) * 255.0) as u8])
        });
        let big = image::imageops::resize(&img, (s * 8) as u32, (s * 8) as u32, image::imageops::FilterType::Nearest);
        let path = dir.join(format!("{name}_clip{ci}_{kind}_t{t}.png"));
        big.save(&path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
