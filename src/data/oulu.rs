//! OULU-NPU: `{Train,Dev,Test}_files/Phone_Session_User_Access.avi` with a same-name `.txt` of
//! per-frame eye positions (`frame,lx,ly,rx,ry`); Access 1 = live, 2-3 = print1/2, 4-5 =
//! replay1/2. Protocols: `Protocols/Protocol_N/{Train,Dev,Test}[_K].txt` (protocol "N" or
//! "N_K"). Frames come from `<Split>_files/<name>/NNNN.png` when decoded beforehand, else the
//! video is decoded with ffmpeg on first load into `<root>/.tdfas_frames/<name>/`.

use super::depth_label::FaceAnchor;
use super::{clip_starts, protocol, video, ClipIndex, ClipSpec, Fence, Split};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

fn split_dir(split: Split) -> &'static str {
    match split {
        Split::Train => "Train",
        Split::Dev => "Dev",
        Split::Test => "Test",
    }
}

/// Label and instrument from a name `Phone_Session_User_Access`.
pub fn parse_name(name: &str) -> Option<(u32, String)> {
    let parts: Vec<&str> = name.split('_').collect();
    if parts.len() != 4 || parts.iter().any(|p| p.parse::<u32>().is_err()) {
        return None;
    }
    match parts[3].parse::<u32>().ok()? {
        1 => Some((1, "live".into())),
        a @ 2..=3 => Some((0, format!("print{}", a - 1))),
        a @ 4..=5 => Some((0, format!("replay{}", a - 3))),
        _ => None,
    }
}

pub fn index(
    root: &Path,
    split: Split,
    protocol_name: Option<&str>,
    spec: &ClipSpec,
    fence: &Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    let dir = root.join(format!("{}_files", split_dir(split)));
    let mut skipped = Vec::new();
    let names: Vec<(String, Option<u32>)> = match protocol_name {
        Some(p) => {
            let (n, fold) = p.split_once('_').map_or((p, None), |(a, b)| (a, Some(b)));
            let file = match fold {
                Some(k) => format!("{}_{k}.txt", split_dir(split)),
                None => format!("{}.txt", split_dir(split)),
            };
            protocol::check_name(p)?;
            let path = root.join("Protocols").join(format!("Protocol_{n}")).join(file);
            fence.check(&path, "protocol file")?;
            protocol::read(&path)?.into_iter().map(|e| (e.name, Some(e.label))).collect()
        }
        None => {
            let mut v: Vec<(String, Option<u32>)> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot list {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .map(|p| (p.file_stem().unwrap().to_string_lossy().to_string(), None))
                .collect();
            v.sort();
            v
        }
    };
    let mut clips = Vec::new();
    for (name, plabel) in names {
        let Some((label, instrument)) = parse_name(&name) else {
            skipped.push(format!("{}: {name:?} is not Phone_Session_User_Access, skipped", dir.display()));
            continue;
        };
        let label = plabel.unwrap_or(label);
        match video_clips(root, &dir, &name, label, &instrument, spec, fence) {
            Ok((c, warn)) => {
                clips.extend(c);
                skipped.extend(warn);
            }
            Err(e) => skipped.push(format!("{name}: {e:#}, skipped")),
        }
    }
    Ok((clips, skipped))
}

/// Eye-position file: one line per frame `frame,lx,ly,rx,ry`; zeros = no detection.
pub fn read_eyes(path: &Path) -> Result<Vec<Option<FaceAnchor>>> {
    let text = crate::util::fs::read_text(path, "eye positions")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Vec<f32> = line
            .split([',', ' ', '\t'])
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse().unwrap_or(f32::NAN))
            .collect();
        if v.len() < 5 || v.iter().any(|x| !x.is_finite()) {
            bail!("{}:{}: expected `frame,lx,ly,rx,ry`, got {line:?}", path.display(), i + 1);
        }
        let ok = v[1..5].iter().any(|&x| x != 0.0) && (v[1] - v[3]).hypot(v[2] - v[4]) > 1.0;
        out.push(ok.then_some(FaceAnchor::Eyes { left: [v[1], v[2]], right: [v[3], v[4]] }));
    }
    Ok(out)
}

fn video_clips(
    root: &Path,
    dir: &Path,
    name: &str,
    label: u32,
    instrument: &str,
    spec: &ClipSpec,
    fence: &Fence,
) -> Result<(Vec<ClipIndex>, Vec<String>)> {
    let eyes_file = dir.join(format!("{name}.txt"));
    fence.check(&eyes_file, "eye positions")?;
    let eyes = read_eyes(&eyes_file)?;
    let (frame_dir, video): (PathBuf, Option<PathBuf>) = if dir.join(name).is_dir() {
        (dir.join(name), None)
    } else {
        let avi = dir.join(format!("{name}.avi"));
        if !avi.is_file() {
            bail!("neither {} nor decoded frames in {}", avi.display(), dir.join(name).display());
        }
        (video::cache_dir(root, &avi), Some(avi))
    };
    Ok(sample(name, label, instrument, &frame_dir, video, &eyes, spec))
}

/// Samples clips of a video whose frame i (0-based) is `frame_dir/{i+1:04}.png`, skipping clips
/// with a frame that has no face position.
pub fn sample(
    video_id: &str,
    label: u32,
    instrument: &str,
    frame_dir: &Path,
    video: Option<PathBuf>,
    anchors: &[Option<FaceAnchor>],
    spec: &ClipSpec,
) -> (Vec<ClipIndex>, Vec<String>) {
    let (mut clips, mut warn) = (Vec::new(), Vec::new());
    for start in clip_starts(anchors.len(), spec) {
        let idx: Vec<usize> = (0..spec.frames).map(|k| start + k * spec.interval).collect();
        if let Some(&bad) = idx.iter().find(|&&i| anchors[i].is_none()) {
            warn.push(format!("{video_id}: no face position for frame {}, clip at {} skipped", bad + 1, start + 1));
            continue;
        }
        let frame_path = |i: usize| {
            let png = frame_dir.join(format!("{:04}.png", i + 1));
            let jpg = frame_dir.join(format!("{:04}.jpg", i + 1));
            if !png.is_file() && jpg.is_file() {
                jpg
            } else {
                png
            }
        };
        clips.push(ClipIndex {
            video_id: video_id.to_string(),
            instrument: instrument.to_string(),
            label,
            frame_paths: idx.iter().map(|&i| frame_path(i)).collect(),
            depth_paths: vec![None; idx.len()],
            mask_paths: vec![None; idx.len()],
            anchors: idx.iter().map(|&i| anchors[i]).collect(),
            video: video.clone(),
        });
    }
    if anchors.len() < spec.span() {
        warn.push(format!(
            "{video_id}: {} frames, fewer than one clip needs ({}), skipped",
            anchors.len(),
            spec.span()
        ));
    }
    (clips, warn)
}
