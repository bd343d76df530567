//! The FAS-SGTD / CDCN convention: frames `<video>_<NNN>_scene.jpg` with `_scene.dat` (face box:
//! four numbers x, y, w, h) and, for live frames, `_depth1D.jpg` (depth in the frame's
//! coordinates). Split folders `train|dev|test` (or `Train|Dev|Test`) hold the files, in any
//! sub-folders. Labels: an OULU-style video name (Access 1 = live), else a folder named
//! live/real (live) or spoof/attack/print/replay (attack).

use super::depth_label::FaceAnchor;
use super::imageops::Rect;
use super::{clip_starts, ClipIndex, ClipSpec, Split};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn looks_like(root: &Path) -> bool {
    ["train", "dev", "test", "Train", "Dev", "Test"].iter().any(|s| {
        let mut files = Vec::new();
        walk(&root.join(s), &mut files, 3);
        !files.is_empty()
    })
}

/// Collects `*_scene.jpg` files below `dir` (up to `depth` folder levels).
fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 0 {
            walk(&p, out, depth - 1);
        } else if p.to_string_lossy().ends_with("_scene.jpg") {
            out.push(p);
        }
    }
}

pub fn read_dat(path: &Path) -> Result<Rect> {
    let text = crate::util::fs::read_text(path, "face box")?;
    let v: Vec<f32> = text
        .split([',', ' ', '\t', '\n', '\r'])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(f32::NAN))
        .collect();
    if v.len() < 4 || v[..4].iter().any(|x| !x.is_finite()) {
        bail!("{}: expected four numbers x y w h", path.display());
    }
    Ok(Rect { x: v[0], y: v[1], w: v[2], h: v[3] })
}

fn label_of(video: &str, path: &Path) -> Option<(u32, String)> {
    if let Some(l) = super::oulu::parse_name(video) {
        return Some(l);
    }
    for c in path.components().rev() {
        match c.as_os_str().to_string_lossy().to_lowercase().as_str() {
            "live" | "real" => return Some((1, "live".into())),
            s @ ("spoof" | "attack" | "print" | "replay") => return Some((0, s.to_string())),
            _ => {}
        }
    }
    None
}

pub fn index(
    root: &Path,
    split: Split,
    protocol: Option<&str>,
    spec: &ClipSpec,
    fence: &super::Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    if let Some(p) = protocol {
        bail!("FAS-SGTD protocol {p:?}: not supported; split the files into train/dev/test folders");
    }
    let name = split.name();
    let cap = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
    let mut files = Vec::new();
    walk(&root.join(name), &mut files, 3);
    walk(&root.join(cap), &mut files, 3);
    // Group by (folder, video), frames by number.
    let mut videos: BTreeMap<(PathBuf, String), BTreeMap<u32, PathBuf>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for f in files {
        let fname = f.file_name().unwrap().to_string_lossy().to_string();
        let stem = fname.trim_end_matches("_scene.jpg");
        match stem.rsplit_once('_').and_then(|(v, n)| Some((v.to_string(), n.parse::<u32>().ok()?))) {
            Some((v, n)) => {
                videos.entry((f.parent().unwrap().to_path_buf(), v)).or_default().insert(n, f);
            }
            None => skipped.push(format!("{}: not <video>_<NNN>_scene.jpg, skipped", f.display())),
        }
    }
    let mut clips = Vec::new();
    for ((dir, video), frames) in videos {
        let Some((label, instrument)) = label_of(&video, &dir) else {
            skipped.push(format!("{}/{video}: cannot tell live from attack (name or folder), skipped", dir.display()));
            continue;
        };
        let list: Vec<(u32, PathBuf)> = frames.into_iter().collect();
        for start in clip_starts(list.len(), spec) {
            let sel: Vec<&(u32, PathBuf)> = (0..spec.frames).map(|k| &list[start + k * spec.interval]).collect();
            let mut anchors = Vec::new();
            let mut bad = None;
            for (_, p) in &sel {
                let dat = PathBuf::from(p.to_string_lossy().replace("_scene.jpg", "_scene.dat"));
                match fence.check(&dat, "face box").and_then(|()| read_dat(&dat)) {
                    Ok(r) => anchors.push(Some(FaceAnchor::Box(r))),
                    Err(e) => bad = Some(e),
                }
            }
            if let Some(e) = bad {
                skipped.push(format!("{video}: {e:#}, clip skipped"));
                continue;
            }
            let depth = |p: &PathBuf| {
                let d = PathBuf::from(p.to_string_lossy().replace("_scene.jpg", "_depth1D.jpg"));
                d.is_file().then_some(d)
            };
            clips.push(ClipIndex {
                video_id: format!("{}/{video}", dir.display()),
                instrument: instrument.clone(),
                label,
                frame_paths: sel.iter().map(|(_, p)| p.clone()).collect(),
                depth_paths: sel.iter().map(|(_, p)| depth(p)).collect(),
                mask_paths: vec![None; sel.len()],
                anchors,
                video: None,
            });
        }
    }
    Ok((clips, skipped))
}
