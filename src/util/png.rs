//! PNG files tdfas writes: encoded in memory with a tEXt "Software: tdfas" chunk (so a later run
//! knows the file is its own to replace) and written atomically (a full disk is an error naming
//! the file, never a zero-byte picture).

use std::path::Path;

use anyhow::{Context, Result};

/// Writes 8-bit RGB pixels (`w * h * 3` bytes) to `path`.
pub fn write_rgb8(path: &Path, w: u32, h: u32, rgb: &[u8]) -> Result<()> {
    let bytes = encode(w, h, png::ColorType::Rgb, rgb).with_context(|| format!("encoding {}", path.display()))?;
    crate::util::fs::write_atomic(path, &bytes)
}

/// Writes 8-bit grey pixels (`w * h` bytes) to `path`.
pub fn write_gray8(path: &Path, w: u32, h: u32, gray: &[u8]) -> Result<()> {
    let bytes =
        encode(w, h, png::ColorType::Grayscale, gray).with_context(|| format!("encoding {}", path.display()))?;
    crate::util::fs::write_atomic(path, &bytes)
}

fn encode(w: u32, h: u32, color: png::ColorType, pixels: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.add_text_chunk("Software".into(), crate::util::outputs::PNG_SOFTWARE.into())?;
    let mut writer = enc.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn written_pngs_are_recognised_as_tdfas_own() {
        let dir = std::env::temp_dir().join(format!("tdfas-png-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.png");
        super::write_rgb8(&p, 2, 1, &[0, 1, 2, 3, 4, 5]).unwrap();
        assert!(crate::util::outputs::png_by_tdfas(&p));
        let back = image::open(&p).unwrap().to_rgb8();
        assert_eq!(back.into_raw(), vec![0, 1, 2, 3, 4, 5]);
        std::fs::write(&p, b"\x89PNG not ours").unwrap();
        assert!(!crate::util::outputs::png_by_tdfas(&p));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
