//! Reads one clip: face crop (box enlarged `spec.crop` times, 1.8 in the presets; +-0.25 at random when augmenting), bilinear
//! resize to H x W, normalisation, labels at S x S by area averaging, optional flip.

use super::depth_label::{render_depth_in, FaceAnchor};
use super::face::{self, FaceSettings};
use super::imageops::{area_resample, crop_resize, flip_rows, load, Img, Rect};
use super::{video, Clip, ClipIndex, ClipSpec};
use anyhow::{bail, Result};
use rand::Rng;

/// Training draws each clip's crop scale from `spec.crop +- CROP_JITTER`.
pub const CROP_JITTER: f32 = 0.25;

/// The crop scales of the clips `ClipSpec::zoom` crops closer: those at which `infer` looks at
/// a photo cut close around the face (its crop shrunk to fit the picture, `Rect::shrunk_to_fit`).
pub const ZOOM_RANGE: (f32, f32) = (1.05, 1.5);

/// The least side a crop zoomed into a close picture keeps around the face (`ZOOM_RANGE`'s low
/// end), in training and at inference alike.
pub(crate) fn zoom_floor(anchor: FaceAnchor) -> f32 {
    let b = anchor.face_box();
    ZOOM_RANGE.0 * b.w.max(b.h)
}
/// A frame without any box is taken as a face crop made the usual way (the face box enlarged
/// 1.3x, as face-cropped datasets ship them) when its labels are rendered.
pub const FACE_CROP_INPUT_SCALE: f32 = 1.3;

pub fn load_clip(
    c: &ClipIndex,
    spec: &ClipSpec,
    faces: &FaceSettings,
    augment: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<Clip> {
    Ok(load_clip_with_face(c, spec, faces, augment)?.0)
}

/// Where a clip's crop came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaceSource {
    /// The dataset's boxes or eye positions.
    Dataset,
    /// The face detector: one box for the clip, the median of its frames' boxes.
    Detector { box_: Rect, missed: usize, frames: usize },
    /// No box from either: the whole frame (a counted warning).
    FullFrame { frames: usize },
    /// Frames too small for the detector to search (below `face::MIN_SIDE`): taken as face crops.
    SmallFrames { frames: usize, side: usize },
}

/// `load_clip`, also saying where the face box came from. Box sources in order: the dataset's
/// anchors, then the face detector (unless detection is off), then the
/// full frame.
pub fn load_clip_with_face(
    c: &ClipIndex,
    spec: &ClipSpec,
    faces: &FaceSettings,
    augment: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<(Clip, FaceSource)> {
    load_frames_with_face(c, spec, faces, None, augment)
}

/// Frame `frame` of a clip alone, as a one-frame clip, cropped exactly as in the whole clip (the
/// clip's face box; detections of its other frames come from the cache, read only on a miss).
/// Stage 1 trains on single frames: reading the clip's other frames and labels would be 3/4 of
/// its loading time.
pub fn load_clip_frame(
    c: &ClipIndex,
    spec: &ClipSpec,
    faces: &FaceSettings,
    frame: usize,
    augment: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<Clip> {
    if frame >= c.frame_paths.len() {
        bail!("clip {} has {} frames, frame {frame} was asked for", c.video_id, c.frame_paths.len());
    }
    Ok(load_frames_with_face(c, spec, faces, Some(frame), augment)?.0)
}

/// Reads every frame of a clip, or only frame `only` (a one-frame clip).
fn load_frames_with_face(
    c: &ClipIndex,
    spec: &ClipSpec,
    faces: &FaceSettings,
    only: Option<usize>,
    augment: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<(Clip, FaceSource)> {
    video::ensure_frames(c)?;
    let wanted: Vec<usize> = match only {
        Some(k) => vec![k],
        None => (0..c.frame_paths.len()).collect(),
    };
    let images = read_frames(&c.frame_paths, &wanted, &c.video_id)?;
    let has_anchor = c.anchors.iter().any(|a| a.is_some());
    let (anchors, source): (Vec<Option<FaceAnchor>>, FaceSource) = if has_anchor {
        (wanted.iter().map(|&k| c.anchors.get(k).copied().flatten()).collect(), FaceSource::Dataset)
    } else {
        detected_face(&c.frame_paths, &wanted, &images, faces)?
    };
    crop_frames(c, spec, &wanted, &images, anchors, source, augment)
}

/// Reads the frames `wanted` of a clip's `paths`; frames of one video share a size, and a
/// different one is a corrupt or misplaced file (an error naming it and the clip `video_id`).
pub(crate) fn read_frames(paths: &[std::path::PathBuf], wanted: &[usize], video_id: &str) -> Result<Vec<Img>> {
    let mut images: Vec<Img> = Vec::with_capacity(wanted.len());
    for &k in wanted {
        let path = &paths[k];
        let img = load(path, false)?;
        if let Some(first) = images.first() {
            if (img.w, img.h) != (first.w, first.h) {
                bail!(
                    "{}: frame is {}x{}, but frame {} of clip {video_id} is {}x{} (mixed frame sizes)",
                    path.display(),
                    img.w,
                    img.h,
                    paths[0].display(),
                    first.w,
                    first.h
                );
            }
        }
        images.push(img);
    }
    Ok(images)
}

/// The face of a clip of frame files with no box of their own: the median of the detector's
/// boxes over every frame of the clip (also when only the frames `wanted` were read: the others
/// come from the cache or are read), else the box of the video's other frames
/// (`face::video_box`), else none (the full frame). Detection off (`--no-detect`): none.
pub(crate) fn detected_face(
    paths: &[std::path::PathBuf],
    wanted: &[usize],
    images: &[Img],
    faces: &FaceSettings,
) -> Result<(Vec<Option<FaceAnchor>>, FaceSource)> {
    let small = images.first().is_some_and(|i| i.w.min(i.h) < face::MIN_SIDE);
    let per_frame: Vec<_> = if faces.detect && !small {
        let mut per_frame = Vec::with_capacity(paths.len());
        for (k, p) in paths.iter().enumerate() {
            let found = match wanted.iter().position(|&w| w == k) {
                Some(i) => face::detect_cached(p, &images[i]),
                None => match face::cached_detection(p) {
                    Some(hit) => hit,
                    None => face::detect_cached(p, &load(p, false)?),
                },
            };
            per_frame.push(found);
        }
        per_frame
    } else {
        vec![None; paths.len()]
    };
    let mut found = face::median_box(&per_frame);
    if found.rect.is_none() && faces.detect && !small {
        found.rect = face::video_box(&paths[0], (images[0].w, images[0].h));
    }
    Ok(anchors_from(&found, small, images, faces))
}

/// The clip's anchors and face source from the detector's median box.
pub(crate) fn anchors_from(
    found: &face::ClipFace,
    small: bool,
    images: &[Img],
    faces: &FaceSettings,
) -> (Vec<Option<FaceAnchor>>, FaceSource) {
    match found.rect {
        Some(r) => (
            vec![Some(FaceAnchor::Box(r)); images.len()],
            FaceSource::Detector { box_: r, missed: found.missed, frames: found.frames },
        ),
        None if small => (
            vec![None; images.len()],
            FaceSource::SmallFrames { frames: images.len(), side: images[0].w.min(images[0].h) },
        ),
        None => {
            faces.note_full_frame_clip();
            (vec![None; images.len()], FaceSource::FullFrame { frames: images.len() })
        }
    }
}

/// Crops, resizes, normalises and labels the frames `wanted` of clip `c` (their `images`).
fn crop_frames(
    c: &ClipIndex,
    spec: &ClipSpec,
    wanted: &[usize],
    images: &[Img],
    anchors: Vec<Option<FaceAnchor>>,
    source: FaceSource,
    mut augment: Option<&mut rand_chacha::ChaCha8Rng>,
) -> Result<(Clip, FaceSource)> {
    let (n, s) = (spec.size, spec.map);
    let has_box = anchors.iter().any(|a| a.is_some());
    let (scale, flip) = match augment.as_deref_mut() {
        Some(rng) => {
            let s = if has_box {
                rng.random_range((spec.crop - CROP_JITTER).max(1.0)..spec.crop + CROP_JITTER)
            } else {
                spec.crop
            };
            let flip = rng.random_bool(0.5);
            let s = if has_box && spec.zoom > 0.0 && rng.random_bool(spec.zoom) {
                rng.random_range(ZOOM_RANGE.0..ZOOM_RANGE.1)
            } else {
                s
            };
            (s, flip)
        }
        None => (spec.crop, false),
    };
    let aug = augment.as_deref_mut().map(|rng| super::augment::Augment::random(rng, spec.close_cut));
    let mut clip = Clip {
        video_id: c.video_id.clone(),
        instrument: c.instrument.clone(),
        label: c.label,
        frames: Vec::with_capacity(wanted.len() * 3 * n * n),
        depth: Vec::with_capacity(wanted.len() * s * s),
        mask: Vec::with_capacity(wanted.len() * s * s),
    };
    for (i, img) in images.iter().enumerate() {
        let (k, anchor) = (wanted[i], anchors.get(i).copied().flatten());
        let rect = crop_rect(anchor, img.w, img.h, scale);
        // Crop jitter, then into the picture: the labels below are cut with the same rectangle.
        let rect = aug.as_ref().map_or(rect, |a| a.crop(rect));
        // a picture cut close around the face: the crop is placed and sampled in the cut alone
        let cut = aug
            .as_ref()
            .and_then(|a| a.close_cut)
            .zip(anchor)
            .and_then(|(cut, a)| cut.rect(a.face_box()).pixels_inside(img.w, img.h));
        // a model that zooms into close photos at inference is shown its cuts the same way
        let zoom_to = anchor.filter(|_| spec.zoom > 0.0).map(zoom_floor);
        let (rect, mut crop) = place_and_crop(img, rect, cut, zoom_to, n);
        if let (Some(a), Some(rng)) = (&aug, augment.as_deref_mut()) {
            crop = a.photometric(&crop, rng)?;
        }
        if spec.local_contrast {
            crop = super::imageops::local_contrast(&crop);
        }
        for ch in 0..3 {
            clip.frames.extend((0..n * n).map(|p| (crop.data[p * 3 + ch] - 127.5) / 128.0));
        }
        let (mut depth, mut mask) = labels(c, k, anchor, rect, img.w, img.h, s)?;
        if let Some(w) = cut {
            blank_outside(w, rect, s, &mut depth, &mut mask);
        }
        clip.depth.extend(depth);
        clip.mask.extend(mask);
    }
    if flip {
        flip_rows(&mut clip.frames, n);
        flip_rows(&mut clip.depth, s);
        flip_rows(&mut clip.mask, s);
    }
    Ok((clip, source))
}

/// One frame's crop: `rect` (frame pixels) moved into the picture and sampled at n x n, and
/// where it ended up. With `cut` (whole frame pixels: a picture cut close around the face,
/// `Augment::close_cut`) the crop is placed and sampled in the cut alone, exactly as inference
/// places and samples it in a photo that is that cut. With `zoom_to` (the least side, for a
/// model with `ClipSpec::zoom`) the crop is first shrunk to fit the cut, or the whole frame
/// when there is no cut, as inference zooms into a picture smaller than its crop.
pub(crate) fn place_and_crop(img: &Img, rect: Rect, cut: Option<Rect>, zoom_to: Option<f32>, n: usize) -> (Rect, Img) {
    match cut {
        Some(w) => {
            let (cw, ch) = (w.w as usize, w.h as usize);
            let local = Rect { x: rect.x - w.x, y: rect.y - w.y, ..rect }.moved_inside(cw, ch);
            let local = zoom_to.map_or(local, |m| local.shrunk_to_fit(cw, ch, m).moved_inside(cw, ch));
            let crop = crop_resize(&img.window(w), local, n);
            (Rect { x: local.x + w.x, y: local.y + w.y, ..local }, crop)
        }
        None => {
            let rect = rect.moved_inside(img.w, img.h);
            let rect = zoom_to.map_or(rect, |m| rect.shrunk_to_fit(img.w, img.h, m).moved_inside(img.w, img.h));
            (rect, crop_resize(img, rect, n))
        }
    }
}

/// Zeroes the s x s depth and mask cells of crop `rect` whose centres lie outside `cut`: nothing
/// of the scene is seen there, so no face depth either.
pub(crate) fn blank_outside(cut: Rect, rect: Rect, s: usize, depth: &mut [f32], mask: &mut [f32]) {
    for (p, (d, m)) in depth.iter_mut().zip(mask.iter_mut()).enumerate() {
        let x = rect.x + ((p % s) as f32 + 0.5) * rect.w / s as f32;
        let y = rect.y + ((p / s) as f32 + 0.5) * rect.h / s as f32;
        if !cut.contains(x, y) {
            (*d, *m) = (0.0, 0.0);
        }
    }
}

/// The crop: the anchor's face box enlarged by `scale` as a square, or the whole frame when
/// there is no box or it lies outside the frame.
pub fn crop_rect(anchor: Option<FaceAnchor>, w: usize, h: usize, scale: f32) -> Rect {
    match anchor {
        Some(a) => {
            let fb = a.face_box();
            if fb.overlaps(w, h) {
                fb.square_scaled(scale)
            } else {
                Rect::full(w, h)
            }
        }
        None => Rect::full(w, h),
    }
}

/// Depth and mask of frame k at S x S: from label images when present, else rendered from the
/// anchor (or, without one, from a face box assumed to fill the already-cropped frame).
fn labels(
    c: &ClipIndex,
    k: usize,
    anchor: Option<FaceAnchor>,
    rect: Rect,
    w: usize,
    h: usize,
    s: usize,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let depth_file = c.depth_paths.get(k).cloned().flatten();
    let mask_file = c.mask_paths.get(k).cloned().flatten();
    let fallback = || render_depth_in(&label_anchor(anchor, w, h), rect, s);
    if let Some(a) = anchor.filter(|a| !a.face_box().overlaps(w, h)) {
        // the crop falls back to the whole frame: say so (once) rather than train on it silently
        if !BOX_OUTSIDE.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "warning: {}: the face box {:?} lies outside the {w}x{h} frame: the whole frame is used \
                 (other frames likewise; said once)",
                c.frame_paths.get(k).map_or(c.video_id.clone(), |p| p.display().to_string()),
                a.face_box()
            );
        }
    }
    let mut rendered = None;
    let mask = match &mask_file {
        Some(p) => threshold(label_map(p, rect, w, h, s)?),
        None => rendered.get_or_insert_with(fallback).mask.clone(),
    };
    let depth = if c.label == 0 {
        vec![0.0; s * s]
    } else if let Some(p) = &depth_file {
        label_map(p, rect, w, h, s)?
    } else {
        rendered.get_or_insert_with(fallback).depth.clone()
    };
    Ok((depth, mask))
}

/// The face that rendered labels follow: the anchor when it lies in the w x h frame, else a
/// face box assumed to fill the frame as face crops are made (`FACE_CROP_INPUT_SCALE`).
pub(crate) fn label_anchor(anchor: Option<FaceAnchor>, w: usize, h: usize) -> FaceAnchor {
    anchor.filter(|a| a.face_box().overlaps(w, h)).unwrap_or_else(|| {
        let full = Rect::full(w, h);
        let (fw, fh) = (full.w / FACE_CROP_INPUT_SCALE, full.h / FACE_CROP_INPUT_SCALE);
        FaceAnchor::Box(Rect { x: (full.w - fw) / 2.0, y: (full.h - fh) / 2.0, w: fw, h: fh })
    })
}

/// Said once per process: a face box outside its frame.
static BOX_OUTSIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Said once per process: labels of another size than their frames are scaled to them.
static LABEL_SCALED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A depth or mask label resampled at the crop `rect` of its w x h frame. Labels are in the
/// frame's coordinates: one of another size with the frame's aspect ratio is scaled to the frame
/// (said once), one of another shape is an error naming the file.
fn label_map(path: &std::path::Path, rect: Rect, w: usize, h: usize, s: usize) -> Result<Vec<f32>> {
    let g = scaled_gray(path)?;
    if (g.w, g.h) == (w, h) {
        return Ok(area_resample(&g, rect, s));
    }
    let (fx, fy) = (g.w as f32 / w as f32, g.h as f32 / h as f32);
    if (fx / fy - 1.0).abs() > 0.02 {
        bail!(
            "{}: label is {}x{} but its frame {w}x{h}: depth and mask labels must be in the frame's \
             coordinates (the same size, or the same aspect ratio to be scaled)",
            path.display(),
            g.w,
            g.h
        );
    }
    if !LABEL_SCALED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "warning: {}: label is {}x{} for a {w}x{h} frame: scaled to the frame (other labels of \
             another size likewise; said once)",
            path.display(),
            g.w,
            g.h
        );
    }
    let r = Rect { x: rect.x * fx, y: rect.y * fy, w: rect.w * fx, h: rect.h * fy };
    Ok(area_resample(&g, r, s))
}

/// A grey label image scaled to 0..1.
fn scaled_gray(path: &std::path::Path) -> Result<super::imageops::Img> {
    let mut g = load(path, true)?;
    g.data.iter_mut().for_each(|v| *v /= 255.0);
    Ok(g)
}

fn threshold(v: Vec<f32>) -> Vec<f32> {
    v.into_iter().map(|x| if x >= 0.5 { 1.0 } else { 0.0 }).collect()
}
