//! Face detection for frames that come without a face box (whole-scene video from a phone or
//! webcam): the SeetaFace frontal cascade (the `rustface` crate, BSD-2; its model file ships in
//! `assets/`), one box per clip as the median of the per-frame boxes so the crop does not jitter.
//!
//! Box sources, in order (see `load::load_clip`): the dataset's own boxes or eye positions, then
//! this detector, then the full frame with a counted warning.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::imageops::{Img, Rect};

/// The SeetaFace frontal model (rustface 0.1.7's `model/seeta_fd_frontal_v1.0.bin`).
static MODEL_BYTES: &[u8] = include_bytes!("../../assets/seeta_fd_frontal_v1.0.bin");

/// SeetaFace boxes are squares from the brows to the chin; dataset boxes follow the face mesh's
/// bounding box (forehead to chin, as `FaceAnchor::face_box` gives for eye positions), whose
/// longer side is what the crop uses. Detector boxes are scaled about their centre by
/// `DETECTOR_SCALE` and moved down by `DETECTOR_SHIFT_DOWN` of their side, so a detected box and
/// a dataset box of the same face give the same crop. Measured with
/// `cargo run --release --example detection_rate` on the synthetic whole-scene benchmark
/// (432 frames, small preset, seed 1): true longer side / detector side 1.233, true centre
/// 0.073 of the detector side below the detector's centre.
pub const DETECTOR_SCALE: f32 = 1.23;
pub const DETECTOR_SHIFT_DOWN: f32 = 0.073;

/// Smallest face side the cascade looks for, in pixels (its window is 40 px; smaller faces are
/// found by upsampling the frame first).
pub const MIN_FACE: u32 = 20;

/// Frames smaller than this on either side are not searched (the cascade needs its window).
pub const MIN_SIDE: usize = 24;

fn model() -> Option<&'static rustface::Model> {
    static M: OnceLock<Option<rustface::Model>> = OnceLock::new();
    M.get_or_init(|| rustface::read_model(std::io::Cursor::new(MODEL_BYTES)).ok()).as_ref()
}

/// The largest face found in an RGB (or grey) image with values 0..255, as a box in the image's
/// pixel coordinates, calibrated to the dataset-box convention. None when no face is found.
pub fn detect(img: &Img) -> Option<Rect> {
    detect_in(img).or_else(|| detect_in_crop(img))
}

/// A face crop (the face filling the picture, as face datasets and ID photos store them)
/// leaves the cascade no room around the face: look again with a border of the picture's own
/// edge pixels, `CROP_BORDER` of its side on every side, and map the box back.
fn detect_in_crop(img: &Img) -> Option<Rect> {
    let pad = (CROP_BORDER * img.w.max(img.h) as f32).round() as usize;
    let (w, h) = (img.w + 2 * pad, img.h + 2 * pad);
    let mut big = Img::new(w, h, img.c);
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = (x.saturating_sub(pad).min(img.w - 1), y.saturating_sub(pad).min(img.h - 1));
            for ch in 0..img.c {
                big.set(x, y, ch, img.at(sx, sy, ch));
            }
        }
    }
    let r = detect_in(&big)?;
    // A face found mostly in the border is the border's echo, not a face of the picture.
    let found = Rect { x: r.x - pad as f32, y: r.y - pad as f32, ..r };
    let (cx, cy) = (found.x + found.w / 2.0, found.y + found.h / 2.0);
    ((0.0..img.w as f32).contains(&cx) && (0.0..img.h as f32).contains(&cy)).then_some(found)
}

/// The border `detect_in_crop` adds, as a fraction of the picture's longer side.
const CROP_BORDER: f32 = 0.4;

/// `detect` without the face-crop retry.
fn detect_in(img: &Img) -> Option<Rect> {
    if img.w < MIN_SIDE || img.h < MIN_SIDE {
        return None;
    }
    // Small frames: upsample so a face of MIN_FACE px reaches the cascade's 40 px window.
    let up = if img.w.min(img.h) < 160 { 2usize } else { 1 };
    let (w, h) = (img.w * up, img.h * up);
    let mut gray = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = (x / up, y / up);
            let v = if img.c >= 3 {
                0.299 * img.at(sx, sy, 0) + 0.587 * img.at(sx, sy, 1) + 0.114 * img.at(sx, sy, 2)
            } else {
                img.at(sx, sy, 0)
            };
            gray[y * w + x] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    // A light blur first: halftone dots and screen moire break the cascade's features (LAB
    // patterns) far more than they change the face; it costs nothing on live faces.
    // Measured (detection_rate example): frames with a face found 81.0% -> 87.4%, prints'
    // clips 79% -> 88%, live unchanged at 98%; radius 2 gains nothing more.
    let gray = box_blur(&gray, w, h, 1);
    let model = model()?.clone();
    // rustface panics on images it cannot search; never let that take the program down.
    let faces = std::panic::catch_unwind(move || {
        let mut d = rustface::create_detector_with_model(model);
        d.set_min_face_size(MIN_FACE * up as u32);
        // 0.5 rather than rustface's 2.0: halftone prints and replays with moire are found in 72%
        // of frames instead of 57% (live 98%), with the same box accuracy (detection_rate example)
        d.set_score_thresh(0.5);
        d.set_pyramid_scale_factor(0.8);
        d.set_slide_window_step(4, 4);
        d.detect(&rustface::ImageData::new(&gray, w as u32, h as u32))
    })
    .ok()?;
    // the most confident face: a low threshold admits weak false hits, rarely strong ones
    let best = faces.iter().max_by(|a, b| a.score().total_cmp(&b.score()))?;
    let b = best.bbox();
    let s = up as f32;
    let raw = Rect { x: b.x() as f32 / s, y: b.y() as f32 / s, w: b.width() as f32 / s, h: b.height() as f32 / s };
    Some(calibrate(raw))
}

/// Box blur of a grey image (separable, edges clamped); radius 0 returns it unchanged.
fn box_blur(src: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    if r == 0 {
        return src.to_vec();
    }
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0u32;
                for d in 0..=2 * r {
                    let (sx, sy) = if horizontal {
                        ((x + d).saturating_sub(r).min(w - 1), y)
                    } else {
                        (x, (y + d).saturating_sub(r).min(h - 1))
                    };
                    sum += src[sy * w + sx] as u32;
                }
                out[y * w + x] = (sum / (2 * r as u32 + 1)) as u8;
            }
        }
        out
    };
    pass(&pass(src, true), false)
}

/// Detector box -> dataset-box convention (see DETECTOR_SCALE).
pub fn calibrate(r: Rect) -> Rect {
    let (cx, cy) = (r.x + r.w / 2.0, r.y + r.h / 2.0 + DETECTOR_SHIFT_DOWN * r.h);
    let (w, h) = (r.w * DETECTOR_SCALE, r.h * DETECTOR_SCALE);
    Rect { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
}

/// Per-frame detections are cached by file (path, size, mtime): training reads each clip
/// many times.
/// (path, size, mtime in ns) -> the detection
type DetectionCache = Mutex<HashMap<(PathBuf, u64, u128), Option<Rect>>>;

fn cache() -> &'static DetectionCache {
    static C: OnceLock<DetectionCache> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

fn file_key(path: &Path) -> Option<(PathBuf, u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    Some((path.to_path_buf(), m.len(), mtime))
}

/// The cached detection of the frame at `path`, if it was searched already (without reading it).
pub fn cached_detection(path: &Path) -> Option<Option<Rect>> {
    let k = file_key(path)?;
    cache().lock().ok().and_then(|c| c.get(&k).copied())
}

/// `detect` on a frame read from `path`, cached.
pub fn detect_cached(path: &Path, img: &Img) -> Option<Rect> {
    let key = file_key(path);
    if let Some(k) = &key {
        if let Some(hit) = cache().lock().ok().and_then(|c| c.get(k).copied()) {
            return hit;
        }
    }
    let found = detect(img);
    if let (Some(k), Ok(mut c)) = (key, cache().lock()) {
        c.insert(k, found);
    }
    found
}

/// One clip's face box: the median of the boxes found in its frames (each coordinate apart),
/// and how many frames had none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipFace {
    pub rect: Option<Rect>,
    pub missed: usize,
    pub frames: usize,
}

pub fn median_box(per_frame: &[Option<Rect>]) -> ClipFace {
    let found: Vec<Rect> = per_frame.iter().flatten().copied().collect();
    let missed = per_frame.len() - found.len();
    let med = |f: fn(&Rect) -> f32| {
        let mut v: Vec<f32> = found.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let rect = (!found.is_empty()).then(|| {
        // median centre and size, so the box stays a box of the face's size
        let (cx, cy) = (med(|r| r.x + r.w / 2.0), med(|r| r.y + r.h / 2.0));
        let (w, h) = (med(|r| r.w), med(|r| r.h));
        Rect { x: cx - w / 2.0, y: cy - h / 2.0, w, h }
    });
    ClipFace { rect, missed, frames: per_frame.len() }
}

/// When none of a clip's frames shows a face, the other frames of the same video (the clip
/// folder's NNNN.png|jpg, up to `MAX_EXTRA` spread over it) are searched: a face found there
/// gives the clip the video's median box (the face of a video stays in about one place).
pub fn video_box(first_frame: &Path, frame_size: (usize, usize)) -> Option<Rect> {
    let dir = first_frame.parent()?;
    let frames: Vec<PathBuf> = super::generic::frame_files(dir).ok()?.into_values().collect();
    let per_frame: Vec<Option<Rect>> = video_box_frames(frames.len())
        .map(|k| &frames[k])
        .map(|p| {
            let img = super::imageops::load(p, false).ok()?;
            // another size is another video (or a corrupt file): not this clip's face
            if (img.w, img.h) != frame_size {
                return None;
            }
            detect_cached(p, &img)
        })
        .collect();
    median_box(&per_frame).rect
}

/// The frames (0-based positions among `n`) that `video_box` searches: at most 12, spread evenly.
pub fn video_box_frames(n: usize) -> impl Iterator<Item = usize> {
    const MAX_EXTRA: usize = 12;
    (0..n).step_by(n.div_ceil(MAX_EXTRA).max(1))
}

/// How a command finds faces, built once from its flags (`--no-detect`) and passed down with
/// its data (`DataSource`) or inputs (`infer::Scorers`). It also counts the clips read with no
/// face box anywhere (neither the dataset's nor the detector's): they are cropped to the full
/// frame, and the command prints the count in its summary.
#[derive(Clone, Debug)]
pub struct FaceSettings {
    /// search frames without a box for a face (off for inputs that are face crops already)
    pub detect: bool,
    full_frame_clips: Arc<AtomicUsize>,
}

impl Default for FaceSettings {
    /// Detection on: frames without a box are searched.
    fn default() -> FaceSettings {
        FaceSettings::new(true)
    }
}

impl FaceSettings {
    pub fn new(detect: bool) -> FaceSettings {
        FaceSettings { detect, full_frame_clips: Arc::default() }
    }

    pub fn note_full_frame_clip(&self) {
        self.full_frame_clips.fetch_add(1, Ordering::Relaxed);
    }

    /// How many clips were read as full frames since the last call (and resets the count).
    pub fn take_full_frame_clips(&self) -> usize {
        self.full_frame_clips.swap(0, Ordering::Relaxed)
    }

    /// The run's summary line for `take_full_frame_clips`, when there were any.
    pub fn warn_full_frame_clips(&self) {
        let full = self.take_full_frame_clips();
        if full > 0 {
            eprintln!("warning: {full} clip reads found no face (dataset box or detector): full frames used");
        }
    }
}
