//! Inference on user input: folders of frames or videos (whole scenes from a phone or webcam, or
//! face crops), each turned into a verdict. The face is found per clip (`data::face`, the median
//! box of its frames), cropped as in training, scored (eq. 18), and the clip scores of an input
//! are averaged and compared with the threshold stored in the checkpoint (the training data's
//! dev EER) or given by the user. Videos are read through an FFmpeg pipe (`data::stream`): no
//! frame is written to disk, and memory holds the frames of the clips being gathered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::data::face::FaceSettings;
use crate::data::imageops::{Img, Rect};
use crate::data::load::FaceSource;
use crate::data::unlabelled::{self, close_cut_warning_for, FaceClip};
use crate::data::{imageops, video, ClipSpec};
use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::model::Config;
use crate::util::fs::check_regular;
use crate::util::text::{shown, shown_path};

/// Where a verdict's threshold came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Threshold {
    pub value: f64,
    /// e.g. "dev EER of runs/demo/data, protocol all" or "--threshold"
    pub source: String,
    /// set when the threshold is a stored one whose network told its dev split's live from
    /// attack no better than chance: the warning, which goes with every verdict it gives
    pub at_chance: Option<String>,
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
    /// the frames' short side when they are too small to hold a face
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_small: Option<usize>,
    /// the least share of a scored clip's face crop that is picture (below `CLOSE_CUT` the
    /// picture was cut close around the face: a warning)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crop_in_picture: Option<f32>,
}

impl FaceReport {
    /// Counts a scored clip's `crop_in_picture` into the least so far.
    fn note_crop_in_picture(&mut self, share: f32) {
        self.crop_in_picture = Some(self.crop_in_picture.map_or(share, |c| c.min(share)));
    }
}

/// The warning for a picture cut close around the face (`FaceReport::crop_in_picture` under
/// `CLOSE_CUT`), if it is one.
fn close_cut_warning(face: &FaceReport) -> Option<String> {
    face.crop_in_picture.and_then(close_cut_warning_for)
}

/// Whether every colour plane of a clip's frames (planes of `plane` values) is flat: no pixel
/// differs from the plane's first by one step of 255.
fn is_flat(frames: &[f32], plane: usize) -> bool {
    frames.chunks(plane.max(1)).all(|p| {
        let first = p[0];
        p.iter().all(|&v| (v - first).abs() < 1.0 / 128.0)
    })
}

/// What an input (or a clip of a stream) is judged to be, or why it is not judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    #[serde(rename = "live")]
    Live,
    #[serde(rename = "attack")]
    Attack,
    /// nothing to score: no face in any clip
    #[serde(rename = "no face")]
    NoFace,
    /// a score without a threshold to compare it with
    #[serde(rename = "no threshold")]
    NoThreshold,
    #[serde(rename = "error")]
    Error,
}

impl Verdict {
    /// Live when `score` reaches the threshold.
    pub fn of(score: f64, threshold: Option<&Threshold>) -> Verdict {
        match threshold {
            Some(t) if score >= t.value => Verdict::Live,
            Some(_) => Verdict::Attack,
            None => Verdict::NoThreshold,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Live => "live",
            Verdict::Attack => "attack",
            Verdict::NoFace => "no face",
            Verdict::NoThreshold => "no threshold",
            Verdict::Error => "error",
        })
    }
}

/// One input's result: a verdict, or the reason there is none.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InputScore {
    /// JSON has no bytes: a name that is not UTF-8 is written lossily (U+FFFD), never an error
    #[serde(serialize_with = "lossy_path")]
    pub input: PathBuf,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub threshold: Option<Threshold>,
    pub clip_scores: Vec<f64>,
    /// "multi-frame" (a clip's score, eq. 18) or "single-frame" (a photo, or a Model 1 checkpoint)
    pub network: &'static str,
    /// the frames (file names) each clip score used
    pub clip_frames: Vec<Vec<String>>,
    /// frames of the input, and those that no scored clip used (a clip takes Nf frames every
    /// interval; a run shorter than Nf frames is not scored)
    pub frames_total: usize,
    pub frames_unused: usize,
    pub face: FaceReport,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

impl InputScore {
    /// One tab-separated line for the terminal.
    pub fn line(&self) -> String {
        let mut s = format!("{}\t{}", shown_path(&self.input), self.verdict);
        if self.network == SINGLE_FRAME {
            s.push_str("\tsingle-frame");
        }
        match (self.score, &self.threshold) {
            (Some(score), Some(t)) => {
                let (sc, th) = crate::util::text::score_and_threshold(score, t.value);
                let at = if score == t.value { ", at the threshold" } else { "" };
                s.push_str(&format!("\tscore {sc}\tthreshold {th} ({}{at})", shown(&t.source)));
            }
            (Some(score), None) => s.push_str(&format!("\tscore {score:.4}")),
            (None, Some(t)) => s.push_str(&format!("\tthreshold {:.4} ({})", t.value, shown(&t.source))),
            (None, None) => {}
        }
        if !self.clip_scores.is_empty() {
            let clips = self.clip_scores.iter().map(|s| format!("{s:.4}")).collect::<Vec<_>>().join(" ");
            s.push_str(&format!("\tclips {} [{clips}]", self.clip_scores.len()));
        }
        if self.frames_unused > 0 {
            s.push_str(&format!("\tframes {} of {} used", self.frames_total - self.frames_unused, self.frames_total));
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
            s.push_str(&format!("\terror: {}", shown(e)));
        }
        s
    }
}

fn lossy_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

/// What scored an input: the whole model on clips, or the single-frame network on photos.
pub const MULTI_FRAME: &str = "multi-frame";
pub const SINGLE_FRAME: &str = "single-frame";

/// The networks and thresholds `infer` scores with: clips (videos and numbered frame folders)
/// with the checkpoint's model, photos with its single-frame network and that network's own
/// threshold (for a Model 1 checkpoint both are the same network).
pub struct Scorers<'a> {
    /// how faces are found in the inputs
    pub faces: &'a FaceSettings,
    pub clips: &'a FasTd,
    pub clip_threshold: Option<Threshold>,
    pub photos: &'a FasTd,
    pub photo_threshold: Option<Threshold>,
}

/// The photos an input stands for: an image file, or a folder of images none of which is named
/// as a frame (a folder with frames is a video); None for videos and frame folders.
pub fn photos_of(input: &Path) -> Result<Option<Vec<PathBuf>>> {
    if input.is_file() {
        return Ok(imageops::is_image_file(input).then(|| vec![input.to_path_buf()]));
    }
    if !input.is_dir() {
        return Ok(None);
    }
    let (frames, others) = folder_images(input)?;
    Ok((frames.is_empty() && !others.is_empty()).then_some(others))
}

/// A folder's image files: the frames by number (`imageops::frame_number`) and the other
/// pictures, sorted by name.
fn folder_images(dir: &Path) -> Result<(BTreeMap<u32, PathBuf>, Vec<PathBuf>)> {
    let (mut frames, mut others) = (BTreeMap::new(), Vec::new());
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = e.with_context(|| format!("listing {}", dir.display()))?.path();
        // a frame that is not a regular file (a FIFO, a folder) is refused by name when read
        let Some(n) = imageops::frame_number(&p) else {
            if p.is_file() && imageops::is_image_file(&p) {
                others.push(p);
            }
            continue;
        };
        // 0001.jpg beside 0001.png are two frames for one place: often two videos in one
        // folder, which must not be scored as one
        if let Some(other) = frames.insert(n, p.clone()) {
            let (a, b) = if other < p { (other, p) } else { (p, other) };
            bail!(
                "{}: two files for frame {n} ({} and {}): one frame per number, please (two videos in one folder?)",
                dir.display(),
                shown_path(Path::new(a.file_name().unwrap_or_default())),
                shown_path(Path::new(b.file_name().unwrap_or_default()))
            );
        }
    }
    others.sort();
    Ok((frames, others))
}

/// The warning for the pictures of a frame folder that are not frames (and so not scored),
/// leaving out a dataset's labels beside its frames (`0001_depth.png`, `0001_mask.png`).
fn pictures_left_out(dir: &Path) -> Option<String> {
    let (frames, others) = folder_images(dir).ok()?;
    let is_label = |p: &PathBuf| {
        let stem = p.file_stem().unwrap_or_default().to_string_lossy();
        ["_depth", "_mask"].iter().any(|l| stem.strip_suffix(l).is_some_and(|n| n.bytes().all(|c| c.is_ascii_digit())))
    };
    let names: Vec<String> =
        others.iter().filter(|p| !is_label(p)).map(|p| shown_path(Path::new(&file_name(p)))).collect();
    if frames.is_empty() || names.is_empty() {
        return None;
    }
    const SHOWN: usize = 5;
    let more = if names.len() > SHOWN { format!(" and {} more", names.len() - SHOWN) } else { String::new() };
    Some(format!(
        "{} picture(s) not named as frames (0001.png ...) left out: {}{more} (give them as files to score them as photos)",
        names.len(),
        names[..names.len().min(SHOWN)].join(", ")
    ))
}

/// Whether `path` holds `infer --json` output (JSON lines with an input and a verdict).
pub fn is_infer_json(path: &Path) -> bool {
    // every key a line of tdfas's has: a file of the user's with an `input` and a `verdict` (a
    // labelling, say) is not taken for one
    let keys = ["input", "verdict", "score", "threshold", "clip_scores", "network", "face", "warnings", "error"];
    crate::util::outputs::json_with_keys(path, &keys)
}

/// Where and how depth maps are written.
#[derive(Clone, Copy)]
pub struct DepthOutput<'a> {
    pub dir: &'a Path,
    /// replace files there that tdfas did not write
    pub overwrite: bool,
}

/// The frames of a folder in frame-number order, as runs of consecutive numbers (a clip never
/// spans a gap, as in training).
fn frame_runs(input: &Path) -> Result<Vec<Vec<PathBuf>>> {
    let (frames, _) = folder_images(input)?;
    if frames.is_empty() {
        bail!("{}: no frames named by their number (0001.png, 0002.png, ...) in this folder", input.display());
    }
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

/// One clip of an input: its frames and face, and the names of the frames it used (file names; for a video `NNNN.png`, its 1-based frame numbers as they were named when
/// videos were decoded to files).
pub type InputClip = (FaceClip, Vec<String>);

/// Called with each clip of an input and its number (clips can come out of order).
pub type EachClip<'a> = dyn FnMut(usize, InputClip) -> Result<()> + 'a;

/// Reads the clips of one input (a folder of frames, or a video read through an FFmpeg pipe),
/// at most `limit`, calling `each` with each; returns the input's frame count. Errors when the
/// input has fewer than Nf consecutive frames.
pub fn read_input_clips(
    cfg: &Config,
    faces: &FaceSettings,
    input: &Path,
    limit: Option<usize>,
    each: &mut EachClip,
) -> Result<usize> {
    if input.is_dir() {
        return folder_clips(cfg, faces, input, limit, each);
    }
    check_regular(input, "input", u64::MAX)?;
    video_clips(cfg, faces, input, limit, each)
}

/// A frame folder whose longest run of consecutive frame numbers is shorter than a clip.
fn too_few_frames(cfg: &Config, input: &Path, longest: usize) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: at most {longest} consecutive frames, the model needs at least {} in a row (Nf); photos are \
         scored one by one by the single-frame network (give the image files, or a folder of images not named \
         as frames 0001.png ...)",
        input.display(),
        cfg.frames
    )
}

/// A video file of fewer frames than a clip.
fn too_few_video_frames(cfg: &Config, input: &Path, n: usize) -> anyhow::Error {
    let gif = input.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    let hint = if gif {
        " (a GIF is read as a video: to score a still picture as a photo, convert it to PNG or JPEG first)"
    } else if n == 1 {
        " (a still picture is scored as a photo from a PNG, JPEG, WebP or BMP file)"
    } else {
        ""
    };
    anyhow::anyhow!(
        "{}: a video of {n} frame(s), the model needs at least {} (Nf) for a clip{hint}",
        input.display(),
        cfg.frames
    )
}

/// The clips of a folder of NNNN.png|jpg frames.
fn folder_clips(
    cfg: &Config,
    faces: &FaceSettings,
    input: &Path,
    limit: Option<usize>,
    each: &mut EachClip,
) -> Result<usize> {
    let spec = cfg.clip_spec();
    let runs = frame_runs(input)?;
    let mut ci = 0;
    for run in &runs {
        for (s0, step) in run_clips(run.len(), &spec) {
            if limit.is_some_and(|l| ci >= l) {
                break;
            }
            let frame_paths: Vec<PathBuf> = (0..cfg.frames).map(|k| run[s0 + k * step].clone()).collect();
            let clip = unlabelled::read(&spec, faces, &input.display().to_string(), &frame_paths)
                .with_context(|| format!("{}: reading clip {ci}", input.display()))?;
            let names = frame_paths.iter().map(|p| file_name(p)).collect();
            each(ci, (clip, names))?;
            ci += 1;
        }
    }
    if ci == 0 {
        return Err(too_few_frames(cfg, input, runs.iter().map(|r| r.len()).max().unwrap_or(0)));
    }
    Ok(runs.iter().map(Vec::len).sum())
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned())
}

/// A clip of a video to gather: its number, first frame and step (0-based frame positions).
type PlannedClip = (usize, usize, usize);

/// The clips of a video file, read through an FFmpeg pipe in bounded memory and no disk, cut and
/// cropped exactly as the same frames in a folder would be: a first pass counts the frames (the
/// clips of a short video depend on the count), the second gathers each clip's frames as they
/// arrive and searches `face::video_box_frames` on the way. A clip with no face in any frame
/// takes the video's box from those frames, as `face::video_box` does in a folder; such clips are
/// read again in a third pass, only when there are any.
fn video_clips(
    cfg: &Config,
    faces: &FaceSettings,
    input: &Path,
    limit: Option<usize>,
    each: &mut EachClip,
) -> Result<usize> {
    let spec = cfg.clip_spec();
    let (n, errors) =
        crate::data::stream::count_frames(input).with_context(|| format!("{}: decoding the video", input.display()))?;
    video::warn_decode_errors(input, &errors);
    if n == 0 {
        bail!("{}: the video decoded to no frames", input.display());
    }
    let mut plan: Vec<PlannedClip> =
        run_clips(n, &spec).into_iter().enumerate().map(|(ci, (s0, step))| (ci, s0, step)).collect();
    if plan.is_empty() {
        return Err(too_few_video_frames(cfg, input, n));
    }
    plan.truncate(limit.unwrap_or(usize::MAX));
    let detect = faces.detect;
    let names = |frames: &[usize]| frames.iter().map(|f| format!("{:04}.png", f + 1)).collect::<Vec<_>>();
    let samples: Vec<usize> = if detect { crate::data::face::video_box_frames(n).collect() } else { vec![] };
    let mut faceless = Vec::new();
    let searched = video_pass(input, n, cfg.frames, detect, &plan, &samples, &mut |ci, images, found, frames| {
        let small = images[0].w.min(images[0].h) < crate::data::face::MIN_SIDE;
        if detect && !small && found.iter().all(Option::is_none) {
            faceless.push(plan[ci]);
            return Ok(());
        }
        each(ci, (unlabelled::from_images(&spec, faces, &images, &found, None)?, names(&frames)))
    })?;
    if !faceless.is_empty() {
        video_pass(input, n, cfg.frames, detect, &faceless, &[], &mut |ci, images, found, frames| {
            // the median box of the searched frames of this size (another size is another video)
            let size = (images[0].w, images[0].h);
            let boxes: Vec<_> = searched.iter().map(|&(s, b)| if s == size { b } else { None }).collect();
            let video_box = crate::data::face::median_box(&boxes).rect;
            each(ci, (unlabelled::from_images(&spec, faces, &images, &found, video_box)?, names(&frames)))
        })?;
    }
    Ok(n)
}

/// Frames of one clip as gathered from a video: the images, the face found in each (None when
/// detection is off), their 0-based positions.
type Gathered<'a> = dyn FnMut(usize, Vec<Img>, Vec<Option<Rect>>, Vec<usize>) -> Result<()> + 'a;

/// A frame searched for the video's box: its size and the face found.
type Searched = ((usize, usize), Option<Rect>);

/// One pass over a video of `n` frames: gathers the `nf` frames of each planned clip (sorted by
/// first frame) and calls `each` with each as soon as it is complete, holding only the frames
/// of unfinished clips; searches the frames at `samples` for a face. Stops reading when nothing
/// more is wanted. Returns each sample's frame size and face.
fn video_pass(
    input: &Path,
    n: usize,
    nf: usize,
    detect: bool,
    plan: &[PlannedClip],
    samples: &[usize],
    each: &mut Gathered,
) -> Result<Vec<Searched>> {
    use crate::data::stream::{FrameStream, Source};
    // the count pass said FFmpeg's errors already
    let mut stream = FrameStream::open_with(&Source::File(input.to_path_buf()), false)?;
    let mut open: Vec<(PlannedClip, Vec<Img>, Vec<Option<Rect>>)> = Vec::new();
    let mut next = 0;
    let mut searched = Vec::with_capacity(samples.len());
    let wanted =
        |&(_, s0, step): &PlannedClip, f: usize| f >= s0 && (f - s0).is_multiple_of(step) && (f - s0) / step < nf;
    for f in 0..n {
        let last_sample = samples.last().is_none_or(|&s| f > s);
        if next == plan.len() && open.is_empty() && last_sample {
            return Ok(searched);
        }
        let Some(img) = stream.next_frame()? else {
            bail!("{}: ffmpeg gave {f} frames reading the video, {n} counting them", input.display());
        };
        while next < plan.len() && plan[next].1 == f {
            open.push((plan[next], Vec::with_capacity(nf), Vec::with_capacity(nf)));
            next += 1;
        }
        let is_sample = samples.binary_search(&f).is_ok();
        let in_clip = open.iter().any(|(c, ..)| wanted(c, f));
        let found = if detect && (is_sample || in_clip) { crate::data::face::detect(&img) } else { None };
        if is_sample {
            searched.push(((img.w, img.h), found));
        }
        for (c, images, faces) in open.iter_mut().filter(|(c, ..)| wanted(c, f)) {
            if let Some(first) = images.first() {
                if (img.w, img.h) != (first.w, first.h) {
                    bail!(
                        "{}: frame {} is {}x{}, but frame {} of clip {} is {}x{} (mixed frame sizes)",
                        input.display(),
                        f + 1,
                        img.w,
                        img.h,
                        c.1 + 1,
                        c.0,
                        first.w,
                        first.h
                    );
                }
            }
            images.push(img.clone());
            faces.push(found);
        }
        let mut k = 0;
        while k < open.len() {
            if open[k].1.len() == nf {
                let ((ci, s0, step), images, faces) = open.remove(k);
                let frames = (0..nf).map(|j| s0 + j * step).collect();
                each(ci, images, faces, frames).with_context(|| format!("{}: reading clip {ci}", input.display()))?;
            } else {
                k += 1;
            }
        }
    }
    if stream.next_frame()?.is_some() {
        bail!("{}: ffmpeg gave more than the {n} frames it counted", input.display());
    }
    stream.finish()?;
    Ok(searched)
}

/// The first clip of an input (what `tdfas dump` writes).
pub fn first_clip(cfg: &Config, faces: &FaceSettings, input: &Path) -> Result<FaceClip> {
    if input.is_file() && imageops::is_image_file(input) {
        bail!(
            "{}: a photo; dump writes the intermediates of a clip of {} frames: give a folder of frames \
             (0001.png, 0002.png, ...) or a video file (`tdfas infer` scores photos)",
            input.display(),
            cfg.frames
        );
    }
    let mut first = None;
    read_input_clips(cfg, faces, input, Some(1), &mut |_, (clip, _)| {
        first = Some(clip);
        Ok(())
    })?;
    first.ok_or_else(|| anyhow::anyhow!("{}: no clip read", input.display()))
}

/// Scores each input on its own: a bad input gives its own error and the others are still
/// scored. A photo (or each photo of a folder of photos) gets its own result.
pub fn infer(gpu: &Gpu, scorers: &Scorers, inputs: &[PathBuf], depth: Option<DepthOutput>) -> Vec<InputScore> {
    let names = depth_names(inputs);
    // one run never writes two items' maps under one name
    let mut used = std::collections::HashSet::new();
    let mut unique = |name: String| {
        let mut k = 1;
        let mut candidate = name.clone();
        while !used.insert(candidate.clone()) {
            k += 1;
            candidate = format!("{name}-{k}");
        }
        candidate
    };
    let mut results = Vec::new();
    for (input, name) in inputs.iter().zip(&names) {
        let photos = match photos_of(input) {
            Ok(p) => p,
            Err(e) => {
                let mut r = InputScore::new(input, scorers.clips, scorers.clip_threshold.clone());
                r.error = Some(format!("{e:#}"));
                results.push(r);
                continue;
            }
        };
        let Some(photos) = photos else {
            let mut r = InputScore::new(input, scorers.clips, scorers.clip_threshold.clone());
            let name = unique(name.clone());
            let mut scorer = ClipScorer::new(gpu, scorers.clips, scorers.faces, depth.map(|d| (d, name.as_str())));
            let scored = read_input_clips(&scorers.clips.cfg, scorers.faces, input, None, &mut |ci, clip| {
                scorer.add(ci, clip, &mut r)
            })
            .map(|total| scorer.finish(total, &mut r));
            if let Err(e) = scored {
                r.error = Some(format!("{e:#}"));
                r.verdict = Verdict::Error;
            }
            if input.is_dir() {
                r.warnings.extend(pictures_left_out(input));
            }
            results.push(r);
            continue;
        };
        for photo in photos {
            let mut r = InputScore::new(&photo, scorers.photos, scorers.photo_threshold.clone());
            r.network = SINGLE_FRAME;
            // a folder's photo is named after the folder too: d1/face.jpg and d2/face.jpg are two
            let photo_name =
                unique(if input.is_dir() { format!("{name}_{}", file_name(&photo)) } else { name.clone() });
            // the single-frame network scores each frame alone: the clip's Nf frames are views of
            // the photo (`unlabelled::PHOTO_VIEWS`) and its score their mean
            let cfg = &scorers.photos.cfg;
            let mut scorer =
                ClipScorer::new(gpu, scorers.photos, scorers.faces, depth.map(|d| (d, photo_name.as_str())));
            let scored = unlabelled::read_photo(
                &cfg.clip_spec(),
                scorers.faces,
                &photo.display().to_string(),
                &photo,
                cfg.frames,
            )
            .and_then(|clip| scorer.add(0, (clip, vec![file_name(&photo)]), &mut r))
            .map(|()| scorer.finish(1, &mut r));
            // the views are of one frame
            r.face.frames = r.face.frames.min(1);
            r.face.frames_without_face = r.face.frames_without_face.min(1);
            if let Err(e) = scored {
                r.error = Some(format!("{e:#}"));
                r.verdict = Verdict::Error;
            }
            if r.threshold.is_none() && r.error.is_none() {
                r.warnings.push(
                    "the checkpoint stores no single-frame threshold (trained before tdfas stored one): pass --threshold".into(),
                );
            }
            results.push(r);
        }
    }
    results
}

impl InputScore {
    fn new(input: &Path, model: &FasTd, threshold: Option<Threshold>) -> InputScore {
        let single = model.cfg.variant().single_only;
        InputScore {
            input: input.to_path_buf(),
            verdict: Verdict::Error,
            score: None,
            threshold,
            clip_scores: vec![],
            network: if single { SINGLE_FRAME } else { MULTI_FRAME },
            clip_frames: vec![],
            frames_total: 0,
            frames_unused: 0,
            face: FaceReport::default(),
            warnings: vec![],
            error: None,
        }
    }
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

/// Scores the clips of one input into its result as they are read (in any order: each clip's
/// number places it), then sums up.
struct ClipScorer<'a> {
    gpu: &'a Gpu,
    model: &'a FasTd,
    faces: &'a FaceSettings,
    depth: Option<(DepthOutput<'a>, &'a str)>,
    boxes: Vec<Option<Rect>>,
    small_frames: Option<usize>,
    flat_clips: usize,
    /// clip number -> its score and frame names
    scored: std::collections::BTreeMap<usize, (f64, Vec<String>)>,
}

impl<'a> ClipScorer<'a> {
    fn new(
        gpu: &'a Gpu,
        model: &'a FasTd,
        faces: &'a FaceSettings,
        depth: Option<(DepthOutput<'a>, &'a str)>,
    ) -> ClipScorer<'a> {
        ClipScorer {
            gpu,
            model,
            faces,
            depth,
            boxes: vec![],
            small_frames: None,
            flat_clips: 0,
            scored: Default::default(),
        }
    }

    /// Clip `ci` of the input: its face counted into `r`, scored unless it has no face.
    fn add(&mut self, ci: usize, (clip, frames): InputClip, r: &mut InputScore) -> Result<()> {
        let cfg = &self.model.cfg;
        match clip.face {
            FaceSource::Detector { box_, missed, frames } => {
                r.face.source = "detector".into();
                r.face.frames += frames;
                r.face.frames_without_face += missed;
                self.boxes.push(Some(box_));
            }
            FaceSource::FullFrame { frames } => {
                r.face.frames += frames;
                if self.faces.detect {
                    // never scored silently: a clip with no face in any frame is left out
                    r.face.frames_without_face += frames;
                    r.face.clips_without_face += 1;
                    return Ok(());
                }
                r.face.source = "full frame (--no-detect)".into();
            }
            FaceSource::SmallFrames { frames, side } => {
                r.face.frames += frames;
                if side < crate::data::face::MIN_FACE as usize {
                    // no face fits: a verdict would be a guess about a few pixels
                    r.face.frames_without_face += frames;
                    r.face.clips_without_face += 1;
                    r.face.too_small = Some(side);
                    return Ok(());
                }
                r.face.source = "frames taken as face crops (too small to search)".into();
                self.small_frames = Some(side);
            }
            FaceSource::Dataset => r.face.source = "dataset".into(),
        }
        if is_flat(&clip.frames, cfg.image_size * cfg.image_size) {
            self.flat_clips += 1;
        }
        r.face.note_crop_in_picture(clip.crop_in_picture);
        let batch = HostBatch::unlabelled(cfg, &clip)?;
        let scored = self.model.score(self.gpu, &batch)?;
        if let Some((out, name)) = self.depth {
            write_depth_maps(out, name, ci, cfg, &scored)?;
        }
        self.scored.insert(ci, (scored.scores[0], frames));
        Ok(())
    }

    /// The input's score (the mean of its clips' in clip order), verdict and warnings, for an
    /// input of `total` frames.
    fn finish(self, total: usize, r: &mut InputScore) {
        let used: std::collections::BTreeSet<&String> = self.scored.values().flat_map(|(_, f)| f).collect();
        r.frames_total = total;
        if !self.scored.is_empty() {
            r.frames_unused = total.saturating_sub(used.len());
        }
        for (score, frames) in self.scored.values() {
            r.clip_scores.push(*score);
            r.clip_frames.push(frames.clone());
        }
        let found = crate::data::face::median_box(&self.boxes);
        r.face.face_box = found.rect.map(|b| [b.x, b.y, b.w, b.h]);
        if r.clip_scores.is_empty() {
            r.face.source = "none found".into();
            r.verdict = Verdict::NoFace;
            r.warnings.push(match r.face.too_small {
                Some(side) => format!(
                    "the frames are {side} pixels on their short side, too small to hold a face ({} at least): nothing scored",
                    crate::data::face::MIN_FACE
                ),
                None if r.network == SINGLE_FRAME && total == 1 => {
                    "no face found in the photo: nothing scored (--no-detect scores the whole photo)".to_string()
                }
                None => format!(
                    "no face found in {} of {} frames: nothing scored (--no-detect scores whole frames)",
                    r.face.frames_without_face, r.face.frames
                ),
            });
            return;
        }
        if let Some(side) = self.small_frames {
            r.warnings.push(format!(
                "the frames are {side} pixels on their short side, too small to search for a face: scored as face crops"
            ));
        }
        if self.flat_clips > 0 {
            r.warnings.push(format!(
                "{} of {} scored clip(s) show one flat colour: there is no face in them to judge",
                self.flat_clips,
                r.clip_scores.len()
            ));
        }
        if r.face.clips_without_face > 0 {
            r.warnings.push(format!("{} clip(s) without a face left out", r.face.clips_without_face));
        }
        r.warnings.extend(close_cut_warning(&r.face));
        let score = r.clip_scores.iter().sum::<f64>() / r.clip_scores.len() as f64;
        r.score = Some(score);
        r.verdict = Verdict::of(score, r.threshold.as_ref());
    }
}

/// The depth maps of one clip, one PNG per map and time step on the shared 0..1 colour scale
/// with a colour bar, named after the input, the clip and the map: `d_fusion` (what the score
/// uses), `d_multi` and `d_single` (Model 1 has `d_single` only, which its score uses).
fn write_depth_maps(
    out: DepthOutput,
    name: &str,
    ci: usize,
    cfg: &Config,
    scored: &crate::model::fastd::Scored,
) -> Result<()> {
    let dir = out.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating the depth folder {}", dir.display()))?;
    for (kind, maps) in
        [("d_fusion", &scored.d_fusion[0]), ("d_multi", &scored.d_multi[0]), ("d_single", &scored.d_single[0])]
    {
        for (t, map) in maps.iter().enumerate() {
            let path = dir.join(format!("{name}_clip{ci}_{kind}_t{t}.png"));
            crate::util::outputs::refuse_foreign(
                "--depth-dir",
                &path,
                crate::util::outputs::png_by_tdfas,
                out.overwrite,
            )?;
            crate::eval::report::write_depth_png(&path, map, cfg.map_size(), &format!("{kind} clip{ci} t{t}"))?;
        }
    }
    Ok(())
}

/// One clip of a stream, scored as it arrived.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamClip {
    #[serde(serialize_with = "lossy_path")]
    pub input: PathBuf,
    /// 0-based clip number in the stream
    pub clip: usize,
    /// the stream's frame numbers (1-based) the clip used
    pub frames: Vec<usize>,
    pub verdict: Verdict,
    pub score: Option<f64>,
    /// from the clip's last frame arriving to its score
    pub latency_ms: f64,
    pub face: String,
}

impl StreamClip {
    pub fn line(&self) -> String {
        let score = self.score.map_or("no face".to_string(), |s| format!("score {s:.4}"));
        format!(
            "{}\tclip {}\tframes {}-{}\t{}\t{}\tface {}\t{:.1} ms",
            shown_path(&self.input),
            self.clip,
            self.frames.first().copied().unwrap_or(0),
            self.frames.last().copied().unwrap_or(0),
            self.verdict,
            score,
            self.face,
            self.latency_ms
        )
    }
}

/// Scores a stream clip by clip as its frames arrive (Nf frames every `interval`, clips one
/// after another), calling `each` with every clip; holds only the current clip's frames. Stops at
/// the end of the stream or when `stop` is set (Ctrl-C), and returns the summary of all clips as
/// one result (the mean clip score against the threshold, as for a file).
pub fn score_stream(
    gpu: &Gpu,
    model: &FasTd,
    faces: &FaceSettings,
    threshold: Option<Threshold>,
    source: &crate::data::stream::Source,
    stop: &std::sync::atomic::AtomicBool,
    each: &mut dyn FnMut(&StreamClip) -> Result<()>,
) -> InputScore {
    let mut r = InputScore::new(&source.name(), model, threshold);
    if let Err(e) = stream_clips(gpu, model, faces, source, stop, &mut r, each) {
        r.error = Some(format!("{e:#}"));
        r.verdict = Verdict::Error;
    }
    r
}

fn stream_clips(
    gpu: &Gpu,
    model: &FasTd,
    faces: &FaceSettings,
    source: &crate::data::stream::Source,
    stop: &std::sync::atomic::AtomicBool,
    r: &mut InputScore,
    each: &mut dyn FnMut(&StreamClip) -> Result<()>,
) -> Result<()> {
    let cfg = &model.cfg;
    let spec = cfg.clip_spec();
    let span = spec.span();
    let mut stream = crate::data::stream::FrameStream::open(source)?;
    let (mut images, mut detections, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
    let mut boxes = Vec::new();
    let detect = faces.detect;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Some(img) = stream.next_frame()? else { break };
        let pos = (stream.frames - 1) % span;
        if !pos.is_multiple_of(spec.interval) || pos / spec.interval >= cfg.frames {
            continue;
        }
        let small = img.w.min(img.h) < crate::data::face::MIN_SIDE;
        detections.push(if detect && !small { crate::data::face::detect(&img) } else { None });
        images.push(img);
        numbers.push(stream.frames);
        if images.len() < cfg.frames {
            continue;
        }
        let arrived = std::time::Instant::now();
        let clip = unlabelled::from_images(&spec, faces, &images, &detections, None)?;
        let mut c = StreamClip {
            input: source.name(),
            clip: r.clip_frames.len() + r.face.clips_without_face,
            frames: std::mem::take(&mut numbers),
            verdict: Verdict::NoFace,
            score: None,
            latency_ms: 0.0,
            face: "none found".into(),
        };
        let scored = match clip.face {
            FaceSource::Detector { box_, missed, frames } => {
                r.face.frames += frames;
                r.face.frames_without_face += missed;
                boxes.push(Some(box_));
                c.face = format!("{:.0},{:.0} {:.0}x{:.0}", box_.x, box_.y, box_.w, box_.h);
                true
            }
            FaceSource::FullFrame { frames } | FaceSource::SmallFrames { frames, .. } => {
                r.face.frames += frames;
                if detect {
                    r.face.frames_without_face += frames;
                    r.face.clips_without_face += 1;
                    false
                } else {
                    c.face = "full frame (--no-detect)".into();
                    true
                }
            }
            FaceSource::Dataset => true,
        };
        if scored {
            r.face.note_crop_in_picture(clip.crop_in_picture);
            let batch = HostBatch::unlabelled(cfg, &clip)?;
            let score = model.score(gpu, &batch)?.scores[0];
            r.clip_scores.push(score);
            r.clip_frames.push(c.frames.iter().map(|n| format!("{n:04}")).collect());
            c.score = Some(score);
            c.verdict = Verdict::of(score, r.threshold.as_ref());
        }
        c.latency_ms = arrived.elapsed().as_secs_f64() * 1e3;
        each(&c)?;
        images.clear();
        detections.clear();
    }
    let total = stream.frames;
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        drop(stream); // stops ffmpeg, which would otherwise wait for more input
    } else {
        stream.finish()?;
    }
    r.frames_total = total;
    r.frames_unused = total - r.clip_frames.iter().map(Vec::len).sum::<usize>();
    r.face.face_box = crate::data::face::median_box(&boxes).rect.map(|b| [b.x, b.y, b.w, b.h]);
    r.face.source = if boxes.is_empty() { "none found".into() } else { "detector".into() };
    if !detect {
        r.face.source = "full frame (--no-detect)".into();
    }
    if r.clip_scores.is_empty() {
        r.verdict = Verdict::NoFace;
        r.warnings.push(format!(
            "no clip scored: {total} frames, {} clip(s) without a face (a clip needs {} frames every {})",
            r.face.clips_without_face, cfg.frames, cfg.interval
        ));
        return Ok(());
    }
    r.warnings.extend(close_cut_warning(&r.face));
    let score = r.clip_scores.iter().sum::<f64>() / r.clip_scores.len() as f64;
    r.score = Some(score);
    r.verdict = Verdict::of(score, r.threshold.as_ref());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_read_as_before_in_json_and_lines() {
        let t = Threshold { value: 0.5, source: "x".into(), at_chance: None };
        assert_eq!(Verdict::of(0.5, Some(&t)), Verdict::Live);
        assert_eq!(Verdict::of(0.49, Some(&t)), Verdict::Attack);
        assert_eq!(Verdict::of(0.9, None), Verdict::NoThreshold);
        for (v, text) in [
            (Verdict::Live, "live"),
            (Verdict::Attack, "attack"),
            (Verdict::NoFace, "no face"),
            (Verdict::NoThreshold, "no threshold"),
            (Verdict::Error, "error"),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{text}\""));
            assert_eq!(v.to_string(), text);
        }
    }
}
