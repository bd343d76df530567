//! Video decoding through the `ffmpeg` program (frames written once as NNNN.png, 1-based).

use super::ClipIndex;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// True when an `ffmpeg` program runs.
pub fn ffmpeg_available() -> bool {
    Command::new("ffmpeg").arg("-version").output().map(|o| o.status.success()).unwrap_or(false)
}

/// Decodes the clip's video into its frames' folder when a frame is missing.
pub fn ensure_frames(c: &ClipIndex) -> Result<()> {
    let Some(video) = &c.video else { return Ok(()) };
    if c.frame_paths.iter().all(|p| p.is_file()) {
        return Ok(());
    }
    let dir = match c.frame_paths.first().and_then(|p| p.parent()) {
        Some(d) => d,
        None => return Ok(()),
    };
    // partial decodes of killed runs (here, not when indexing: one listing per decode only)
    if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) {
        crate::util::fs::clean_stale_tmp(parent, &[name], false);
    }
    // Decode into a temporary sibling that then replaces the folder: a killed decode leaves no
    // half-filled cache (the folder is keyed by the video's content: one already there is an
    // older partial decode).
    crate::util::fs::write_dir_atomic(dir, |tmp| decode(video, tmp))?;
    if let Some(p) = c.frame_paths.iter().find(|p| !p.is_file()) {
        bail!("{}: decoded video has no frame {}", video.display(), p.display());
    }
    Ok(())
}

/// Largest video file tdfas decodes (bytes).
pub const MAX_VIDEO_BYTES: u64 = 16 << 30;

/// Most frames decoded from one video (10 minutes at 30 frames/s): each is a PNG on disk, so a
/// damaged file claiming hours of frames must not fill the disk. Later frames are left out with
/// a warning.
pub const MAX_VIDEO_FRAMES: usize = 18_000;

/// `video` as an FFmpeg input that names a file: ffmpeg reads "concat:a.mp4" or "http:..." as a
/// protocol, "file:" makes any name a file.
fn file_input(video: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from("file:");
    s.push(video.as_os_str());
    s
}

/// Decodes every frame of `video` to `dir/NNNN.png` (1-based), one PNG per frame stored in the
/// file (timestamps are not filled with copies), at most `MAX_VIDEO_FRAMES`.
pub fn decode(video: &Path, dir: &Path) -> Result<()> {
    crate::util::fs::check_regular(video, "video", MAX_VIDEO_BYTES)?;
    if !ffmpeg_available() {
        bail!(
            "cannot decode {}: the `ffmpeg` program is not installed (install FFmpeg, or decode the \
             video beforehand to {}/NNNN.png, numbered from 0001)",
            video.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create frame folder {}", dir.display()))?;
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(file_input(video))
        // a gap of an hour in the timestamps is one frame to the next, not 108,000 copies
        .args(["-fps_mode", "passthrough", "-frames:v"])
        .arg((MAX_VIDEO_FRAMES + 1).to_string())
        .args(["-start_number", "1"])
        .arg(dir.join("%04d.png"))
        .output()
        .context("running ffmpeg")?;
    let errors = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("ffmpeg failed on {}: {}", video.display(), errors.trim());
    }
    let extra = dir.join(format!("{:04}.png", MAX_VIDEO_FRAMES + 1));
    if extra.exists() {
        let _ = std::fs::remove_file(&extra);
        eprintln!(
            "warning: {} has more than {MAX_VIDEO_FRAMES} frames: only the first {MAX_VIDEO_FRAMES} are used",
            crate::util::text::shown_path(video)
        );
    }
    let lines: Vec<String> = errors.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    warn_decode_errors(video, &lines);
    Ok(())
}

/// FFmpeg decodes what it can of a truncated or damaged file and still exits 0: its error lines
/// are said in one warning.
pub fn warn_decode_errors(video: &Path, lines: &[String]) {
    if let Some(first) = lines.first() {
        eprintln!(
            "warning: ffmpeg reported {} error line(s) decoding {} (truncated or damaged file?), first: {}",
            lines.len(),
            video.display(),
            first.trim()
        );
    }
}

/// Folder for decoded frames of `video`: `<root>/.tdfas_frames/<stem>-<key>` when writable,
/// else the user's cache folder (`$XDG_CACHE_HOME/tdfas/frames`; never a shared temp folder,
/// where another user could plant a link under the predictable name). The key hashes the video's content (size, mtime, first 64 KiB),
/// its path and the dataset root, so a replaced video, or another dataset's video of the same
/// name, is decoded anew rather than trained on the old frames.
pub fn cache_dir(root: &Path, video: &Path) -> std::path::PathBuf {
    let stem = video.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let stem = format!("{stem}-{}", content_key(root, video));
    let base = root.join(".tdfas_frames");
    let base = if std::fs::create_dir_all(&base).is_ok() {
        base
    } else {
        crate::util::fs::cache_home().unwrap_or_else(std::env::temp_dir).join("tdfas").join("frames")
    };
    base.join(stem)
}

/// FNV-1a (64 bit) over the canonical root and video path, the video's size and mtime, and its
/// first 64 KiB, as hex (cheap enough to compute for every video when a dataset is indexed).
pub fn content_key(root: &Path, video: &Path) -> String {
    use std::io::Read;
    let mut h = crate::util::hash::Fnv1a::default();
    let mut eat = |bytes: &[u8]| h.eat(bytes);
    for p in [root, video] {
        let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        eat(p.as_os_str().as_encoded_bytes());
        eat(&[0]);
    }
    if let Ok(m) = std::fs::metadata(video) {
        eat(&m.len().to_le_bytes());
        let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        eat(&mtime.map_or(0, |d| d.as_nanos()).to_le_bytes());
    }
    if let Ok(f) = std::fs::File::open(video) {
        let mut head = Vec::with_capacity(1 << 16);
        let _ = f.take(1 << 16).read_to_end(&mut head);
        eat(&head);
    }
    format!("{:012x}", h.finish() >> 16)
}
