//! The generic layout: `root/{train,dev,test}/{live,print,replay}/<clip>/NNNN.png|jpg`, with
//! optional `NNNN_depth.png`, `NNNN_mask.png` and `bbox.csv` (frame,x,y,w,h) per clip folder.
//! Protocols: `root/protocols/<name>/{train,dev,test}.txt`, lines `+1,train/live/<clip>`.
//! An optional `root/clips.csv` (clip,instrument,...) gives each clip's instrument.

use super::depth_label::FaceAnchor;
use super::imageops::Rect;
use super::{clip_starts, protocol, ClipIndex, ClipSpec, Fence, Split};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub fn index(
    root: &Path,
    split: Split,
    protocol_name: Option<&str>,
    spec: &ClipSpec,
    fence: &Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    let instruments = read_clips_csv(root, fence)?;
    let mut skipped = Vec::new();
    let videos: Vec<(PathBuf, u32)> = match protocol_name {
        Some(name) => {
            protocol::check_name(name)?;
            let path = root.join("protocols").join(name).join(format!("{}.txt", split.name()));
            if !path.is_file() {
                bail!("protocol {name:?}: file {} not found", path.display());
            }
            fence.check(&path, "protocol file")?;
            let entries = protocol::read(&path)?;
            if fence.confined() {
                for e in &entries {
                    inside_root(root, &e.name).with_context(|| format!("{}:{}", path.display(), e.line))?;
                }
            }
            entries.into_iter().map(|e| (PathBuf::from(e.name), e.label)).collect()
        }
        None => list_split(root, split)?,
    };
    let mut clips = Vec::new();
    for (rel_path, label) in videos {
        let dir = root.join(&rel_path);
        // names that are not UTF-8 are shown lossily, but the folder is read by its real name
        let rel = rel_path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if !dir.is_dir() {
            skipped.push(format!("{}: clip folder missing, skipped", dir.display()));
            continue;
        }
        let class = rel_path.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().to_string());
        let instrument = instruments.get(&rel).cloned().unwrap_or_else(|| {
            if label == 1 {
                "live".to_string()
            } else {
                class.unwrap_or_else(|| "spoof".to_string())
            }
        });
        match video_clips(&dir, &rel, &instrument, label, spec, fence, &mut skipped) {
            Ok(v) => clips.extend(v),
            Err(e) => skipped.push(format!("{rel}: {e:#}, skipped")),
        }
    }
    Ok((clips, skipped))
}

/// Fails unless the clip `name` (relative to `root`) stays inside `root`: no absolute path, no
/// `..`, no link leading out.
fn inside_root(root: &Path, name: &str) -> Result<()> {
    let rel = Path::new(name);
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        bail!(
            "clip {:?} is not a path inside the dataset folder {} (absolute, or with `..`): refused \
             (pass --allow-outside-data if that is intended)",
            crate::util::text::shown(name),
            root.display()
        );
    }
    if let (Ok(r), Ok(c)) = (root.canonicalize(), root.join(rel).canonicalize()) {
        if !c.starts_with(&r) {
            bail!(
                "clip {:?} leads outside the dataset folder {} (to {}, through a link): refused \
                 (pass --allow-outside-data if that is intended)",
                crate::util::text::shown(name),
                root.display(),
                c.display()
            );
        }
    }
    Ok(())
}

/// Every clip folder of a split, as (relative path, label), sorted.
fn list_split(root: &Path, split: Split) -> Result<Vec<(PathBuf, u32)>> {
    let dir = root.join(split.name());
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for class in sorted_dirs(&dir)? {
        let cname = class.file_name().unwrap().to_string_lossy().to_string();
        let label = u32::from(cname == "live" || cname == "real");
        for clip in sorted_dirs(&class)? {
            out.push((Path::new(split.name()).join(class.file_name().unwrap()).join(clip.file_name().unwrap()), label));
        }
    }
    Ok(out)
}

pub fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    v.sort();
    Ok(v)
}

/// Frame files of a clip folder by frame number: `NNNN.png|jpg|jpeg|webp|bmp`.
pub fn frame_files(dir: &Path) -> Result<BTreeMap<u32, PathBuf>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let p = e?.path();
        let Some(stem) = p.file_stem() else {
            continue;
        };
        if !super::imageops::is_image_file(&p) {
            continue;
        }
        if let Ok(n) = stem.to_string_lossy().parse::<u32>() {
            // 0001.jpg beside 0001.png (or 1.png beside 0001.png) are two frames for one place:
            // often two videos in one folder, which must not be scored as one
            if let Some(other) = out.insert(n, p.clone()) {
                bail!(
                    "{}: two files for frame {n} ({} and {}): one frame per number, please (two videos in one folder?)",
                    dir.display(),
                    crate::util::text::shown_path(Path::new(other.file_name().unwrap_or_default())),
                    crate::util::text::shown_path(Path::new(p.file_name().unwrap_or_default()))
                );
            }
        }
    }
    Ok(out)
}

/// The clips of one video folder; clips that would need a missing frame are skipped.
fn video_clips(
    dir: &Path,
    rel: &str,
    instrument: &str,
    label: u32,
    spec: &ClipSpec,
    fence: &Fence,
    skipped: &mut Vec<String>,
) -> Result<Vec<ClipIndex>> {
    let frames = frame_files(dir)?;
    let (Some(&first), Some(&last)) = (frames.keys().next(), frames.keys().last()) else {
        bail!("no frames (NNNN.png|jpg)");
    };
    let bbox = dir.join("bbox.csv");
    fence.check(&bbox, "face boxes")?;
    let boxes = read_bbox(&bbox)?;
    let n = (last - first + 1) as usize;
    if n < spec.span() {
        bail!("{n} frames, fewer than one clip needs ({})", spec.span());
    }
    let mut out = Vec::new();
    for start in clip_starts(n, spec) {
        let nums: Vec<u32> = (0..spec.frames).map(|k| first + (start + k * spec.interval) as u32).collect();
        if let Some(m) = nums.iter().find(|n| !frames.contains_key(n)) {
            skipped.push(format!(
                "{}: frame {m:04} missing, clip starting at frame {} skipped",
                dir.display(),
                nums[0]
            ));
            continue;
        }
        let side = |suffix: &str, n: u32| {
            let p = dir.join(format!("{}_{suffix}.png", frames[&n].file_stem().unwrap().to_string_lossy()));
            p.is_file().then_some(p)
        };
        out.push(ClipIndex {
            video_id: rel.to_string(),
            instrument: instrument.to_string(),
            label,
            frame_paths: nums.iter().map(|n| frames[n].clone()).collect(),
            depth_paths: nums.iter().map(|&n| side("depth", n)).collect(),
            mask_paths: nums.iter().map(|&n| side("mask", n)).collect(),
            anchors: nums.iter().map(|n| boxes.get(n).map(|r| FaceAnchor::Box(*r))).collect(),
            video: None,
        });
    }
    Ok(out)
}

/// `bbox.csv`: lines `frame,x,y,w,h` (an optional header line starting with a letter, first).
pub fn read_bbox(path: &Path) -> Result<HashMap<u32, Rect>> {
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let text = crate::util::fs::read_text(path, "face boxes")?;
    parse_bbox(&text, &path.display().to_string())
}

/// The text of a `bbox.csv`; errors name `file` and the line.
pub fn parse_bbox(text: &str, file: &str) -> Result<HashMap<u32, Rect>> {
    let mut out = HashMap::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Only the first line may be a header: text further down is a damaged line, not skipped.
        let header = first && line.starts_with(|c: char| c.is_ascii_alphabetic());
        first = false;
        if header {
            continue;
        }
        let (frame, r) = parse_bbox_line(line).with_context(|| format!("{file}:{}", i + 1))?;
        out.insert(frame, r);
    }
    Ok(out)
}

/// Largest coordinate a face box may have (pixels; twice the largest image side accepted):
/// larger values are corrupt, and would make the label resampling loop for ages.
pub(crate) const MAX_BOX_COORD: f32 = 2.0 * super::imageops::MAX_IMAGE_SIDE as f32;
/// Smallest face box side (pixels): a smaller box is a unit mix-up (e.g. normalised coordinates).
pub(crate) const MIN_BOX_SIDE: f32 = 2.0;

/// One `frame,x,y,w,h` line: an integer frame number and a finite box of positive size.
pub fn parse_bbox_line(line: &str) -> Result<(u32, Rect)> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 5 {
        bail!("expected `frame,x,y,w,h` (5 fields), got {} in {line:?}", f.len());
    }
    let frame: u32 = f[0].parse().map_err(|_| {
        if !f[0].is_empty() && f[0].bytes().all(|b| b.is_ascii_digit()) {
            anyhow::anyhow!("frame number {} is too large (at most {})", f[0], u32::MAX)
        } else {
            anyhow::anyhow!("frame number {:?} is not a whole number", f[0])
        }
    })?;
    let mut v = [0f32; 4];
    for (k, s) in f[1..].iter().enumerate() {
        let x: f32 = s.parse().map_err(|_| anyhow::anyhow!("{s:?} is not a number in {line:?}"))?;
        if !x.is_finite() || x.abs() > MAX_BOX_COORD {
            bail!("{s:?} is not a usable coordinate (finite, at most {MAX_BOX_COORD}) in {line:?}");
        }
        v[k] = x;
    }
    if v[2] < MIN_BOX_SIDE || v[3] < MIN_BOX_SIDE {
        bail!("box width and height must be at least {MIN_BOX_SIDE} pixels in {line:?}");
    }
    Ok((frame, Rect { x: v[0], y: v[1], w: v[2], h: v[3] }))
}

/// `root/clips.csv`: header then `clip,instrument,...` -> instrument per clip path.
fn read_clips_csv(root: &Path, fence: &Fence) -> Result<HashMap<String, String>> {
    let path = root.join("clips.csv");
    let mut out = HashMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    let text = fence.read_text(&path, "clip list")?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if line.trim().is_empty() {
            continue;
        }
        if f.len() < 2 {
            bail!("{}:{}: expected `clip,instrument,...`", path.display(), i + 1);
        }
        out.insert(f[0].trim().to_string(), f[1].trim().to_string());
    }
    Ok(out)
}
