//! CelebA-Spoof (Zhang et al. 2020; 625k images of 10k people), in its documented layout:
//! `Data/{train,test}/<subject>/{live,spoof}/<image>.jpg|png`, beside each image
//! `<image>_BB.txt` (`x y w h score`, the face box in the coordinates of the image resized to
//! 224 x 224), and the intra-test protocol's labels in `metas/intra_test/{train,test}_label.json`:
//! a JSON object from the image's path (`Data/train/.../494405.png`) to its 44 attributes, of
//! which index 40 is the spoof type (0 live, 1 photo, 2 poster, 3 A4, 4 face mask, 5 upper-body
//! mask, 6 region mask, 7 PC, 8 pad, 9 phone, 10 3D mask) and index 43 the label (0 live, 1 spoof).
//!
//! Each image is one "video" of Nf copies of itself: a single-frame network scores it once (its
//! score is the mean over the frames), and stage 1 trains on one frame of it. CelebA-Spoof has no
//! dev split: Dev = the train subjects whose number is a multiple of 10, Train = the others.
//! Multi-frame models need motion, which photos do not have: `Dataset::open` is used only by
//! single-frame training and evaluation on this layout (see `is_single_frame_only`).

use super::depth_label::FaceAnchor;
use super::imageops::Rect;
use super::{ClipIndex, ClipSpec, Fence, Split};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The protocol this reader implements.
pub const INTRA_TEST: &str = "intra_test";

/// The side the `_BB.txt` boxes are given in.
const BOX_SPACE: f32 = 224.0;

/// Spoof types by their index (attribute 40).
const SPOOF_TYPES: [&str; 11] =
    ["live", "photo", "poster", "a4", "face_mask", "upper_body_mask", "region_mask", "pc", "pad", "phone", "3d_mask"];

/// Whether `root` looks like CelebA-Spoof.
pub fn looks_like(root: &Path) -> bool {
    root.join("metas").join(INTRA_TEST).is_dir() && root.join("Data").is_dir()
}

/// The label file of a split (dev comes from the train file).
fn label_file(root: &Path, split: Split) -> PathBuf {
    let name = if split == Split::Test { "test_label.json" } else { "train_label.json" };
    root.join("metas").join(INTRA_TEST).join(name)
}

/// The subject number in `Data/<split>/<subject>/...`.
fn subject(rel: &str) -> Option<u64> {
    rel.split('/').nth(2)?.parse().ok()
}

pub fn index(
    root: &Path,
    split: Split,
    protocol: Option<&str>,
    spec: &ClipSpec,
    fence: &Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    if let Some(p) = protocol.filter(|p| *p != INTRA_TEST) {
        bail!("CelebA-Spoof protocol {p:?}: this reader has the {INTRA_TEST:?} protocol only");
    }
    let path = label_file(root, split);
    let text = fence.read_text(&path, "label file")?;
    let Entries(entries) =
        serde_json::from_str(&text).with_context(|| format!("{}: not a JSON object of labels", path.display()))?;
    // an image listed twice with different labels is in doubt: neither is taken
    let mut labels: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (rel, attrs) in entries {
        labels.entry(rel).or_default().push(attrs);
    }
    let (mut clips, mut skipped) = (Vec::new(), Vec::new());
    labels.retain(|rel, listed| {
        let agree = listed.iter().all(|a| a == &listed[0]);
        if !agree {
            let what = format!("listed {} times with different attributes, skipped", listed.len());
            skipped.push(format!("{}: {}: {what}", path.display(), crate::util::text::shown(rel)));
        }
        agree
    });
    for rel in labels.keys() {
        let Some(sub) = subject(rel) else {
            skipped.push(format!("{}: {rel:?} is not Data/<split>/<subject>/..., skipped", path.display()));
            continue;
        };
        // the documented dev split: every tenth train subject
        let dev = sub % 10 == 0;
        if (split == Split::Dev && !dev) || (split == Split::Train && dev) {
            continue;
        }
        let attrs = labels[rel][0].as_array().filter(|a| a.len() == 44);
        let (Some(spoof), Some(label)) = (
            attrs.and_then(|a| a[40].as_u64()).filter(|&t| (t as usize) < SPOOF_TYPES.len()),
            attrs.and_then(|a| a[43].as_u64()).filter(|&l| l <= 1),
        ) else {
            skipped.push(format!(
                "{}: {rel}: expected 44 attributes (spoof type at 40, label at 43), skipped",
                path.display()
            ));
            continue;
        };
        if (spoof == 0) != (label == 0) {
            skipped
                .push(format!("{}: {rel}: spoof type {spoof} disagrees with label {label}, skipped", path.display()));
            continue;
        }
        // a key is a path inside the set: no `..`, nothing absolute
        if !Path::new(rel).components().all(|c| matches!(c, std::path::Component::Normal(_))) {
            skipped.push(format!(
                "{}: {:?} is not a path inside the dataset folder, skipped",
                path.display(),
                crate::util::text::shown(rel)
            ));
            continue;
        }
        let image = root.join(rel);
        if !image.is_file() {
            skipped.push(format!("{}: image missing, skipped", image.display()));
            continue;
        }
        let anchor = match fence.check(&image, "image").and_then(|()| read_box(&image, fence)) {
            Ok(a) => a,
            Err(e) => {
                skipped.push(format!("{e:#}, skipped"));
                continue;
            }
        };
        clips.push(ClipIndex {
            video_id: rel.clone(),
            instrument: SPOOF_TYPES[spoof as usize].to_string(),
            label: u32::from(label == 0),
            frame_paths: vec![image; spec.frames],
            depth_paths: vec![None; spec.frames],
            mask_paths: vec![None; spec.frames],
            anchors: vec![anchor; spec.frames],
            video: None,
        });
    }
    Ok((clips, skipped))
}

/// The face box of `image` from `<stem>_BB.txt`, scaled from 224 x 224 to the image's size; None
/// when there is no box file (the detector then looks).
fn read_box(image: &Path, fence: &Fence) -> Result<Option<FaceAnchor>> {
    let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let path = image.with_file_name(format!("{stem}_BB.txt"));
    if !path.is_file() {
        return Ok(None);
    }
    let text = fence.read_text(&path, "face box")?;
    let v: Vec<f32> = text.split_whitespace().take(4).map(|s| s.parse().unwrap_or(f32::NAN)).collect();
    if v.len() < 4 || v.iter().any(|x| !x.is_finite()) || v[2] <= 0.0 || v[3] <= 0.0 {
        let got = crate::util::text::excerpt(text.trim(), 60);
        bail!("{}: expected `x y w h score` (224 x 224 coordinates), got {got:?}", path.display());
    }
    let (w, h) = image::image_dimensions(image).with_context(|| format!("reading the size of {}", image.display()))?;
    let (sx, sy) = (w as f32 / BOX_SPACE, h as f32 / BOX_SPACE);
    let r = Rect { x: v[0] * sx, y: v[1] * sy, w: v[2] * sx, h: v[3] * sy };
    // the generic layout's limits: a box far off the picture, or of a pixel, is a corrupt line
    let far = [r.x, r.y, r.w, r.h].iter().any(|c| c.abs() > super::generic::MAX_BOX_COORD);
    if far || r.w < super::generic::MIN_BOX_SIDE || r.h < super::generic::MIN_BOX_SIDE {
        bail!(
            "{}: the box {:?} is not a face box of this {w}x{h} image (at most {} from it, at least {} pixels wide)",
            path.display(),
            [v[0], v[1], v[2], v[3]],
            super::generic::MAX_BOX_COORD,
            super::generic::MIN_BOX_SIDE
        );
    }
    Ok(Some(FaceAnchor::Box(r)))
}

/// A label file's entries in file order, an image listed twice kept twice (a JSON map would keep
/// the last silently).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Entries, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object from image paths to their attributes")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> std::result::Result<Entries, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visit)
    }
}
