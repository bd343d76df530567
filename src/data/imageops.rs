//! Small image helpers: float images (HWC, 0..255), crop + bilinear resize, area averaging,
//! flips and PNG/JPEG input/output.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A float image, interleaved channels (HWC), values in 0..255.
#[derive(Clone, Debug)]
pub struct Img {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

/// An axis-aligned rectangle in pixel units (x, y = top-left corner).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub fn full(w: usize, h: usize) -> Rect {
        Rect { x: 0.0, y: 0.0, w: w as f32, h: h as f32 }
    }

    /// Square of side `scale * max(w, h)` around this box's centre (the face crop).
    pub fn square_scaled(&self, scale: f32) -> Rect {
        let side = scale * self.w.max(self.h);
        let (cx, cy) = (self.x + self.w / 2.0, self.y + self.h / 2.0);
        Rect { x: cx - side / 2.0, y: cy - side / 2.0, w: side, h: side }
    }

    /// The square crop shrunk about its centre to fit a w x h image, but not below `min_side`:
    /// a photo cut close around the face is then looked at as closely as the photo allows
    /// instead of through its repeated edges.
    pub fn shrunk_to_fit(&self, w: usize, h: usize, min_side: f32) -> Rect {
        let side = self.w.min(w as f32).min(h as f32).max(min_side).min(self.w);
        let (cx, cy) = (self.x + self.w / 2.0, self.y + self.h / 2.0);
        Rect { x: cx - side / 2.0, y: cy - side / 2.0, w: side, h: side }
    }

    /// The same rectangle moved into a w x h image along each axis it fits in, and centred on
    /// the image along an axis it is longer than. A face near the frame's edge then keeps its
    /// surroundings in the crop instead of a border that is not in the scene.
    pub fn moved_inside(&self, w: usize, h: usize) -> Rect {
        let fit =
            |pos: f32, side: f32, dim: f32| if side <= dim { pos.clamp(0.0, dim - side) } else { (dim - side) / 2.0 };
        Rect { x: fit(self.x, self.w, w as f32), y: fit(self.y, self.h, h as f32), ..*self }
    }

    /// The whole-pixel part of this rectangle inside a w x h image (outward to whole pixels);
    /// None when that is under 2 pixels on a side.
    pub fn pixels_inside(&self, w: usize, h: usize) -> Option<Rect> {
        let x0 = self.x.floor().max(0.0);
        let y0 = self.y.floor().max(0.0);
        let x1 = (self.x + self.w).ceil().min(w as f32);
        let y1 = (self.y + self.h).ceil().min(h as f32);
        (x1 - x0 >= 2.0 && y1 - y0 >= 2.0).then_some(Rect { x: x0, y: y0, w: x1 - x0, h: y1 - y0 })
    }

    /// The share of the rectangle's area that lies inside a w x h image.
    pub fn share_inside(&self, w: usize, h: usize) -> f32 {
        let across = (self.x + self.w).min(w as f32) - self.x.max(0.0);
        let down = (self.y + self.h).min(h as f32) - self.y.max(0.0);
        (across.max(0.0) * down.max(0.0) / (self.w * self.h)).clamp(0.0, 1.0)
    }

    /// True when the point lies inside the rectangle.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }

    /// True when the rectangle has positive size and overlaps a w x h image.
    pub fn overlaps(&self, w: usize, h: usize) -> bool {
        self.w > 0.0
            && self.h > 0.0
            && self.x < w as f32
            && self.y < h as f32
            && self.x + self.w > 0.0
            && self.y + self.h > 0.0
    }
}

impl Img {
    pub fn new(w: usize, h: usize, c: usize) -> Img {
        Img { w, h, c, data: vec![0.0; w * h * c] }
    }

    /// The pixels under `r` (whole pixels inside the image, as `Rect::pixels_inside` gives).
    pub fn window(&self, r: Rect) -> Img {
        let (x0, y0, w, h) = (r.x as usize, r.y as usize, r.w as usize, r.h as usize);
        let mut out = Img::new(w, h, self.c);
        for y in 0..h {
            let src = ((y0 + y) * self.w + x0) * self.c;
            out.data[y * w * self.c..(y + 1) * w * self.c].copy_from_slice(&self.data[src..src + w * self.c]);
        }
        out
    }

    pub fn at(&self, x: usize, y: usize, ch: usize) -> f32 {
        self.data[(y * self.w + x) * self.c + ch]
    }

    pub fn set(&mut self, x: usize, y: usize, ch: usize, v: f32) {
        self.data[(y * self.w + x) * self.c + ch] = v;
    }

    /// Bilinear sample at continuous pixel coordinates (pixel centres at i + 0.5), clamped to
    /// the edge: a crop larger than the frame repeats its border pixels rather than padding
    /// with black, which no camera shows.
    pub fn bilinear(&self, x: f32, y: f32, ch: usize) -> f32 {
        let ([x0, y0, x1, y1], ax, ay) = self.bilinear_taps(x, y);
        let top = self.at(x0, y0, ch) * (1.0 - ax) + self.at(x1, y0, ch) * ax;
        let bot = self.at(x0, y1, ch) * (1.0 - ax) + self.at(x1, y1, ch) * ax;
        top * (1.0 - ay) + bot * ay
    }

    /// The four texels (x0, y0, x1, y1) around (x, y), clamped to the edge, and the weights
    /// of x1 and y1.
    fn bilinear_taps(&self, x: f32, y: f32) -> ([usize; 4], f32, f32) {
        let fx = (x - 0.5).clamp(0.0, (self.w - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        ([x0, y0, x1, y1], fx - x0 as f32, fy - y0 as f32)
    }

    /// `bilinear` of the three channels of an RGB image at once: the weights and texels are
    /// found once (the renderer's and the crop's hot loop), each channel computed exactly as
    /// `bilinear` computes it.
    pub fn bilinear_rgb(&self, x: f32, y: f32) -> [f32; 3] {
        debug_assert_eq!(self.c, 3);
        let ([x0, y0, x1, y1], ax, ay) = self.bilinear_taps(x, y);
        let texel = |x: usize, y: usize| {
            let i = (y * self.w + x) * 3;
            [self.data[i], self.data[i + 1], self.data[i + 2]]
        };
        let (a, b, c, d) = (texel(x0, y0), texel(x1, y0), texel(x0, y1), texel(x1, y1));
        [0, 1, 2].map(|ch| {
            let top = a[ch] * (1.0 - ax) + b[ch] * ax;
            let bot = c[ch] * (1.0 - ax) + d[ch] * ax;
            top * (1.0 - ay) + bot * ay
        })
    }

    /// Wrap-around bilinear sample of a texture at normalised coordinates (u, v in 0..1).
    pub fn sample_uv(&self, u: f32, v: f32, ch: usize) -> f32 {
        self.bilinear((u * self.w as f32).clamp(0.0, self.w as f32), (v * self.h as f32).clamp(0.0, self.h as f32), ch)
    }

    /// `sample_uv` of the three channels of an RGB image.
    pub fn sample_uv_rgb(&self, u: f32, v: f32) -> [f32; 3] {
        self.bilinear_rgb((u * self.w as f32).clamp(0.0, self.w as f32), (v * self.h as f32).clamp(0.0, self.h as f32))
    }
}

/// Crops `rect` out of `img` and resizes it to `size x size` (half-pixel centres); returns HWC.
/// Shrinking averages `k x k` bilinear samples per output pixel, k the shrink factor rounded
/// up (at most `MAX_TAPS`): a face crop of a phone photo is 10-30 times the model's input, and
/// one sample per pixel would alias its skin, hair and noise into a moire that reads as a print
/// or a screen. At k = 1 (no shrink) it is plain bilinear sampling.
pub fn crop_resize(img: &Img, rect: Rect, size: usize) -> Img {
    let mut out = Img::new(size, size, img.c);
    let (sx, sy) = (rect.w / size as f32, rect.h / size as f32);
    let k = (sx.max(sy).ceil() as usize).clamp(1, MAX_TAPS);
    let taps: Vec<f32> = (0..k).map(|t| (t as f32 + 0.5) / k as f32).collect();
    let norm = 1.0 / (k * k) as f32;
    for j in 0..size {
        for i in 0..size {
            if img.c == 3 {
                // the channels together, each summed in the same order as below
                let v = if k == 1 {
                    img.bilinear_rgb(rect.x + (i as f32 + 0.5) * sx, rect.y + (j as f32 + 0.5) * sy)
                } else {
                    let mut acc = [0.0f32; 3];
                    for &ty in &taps {
                        for &tx in &taps {
                            let c = img.bilinear_rgb(rect.x + (i as f32 + tx) * sx, rect.y + (j as f32 + ty) * sy);
                            acc.iter_mut().zip(c).for_each(|(a, c)| *a += c);
                        }
                    }
                    acc.map(|a| a * norm)
                };
                (0..3).for_each(|ch| out.set(i, j, ch, v[ch]));
                continue;
            }
            for ch in 0..img.c {
                let v = if k == 1 {
                    img.bilinear(rect.x + (i as f32 + 0.5) * sx, rect.y + (j as f32 + 0.5) * sy, ch)
                } else {
                    let mut acc = 0.0;
                    for &ty in &taps {
                        for &tx in &taps {
                            acc += img.bilinear(rect.x + (i as f32 + tx) * sx, rect.y + (j as f32 + ty) * sy, ch);
                        }
                    }
                    acc * norm
                };
                out.set(i, j, ch, v);
            }
        }
    }
    out
}

/// Most samples per side and output pixel in `crop_resize` (a 64-pixel input from a 4K frame).
const MAX_TAPS: usize = 32;

/// Area-averages channel 0 of `img` over `rect` into an `s x s` map (pixels outside the image
/// count as 0). Exact box averaging when the rect side is a multiple of s.
pub fn area_resample(img: &Img, rect: Rect, s: usize) -> Vec<f32> {
    // Samples per cell and side, capped: a huge (corrupt) box must not loop for ages.
    let k = ((rect.w.max(rect.h) / s as f32).ceil() as usize).clamp(1, 64);
    let mut out = vec![0.0; s * s];
    for j in 0..s {
        for i in 0..s {
            let mut acc = 0.0;
            for b in 0..k {
                let y = rect.y + (j as f32 + (b as f32 + 0.5) / k as f32) * rect.h / s as f32;
                for a in 0..k {
                    let x = rect.x + (i as f32 + (a as f32 + 0.5) / k as f32) * rect.w / s as f32;
                    if x >= 0.0 && y >= 0.0 && (x as usize) < img.w && (y as usize) < img.h {
                        acc += img.at(x as usize, y as usize, 0);
                    }
                }
            }
            out[j * s + i] = acc / (k * k) as f32;
        }
    }
    out
}

/// Averages `f x f` blocks of a planar single-channel map (w, h multiples of f).
pub fn downsample_plane(src: &[f32], w: usize, h: usize, f: usize) -> Vec<f32> {
    let (ow, oh) = (w / f, h / f);
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh * f {
        for x in 0..ow * f {
            out[(y / f) * ow + x / f] += src[y * w + x];
        }
    }
    let n = (f * f) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    out
}

/// Mirrors every row of width `w` (flips any stack of planar w-wide maps horizontally).
pub fn flip_rows(data: &mut [f32], w: usize) {
    for row in data.chunks_mut(w) {
        row.reverse();
    }
}

/// The image mirrored left to right (each pixel's channels kept together).
pub fn mirrored(img: &Img) -> Img {
    let c = img.c;
    let mut data = Vec::with_capacity(img.data.len());
    for row in img.data.chunks(img.w * c) {
        data.extend(row.chunks(c).rev().flatten());
    }
    Img { data, ..*img }
}

/// Largest image file read (bytes): a frame beyond it is refused before it is opened.
pub const MAX_IMAGE_FILE: u64 = 256 << 20;

/// Extensions of the image files tdfas reads as photos and frames (lower case).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

/// Whether a file name's extension is one of `IMAGE_EXTENSIONS` (any case).
pub fn is_image_file(p: &Path) -> bool {
    p.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
}

/// The frame number of an image named by its number alone, zero-padded to at least three digits
/// (`0001.png`, `001.jpg`, `12345.webp`: as `ffmpeg -i clip.mp4 %04d.png` writes frames); None
/// for any other name. Shorter or signed numbers (`1.jpg`, `+2.png`) name photos as often as
/// frames. The browser page's `FRAME_NAME` (src/web/app.js) is the same rule.
pub fn frame_number(p: &Path) -> Option<u32> {
    let stem = p.file_stem()?.to_str()?;
    let digits = stem.len() >= 3 && stem.bytes().all(|c| c.is_ascii_digit());
    if digits && is_image_file(p) {
        stem.parse().ok()
    } else {
        None
    }
}

pub fn load(path: &Path, gray: bool) -> Result<Img> {
    // a FIFO would block the open forever and /dev/zero would never end
    crate::util::fs::check_regular(path, "image", MAX_IMAGE_FILE)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot open image {}", path.display()))?;
    decode_as(&bytes, &path.display().to_string(), gray)
}

/// An RGB image from a file's bytes (the browser build's photos and frames), read as `load` reads files.
pub fn decode(bytes: &[u8], name: &str) -> Result<Img> {
    decode_as(bytes, name, false)
}

fn decode_as(bytes: &[u8], name: &str, gray: bool) -> Result<Img> {
    // Trust the bytes, not the extension (frames saved as .jpg are sometimes PNG).
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| read_error(name, e))?;
    let format = reader.format();
    // A JPEG cut short (an interrupted copy or download) decodes without an error, its missing
    // part grey, and would be scored as if complete.
    if format == Some(image::ImageFormat::Jpeg) && !jpeg_reaches_its_end(bytes) {
        bail!(
            "cannot read image {name}: the JPEG is truncated or damaged (its data ends before the end-of-image marker)"
        );
    }
    if format == Some(image::ImageFormat::WebP)
        && image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(bytes)).is_ok_and(|d| d.has_animation())
    {
        bail!(
            "cannot read image {name}: an animated WebP; tdfas reads still pictures only (save the frame to score \
             as PNG or JPEG, or the animation as a video)"
        );
    }
    reader.limits(decode_limits());
    let mut decoder = reader.into_decoder().map_err(|e| read_error(name, e))?;
    // Phones store photos sideways with an EXIF orientation tag: read them upright, as shown.
    let orientation =
        image::ImageDecoder::orientation(&mut decoder).unwrap_or(image::metadata::Orientation::NoTransforms);
    // The header first: a frame's f32 copy takes 12 bytes per pixel, so a small file claiming a
    // huge image must be refused before anything is decoded.
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    let pixels = w as u64 * h as u64;
    if pixels > MAX_IMAGE_PIXELS {
        bail!(
            "cannot read image {name}: {w}x{h} pixels is more than tdfas reads ({MAX_IMAGE_PIXELS} pixels at most): \
             downscale it first"
        );
    }
    let len = bytes.len() as u64;
    if pixels > pixel_budget(len.saturating_mul(png_pixels_per_byte(bytes, format))) {
        bail!(
            "cannot read image {name}: {w}x{h} pixels is more than a {len}-byte file can hold (a damaged or forged header)"
        );
    }
    let mut dyn_img = image::DynamicImage::from_decoder(decoder).map_err(|e| read_error(name, e))?;
    dyn_img.apply_orientation(orientation);
    Ok(if gray {
        let g = dyn_img.to_luma8();
        let (w, h) = (g.width() as usize, g.height() as usize);
        Img { w, h, c: 1, data: g.into_raw().into_iter().map(f32::from).collect() }
    } else {
        let g = dyn_img.to_rgb8();
        let (w, h) = (g.width() as usize, g.height() as usize);
        Img { w, h, c: 3, data: g.into_raw().into_iter().map(f32::from).collect() }
    })
}

/// A decoder's error as one line: its text already includes its cause (a chain would say it
/// twice), and some causes end in a newline.
fn read_error(name: &str, e: impl std::fmt::Display) -> anyhow::Error {
    let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    anyhow::anyhow!("cannot read image {name}: {text}")
}

/// Whether a JPEG's segments run to its end-of-image marker (trailing bytes after it, as some
/// cameras write, are fine). Segments are skipped by their lengths, so the EXIF thumbnail's own
/// end marker does not count; entropy-coded data is scanned for the next marker.
fn jpeg_reaches_its_end(b: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i < b.len() {
        if b[i] != 0xFF {
            i += 1; // stray bytes between segments: decoders skip them too
            continue;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1; // fill bytes
        }
        let Some(&code) = b.get(i) else { return false };
        i += 1;
        match code {
            0xD9 => return true,
            0x01 | 0xD0..=0xD8 => {} // no length
            _ => {
                let Some(len) = b.get(i..i + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return false;
                };
                i += len;
                if code == 0xDA {
                    // a scan: its data runs to the next marker (an FF that is not a stuffed 00, a
                    // restart marker or fill)
                    let is_marker = |j: usize| b[j] == 0xFF && !matches!(b[j + 1], 0x00 | 0xD0..=0xD7 | 0xFF);
                    while i + 1 < b.len() && !is_marker(i) {
                        i += 1;
                    }
                }
            }
        }
    }
    false
}

/// Pixels one byte of a PNG's uncompressed data holds: 8 / bits per pixel for black-and-white
/// and palette images of 1, 2 or 4 bits, else 1 (and for other formats).
fn png_pixels_per_byte(bytes: &[u8], format: Option<image::ImageFormat>) -> u64 {
    // IHDR comes first: bit depth at byte 24, colour type at 25
    if format != Some(image::ImageFormat::Png) || bytes.len() < 26 || &bytes[12..16] != b"IHDR" {
        return 1;
    }
    let channels = match bytes[25] {
        0 | 3 => 1,
        4 => 2,
        2 => 3,
        6 => 4,
        _ => return 1,
    };
    let bits = u64::from(bytes[24]) * channels;
    if (1..8).contains(&bits) {
        8 / bits
    } else {
        1
    }
}

/// Largest image side and decoder allocation accepted: a corrupt or hostile header claiming
/// e.g. 100000 x 100000 pixels is an error instead of a 30 GB allocation.
pub const MAX_IMAGE_SIDE: u32 = 16384;
pub const MAX_IMAGE_ALLOC: u64 = 1 << 30;

/// Most pixels one image may have (8K UHD is 33.2 million): 40 million pixels are 480 MB as f32.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Pixels an image file of `bytes` bytes may decode to, at one pixel per uncompressed byte
/// (scaled up by the caller for PNGs of fewer bits): deflate expands at most about 1032:1, so
/// more pixels than that claim data the file cannot hold; never more than MAX_IMAGE_PIXELS.
pub fn pixel_budget(bytes: u64) -> u64 {
    bytes.saturating_mul(1100).saturating_add(1 << 16).min(MAX_IMAGE_PIXELS)
}

pub fn decode_limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_IMAGE_SIDE);
    l.max_image_height = Some(MAX_IMAGE_SIDE);
    l.max_alloc = Some(MAX_IMAGE_ALLOC);
    l
}

pub fn decode_png_bytes(bytes: &[u8]) -> Result<Img> {
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().context("embedded image")?;
    reader.limits(decode_limits());
    let g = reader.decode().context("cannot decode embedded image")?.to_rgb8();
    let (w, h) = (g.width() as usize, g.height() as usize);
    Ok(Img { w, h, c: 3, data: g.into_raw().into_iter().map(f32::from).collect() })
}

pub fn to_u8(data: &[f32]) -> Vec<u8> {
    data.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()
}

pub fn save(img: &Img, path: &Path) -> Result<()> {
    let color = if img.c == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    image::save_buffer(path, &to_u8(&img.data), img.w as u32, img.h as u32, color)
        .with_context(|| format!("cannot write image {}", path.display()))
}

/// Encodes to JPEG at `quality` and decodes back (the sensor's compression artefacts).
pub fn jpeg_roundtrip(img: &Img, quality: u8) -> Result<Img> {
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality);
    image::ImageEncoder::write_image(
        enc,
        &to_u8(&img.data),
        img.w as u32,
        img.h as u32,
        image::ExtendedColorType::Rgb8,
    )
    .context("jpeg encode")?;
    decode_png_bytes(&buf)
}

/// Separable Gaussian blur of an HWC image (edge clamped).
pub fn gaussian_blur(img: &Img, sigma: f32) -> Img {
    if sigma < 0.05 {
        return img.clone();
    }
    let r = (sigma * 2.5).ceil() as isize;
    let kern: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kern.iter().sum();
    let pass = |src: &Img, horizontal: bool| {
        let mut out = Img::new(src.w, src.h, src.c);
        for y in 0..src.h {
            for x in 0..src.w {
                for ch in 0..src.c {
                    let mut acc = 0.0;
                    for (k, wgt) in kern.iter().enumerate() {
                        let d = k as isize - r;
                        let (sx, sy) = if horizontal {
                            ((x as isize + d).clamp(0, src.w as isize - 1) as usize, y)
                        } else {
                            (x, (y as isize + d).clamp(0, src.h as isize - 1) as usize)
                        };
                        acc += wgt * src.at(sx, sy, ch);
                    }
                    out.set(x, y, ch, acc / total);
                }
            }
        }
        out
    };
    pass(&pass(img, true), false)
}

/// The crop's brightness divided by its local mean (a Gaussian 8% of the side wide; colours
/// scaled alike, so hue and saturation stay): the light on the face, the exposure and the tone
/// of the camera that took it do not reach the network, its texture and colours do. Brightness
/// is Rec. 601 luma; the local mean maps to 128 (a small offset keeps dark corners from
/// blowing up).
pub fn local_contrast(img: &Img) -> Img {
    debug_assert_eq!(img.c, 3);
    let mut luma = Img::new(img.w, img.h, 1);
    for (l, p) in luma.data.iter_mut().zip(img.data.chunks(3)) {
        *l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    }
    let local = gaussian_blur(&luma, LOCAL_CONTRAST_SIGMA * img.w as f32);
    let mut out = img.clone();
    for (p, m) in out.data.chunks_mut(3).zip(&local.data) {
        let gain = 128.0 / (m + LOCAL_CONTRAST_OFFSET);
        p.iter_mut().for_each(|v| *v = (*v * gain).clamp(0.0, 255.0));
    }
    out
}

/// `local_contrast`'s Gaussian sigma over the crop side, and the levels added to the local mean.
const LOCAL_CONTRAST_SIGMA: f32 = 0.08;
const LOCAL_CONTRAST_OFFSET: f32 = 8.0;
