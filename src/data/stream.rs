//! Frames read as they arrive from FFmpeg through a pipe (raw RGB in PPM frames, so each frame
//! says its size): files of any length, standard input, FIFOs and cameras in bounded memory and
//! no disk. Inputs are passed to FFmpeg as files (`file:`), never as protocol strings, and
//! timestamps are passed through (a gap is not filled with copies of a frame).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};

use super::imageops::{Img, MAX_IMAGE_PIXELS};

/// What to read.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// a file or FIFO
    File(PathBuf),
    /// standard input (`-`)
    Stdin,
    /// a V4L2 camera, e.g. /dev/video0
    Camera(PathBuf),
}

impl Source {
    /// How the source is named in output.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Stdin => PathBuf::from("-"),
            Source::Camera(d) => d.clone(),
        }
    }
}

/// A running FFmpeg that decodes `Source` into frames.
pub struct FrameStream {
    child: Child,
    out: BufReader<ChildStdout>,
    name: String,
    /// frames read so far
    pub frames: usize,
}

impl FrameStream {
    pub fn open(source: &Source) -> Result<FrameStream> {
        FrameStream::open_with(source, true)
    }

    /// `open`, with FFmpeg's error lines shown or not (a file read again says its errors once).
    pub fn open_with(source: &Source, show_errors: bool) -> Result<FrameStream> {
        if !super::video::ffmpeg_available() {
            bail!("cannot read {}: the `ffmpeg` program is not installed", source.name().display());
        }
        // a missing file or camera is said as such, not as a video ffmpeg could not decode
        if let Source::File(p) | Source::Camera(p) = source {
            if std::fs::metadata(p).is_err() {
                bail!("{}: not found", crate::util::text::shown_path(p));
            }
        }
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error"]);
        match source {
            Source::File(p) => {
                let mut arg = std::ffi::OsString::from("file:");
                arg.push(p.as_os_str());
                cmd.arg("-i").arg(arg).stdin(Stdio::null());
            }
            Source::Stdin => {
                // -nostdin stops ffmpeg reading keys from the terminal, not reading pipe:0
                cmd.args(["-i", "pipe:0"]).stdin(Stdio::inherit());
            }
            Source::Camera(d) => {
                cmd.args(["-f", "v4l2", "-i"]).arg(d).stdin(Stdio::null());
            }
        }
        cmd.args(["-fps_mode", "passthrough", "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "pipe:1"]);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(if show_errors { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .with_context(|| format!("starting ffmpeg for {}", source.name().display()))?;
        let out = BufReader::new(child.stdout.take().expect("piped"));
        Ok(FrameStream { child, out, name: source.name().display().to_string(), frames: 0 })
    }

    /// The next frame, or None at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<Img>> {
        let Some((w, h)) =
            read_ppm_header(&mut self.out).with_context(|| format!("{}: frame {}", self.name, self.frames + 1))?
        else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; w * h * 3];
        self.out
            .read_exact(&mut bytes)
            .with_context(|| format!("{}: frame {} is cut short", self.name, self.frames + 1))?;
        self.frames += 1;
        Ok(Some(Img { w, h, c: 3, data: bytes.into_iter().map(f32::from).collect() }))
    }

    /// Waits for FFmpeg: an error when it failed (bad input) and gave no frame.
    pub fn finish(mut self) -> Result<()> {
        let status = self.child.wait().context("waiting for ffmpeg")?;
        if !status.success() && self.frames == 0 {
            bail!("{}: ffmpeg could not decode it ({status})", self.name);
        }
        Ok(())
    }
}

impl Drop for FrameStream {
    fn drop(&mut self) {
        // an early stop (an error, or a consumer that has what it needs) ends ffmpeg too
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The frames FFmpeg decodes from a video file, counted without converting or keeping any (the
/// same input and timestamp options as `FrameStream`, so the same frames). FFmpeg's error lines
/// on a damaged file that still decodes are returned; a file it cannot decode is an error.
pub fn count_frames(video: &Path) -> Result<(usize, Vec<String>)> {
    if !super::video::ffmpeg_available() {
        bail!("cannot read {}: the `ffmpeg` program is not installed", video.display());
    }
    let mut input = std::ffi::OsString::from("file:");
    input.push(video.as_os_str());
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(input)
        .args(["-fps_mode", "passthrough", "-f", "null", "-progress", "pipe:1", "-"])
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg")?;
    let errors: Vec<String> =
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
    if !out.status.success() {
        bail!("ffmpeg failed on {}: {}", video.display(), errors.join(" "));
    }
    // -progress writes `frame=N` blocks; the last one holds the total
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok((frames, errors))
}

/// `P6 <w> <h> <maxval>` and the single whitespace byte after it; None at a clean end.
fn read_ppm_header(r: &mut impl BufRead) -> Result<Option<(usize, usize)>> {
    let mut fields: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut byte = [0u8; 1];
    while fields.len() < 4 {
        if r.read(&mut byte)? == 0 {
            if fields.is_empty() && cur.is_empty() {
                return Ok(None);
            }
            bail!("the stream ended inside a frame header");
        }
        let b = byte[0];
        if b.is_ascii_whitespace() {
            if !cur.is_empty() {
                fields.push(std::mem::take(&mut cur));
            }
        } else if cur.len() < 16 {
            cur.push(b as char);
        } else {
            bail!("not a PPM frame header");
        }
    }
    if fields[0] != "P6" || fields[3] != "255" {
        bail!("not an 8-bit PPM frame ({fields:?})");
    }
    let (w, h): (usize, usize) = match (fields[1].parse(), fields[2].parse()) {
        (Ok(w), Ok(h)) => (w, h),
        _ => bail!("bad frame size {fields:?}"),
    };
    if w == 0 || h == 0 || (w * h) as u64 > MAX_IMAGE_PIXELS {
        bail!("frame size {w}x{h} is outside what tdfas reads (1 to {MAX_IMAGE_PIXELS} pixels)");
    }
    Ok(Some((w, h)))
}

/// Whether `p` is a FIFO (read as a stream, never opened as a file of frames).
pub fn is_fifo(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(p).is_ok_and(|m| m.file_type().is_fifo())
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_headers_parse_and_bad_ones_are_errors() {
        let mut ok = std::io::Cursor::new(b"P6\n3 2\n255\nrest".to_vec());
        assert_eq!(read_ppm_header(&mut ok).unwrap(), Some((3, 2)));
        assert_eq!(read_ppm_header(&mut std::io::Cursor::new(Vec::new())).unwrap(), None);
        assert!(read_ppm_header(&mut std::io::Cursor::new(b"P6\n3".to_vec())).is_err());
        assert!(read_ppm_header(&mut std::io::Cursor::new(b"P5\n3 2\n255\n".to_vec())).is_err());
        assert!(read_ppm_header(&mut std::io::Cursor::new(b"P6\n99999999 99999999\n255\n".to_vec())).is_err());
    }
}
