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
    decode(video, dir)?;
    if let Some(p) = c.frame_paths.iter().find(|p| !p.is_file()) {
        bail!("{}: decoded video has no frame {}", video.display(), p.display());
    }
    Ok(())
}

/// Decodes every frame of `video` to `dir/NNNN.png` (1-based).
pub fn decode(video: &Path, dir: &Path) -> Result<()> {
    if !video.is_file() {
        bail!("video {} not found", video.display());
    }
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
        .arg(video)
        .args(["-start_number", "1"])
        .arg(dir.join("%04d.png"))
        .output()
        .context("running ffmpeg")?;
    if !out.status.success() {
        bail!("ffmpeg failed on {}: {}", video.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Folder for decoded frames of `video`: `<root>/.tdfas_frames/<stem>` when writable,
/// else the system temp folder.
pub fn cache_dir(root: &Path, video: &Path) -> std::path::PathBuf {
    let stem = video.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let base = root.join(".tdfas_frames");
    if std::fs::create_dir_all(&base).is_ok() {
        base.join(stem)
    } else {
        std::env::temp_dir().join("tdfas_frames").join(stem)
    }
}
