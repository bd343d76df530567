//! SiW: `{Train,Test}/{live,spoof}/SSS/SSS-sensor-type-medium-session.mov` (type 1 live,
//! 2 print, 3 replay) with per-frame `.face` boxes (`x1 y1 x2 y2`). SiW has no dev split:
//! Dev = the Train subjects whose number is a multiple of 5, Train = the others.
//! Frames: `<stem>/NNNN.png` next to the video when decoded beforehand, else ffmpeg.

use super::depth_label::FaceAnchor;
use super::imageops::Rect;
use super::oulu::sample;
use super::{video, ClipIndex, ClipSpec, Split};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Label and instrument from `SSS-sensor-type-medium-session`.
pub fn parse_name(stem: &str) -> Option<(u32, u32, String)> {
    let p: Vec<u32> = stem.split('-').map(|s| s.parse().ok()).collect::<Option<Vec<_>>>()?;
    if p.len() != 5 {
        return None;
    }
    match p[2] {
        1 => Some((p[0], 1, "live".into())),
        2 => Some((p[0], 0, format!("print{}", p[3]))),
        3 => Some((p[0], 0, format!("replay{}", p[3]))),
        _ => None,
    }
}

pub fn read_face(path: &Path) -> Result<Vec<Option<FaceAnchor>>> {
    let text = crate::util::fs::read_text(path, "face boxes")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Vec<f32> =
            line.split([',', ' ', '\t']).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap_or(f32::NAN)).collect();
        if v.len() < 4 || v.iter().any(|x| !x.is_finite()) {
            bail!("{}:{}: expected `x1 y1 x2 y2`, got {line:?}", path.display(), i + 1);
        }
        let r = Rect { x: v[0], y: v[1], w: v[2] - v[0], h: v[3] - v[1] };
        out.push((r.w > 1.0 && r.h > 1.0).then_some(FaceAnchor::Box(r)));
    }
    Ok(out)
}

pub fn index(
    root: &Path,
    split: Split,
    protocol: Option<&str>,
    spec: &ClipSpec,
    fence: &super::Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    if let Some(p) = protocol {
        bail!("SiW protocol {p:?}: not supported; list the videos in a generic-layout protocol instead");
    }
    let top = if split == Split::Test { "Test" } else { "Train" };
    let mut videos: Vec<PathBuf> = Vec::new();
    for class in ["live", "spoof"] {
        let d = root.join(top).join(class);
        if !d.is_dir() {
            continue;
        }
        for subj in super::generic::sorted_dirs(&d)? {
            for e in std::fs::read_dir(&subj).with_context(|| format!("cannot list {}", subj.display()))? {
                let p = e?.path();
                if p.extension().is_some_and(|x| x == "face") {
                    videos.push(p);
                }
            }
        }
    }
    videos.sort();
    let (mut clips, mut skipped) = (Vec::new(), Vec::new());
    for face in videos {
        let stem = face.file_stem().unwrap().to_string_lossy().to_string();
        let Some((subject, label, instrument)) = parse_name(&stem) else {
            skipped.push(format!("{}: name is not SSS-sensor-type-medium-session, skipped", face.display()));
            continue;
        };
        let dev = subject % 5 == 0;
        if split != Split::Test && dev != (split == Split::Dev) {
            continue;
        }
        let result = (|| -> Result<(Vec<ClipIndex>, Vec<String>)> {
            fence.check(&face, "face boxes")?;
            let anchors = read_face(&face)?;
            let pre = face.with_extension("");
            let (dir, vid) = if pre.is_dir() {
                (pre, None)
            } else {
                let mov = face.with_extension("mov");
                if !mov.is_file() {
                    bail!("neither {} nor decoded frames in {}", mov.display(), pre.display());
                }
                (video::cache_dir(root, &mov), Some(mov))
            };
            Ok(sample(&stem, label, &instrument, &dir, vid, &anchors, spec))
        })();
        match result {
            Ok((c, w)) => {
                clips.extend(c);
                skipped.extend(w);
            }
            Err(e) => skipped.push(format!("{stem}: {e:#}, skipped")),
        }
    }
    Ok((clips, skipped))
}
