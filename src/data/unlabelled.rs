//! Frames without labels: what `infer` and `dump` read (a user's video, folder of frames or
//! photo). The face is found as for a dataset without boxes (`load::detected_face`), and the
//! frames are cropped and normalised exactly as training crops them, with the face mask the clip
//! score (eq. 18) averages over; there is no label, instrument or depth map.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::depth_label::{render_mask_in, FaceAnchor};
use super::face::{self, FaceSettings};
use super::imageops::{crop_resize, Img, Rect};
use super::load::{anchors_from, crop_rect, detected_face, label_anchor, read_frames, zoom_floor, FaceSource};
use super::ClipSpec;

/// One clip of unlabelled frames, ready for the model.
#[derive(Clone, Debug)]
pub struct FaceClip {
    /// Nf x 3 x H x W, NCHW, normalised (p - 127.5) / 128
    pub frames: Vec<f32>,
    /// Nf x S x S, 0/1 face mask
    pub mask: Vec<f32>,
    /// where the crop's face box came from
    pub face: FaceSource,
    /// the least share of a frame's face crop that is picture (1 when the crop lies inside the
    /// frame; low for a photo cut close around the face, whose edges then fill the rest)
    pub crop_in_picture: f32,
}

/// A clip of frame files (a folder's NNNN.png|jpg, or Nf copies of one photo) of the input
/// `input` (named in errors).
pub fn read(spec: &ClipSpec, faces: &FaceSettings, input: &str, paths: &[PathBuf]) -> Result<FaceClip> {
    let all: Vec<usize> = (0..paths.len()).collect();
    let images = read_frames(paths, &all, input)?;
    let (anchors, face) = detected_face(paths, &all, &images, faces)?;
    Ok(crop(spec, &images, &anchors, face))
}

/// How a photo is looked at in one frame of its clip: the crop's side over the face box's, as
/// an offset from the model's `ClipSpec::crop`, and whether it is mirrored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhotoView {
    pub crop_offset: f32,
    pub mirrored: bool,
}

/// The views a photo is scored through, one per frame of the single-frame network's clip (in
/// turn when the clip has more frames). That network scores each frame alone and the clip's
/// score is their mean, so the photo's score averages these views (test-time augmentation) at
/// the cost of the one clip it was given before: the crop mirrored and 0.2 face boxes closer
/// and wider, as training's flips and crop jitter (`load::CROP_JITTER`) show faces.
pub const PHOTO_VIEWS: [PhotoView; 4] = [
    PhotoView { crop_offset: 0.0, mirrored: false },
    PhotoView { crop_offset: 0.0, mirrored: true },
    PhotoView { crop_offset: -0.2, mirrored: false },
    PhotoView { crop_offset: 0.2, mirrored: true },
];

/// The clip a single-frame network scores a photo with: `frames` views of it (`PHOTO_VIEWS`),
/// the face found once. `input` names the photo in errors.
pub fn read_photo(spec: &ClipSpec, faces: &FaceSettings, input: &str, path: &Path, frames: usize) -> Result<FaceClip> {
    let paths = [path.to_path_buf()];
    let images = read_frames(&paths, &[0], input)?;
    let (anchors, face) = detected_face(&paths, &[0], &images, faces)?;
    Ok(photo_views(spec, &images[0], anchors[0], face, frames))
}

/// `read_photo` for a photo held in memory, with the face the detector found in it (None where
/// none was found or detection is off).
pub fn photo_from_image(
    spec: &ClipSpec,
    faces: &FaceSettings,
    image: &Img,
    detection: Option<Rect>,
    frames: usize,
) -> FaceClip {
    let small = image.w.min(image.h) < face::MIN_SIDE;
    let found = face::median_box(&[detection]);
    let (anchors, face) = anchors_from(&found, small, std::slice::from_ref(image), faces);
    photo_views(spec, image, anchors[0], face, frames)
}

fn photo_views(spec: &ClipSpec, image: &Img, anchor: Option<FaceAnchor>, face: FaceSource, frames: usize) -> FaceClip {
    let views = PHOTO_VIEWS.iter().cycle().take(frames).map(|&view| (image, anchor, view));
    crop_views(spec, views, face)
}

/// A clip of frames held in memory (a stream or a video read through a pipe), with the face the
/// detector found in each (`detections`, one per frame; None where none was found or detection
/// is off), and the box to use when no frame shows one (the video's, as `face::video_box` gives
/// frames read from files).
pub fn from_images(
    spec: &ClipSpec,
    faces: &FaceSettings,
    images: &[Img],
    detections: &[Option<Rect>],
    video_box: Option<Rect>,
) -> Result<FaceClip> {
    if images.is_empty() || images.len() != detections.len() {
        bail!("a clip of {} frames with {} detections", images.len(), detections.len());
    }
    let small = images[0].w.min(images[0].h) < face::MIN_SIDE;
    let mut found = face::median_box(detections);
    if found.rect.is_none() {
        found.rect = video_box;
    }
    let (anchors, face) = anchors_from(&found, small, images, faces);
    Ok(crop(spec, images, &anchors, face))
}

/// Crops, resizes and normalises each frame at its anchor (the whole frame without one), and
/// renders the face mask in each crop.
fn crop(spec: &ClipSpec, images: &[Img], anchors: &[Option<FaceAnchor>], face: FaceSource) -> FaceClip {
    let plain = images.iter().zip(anchors).map(|(img, &anchor)| (img, anchor, PHOTO_VIEWS[0]));
    crop_views(spec, plain, face)
}

/// `crop` of frames, each an image, its anchor and the view it is seen through.
fn crop_views<'a>(
    spec: &ClipSpec,
    frames: impl Iterator<Item = (&'a Img, Option<FaceAnchor>, PhotoView)>,
    face: FaceSource,
) -> FaceClip {
    let (n, s) = (spec.size, spec.map);
    // both callers' iterators know their length (a zip of slices, a `take`)
    let count = frames.size_hint().0;
    let mut clip = FaceClip {
        frames: Vec::with_capacity(count * 3 * n * n),
        mask: Vec::with_capacity(count * s * s),
        face,
        crop_in_picture: 1.0,
    };
    for (img, anchor, view) in frames {
        // the close-cut warning reads the model's own crop, whatever the view
        let plain = crop_rect(anchor, img.w, img.h, spec.crop).moved_inside(img.w, img.h);
        clip.crop_in_picture = clip.crop_in_picture.min(plain.share_inside(img.w, img.h));
        let rect = crop_rect(anchor, img.w, img.h, spec.crop + view.crop_offset).moved_inside(img.w, img.h);
        // a picture smaller than the crop: zoomed in as far as the face allows, for a model
        // that saw such crops in training (`ClipSpec::zoom`)
        let rect = match anchor.filter(|_| spec.zoom > 0.0) {
            Some(a) => rect.shrunk_to_fit(img.w, img.h, zoom_floor(a)).moved_inside(img.w, img.h),
            None => rect,
        };
        let mut crop = crop_resize(img, rect, n);
        if spec.local_contrast {
            crop = crate::data::imageops::local_contrast(&crop);
        }
        if view.mirrored {
            crop = crate::data::imageops::mirrored(&crop);
        }
        for ch in 0..3 {
            clip.frames.extend((0..n * n).map(|p| (crop.data[p * 3 + ch] - 127.5) / 128.0));
        }
        let mut mask = render_mask_in(&label_anchor(anchor, img.w, img.h), rect, s);
        if view.mirrored {
            crate::data::imageops::flip_rows(&mut mask, s);
        }
        clip.mask.extend(mask);
    }
    clip
}

/// A face crop less than this share picture comes from a picture cut close around the face:
/// neither the demo's model nor a model trained on real faces judges those reliably
/// (docs/EXPERIMENTS.md, ninth stop), so the verdict says so.
pub const CLOSE_CUT: f32 = 0.6;

/// The warning for a face crop of which only `share` is picture, if that is under `CLOSE_CUT`
/// (`tdfas infer` and the browser page say the same).
pub fn close_cut_warning_for(share: f32) -> Option<String> {
    (share < CLOSE_CUT).then(|| {
        format!(
            "the picture is cut close around the face: {:.0}% of the face crop is picture (its edges repeat over \
             the rest); verdicts on such pictures are unreliable: give one with room around the face",
            100.0 * share
        )
    })
}
