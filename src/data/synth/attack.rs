//! Attack media: the printed photo (gamut, halftone or blur, paper grain) and the replay
//! screen (subpixel grid, gamma, colour cast), as textures for scene::Object::Sheet.

use super::sensor::gauss;
use crate::data::imageops::{gaussian_blur, Img};
use rand_chacha::ChaCha8Rng;

/// A printer: `halftone` dot pitch in texels (0 = none), ink blur, gamut range, saturation.
pub struct Printer {
    pub halftone: f32,
    pub blur: f32,
    pub lo: f32,
    pub hi: f32,
    pub saturation: f32,
    pub grain: f32,
}

/// print1: halftone laser print; print2: blurry inkjet on grainy paper with a narrower gamut.
pub fn printer(instrument: &str) -> Printer {
    if instrument == "print1" {
        Printer { halftone: 2.6, blur: 0.5, lo: 0.12, hi: 0.92, saturation: 0.85, grain: 3.0 }
    } else {
        Printer { halftone: 0.0, blur: 1.3, lo: 0.2, hi: 0.85, saturation: 0.7, grain: 8.0 }
    }
}

/// Prints `photo` (RGB 0..255): gamut compression, halftone or blur, paper grain.
pub fn print(photo: &Img, p: &Printer, rng: &mut ChaCha8Rng) -> Img {
    let mut out = photo.clone();
    for px in out.data.chunks_mut(3) {
        let g = (px[0] + px[1] + px[2]) / 3.0;
        for v in px.iter_mut() {
            let c = (g + p.saturation * (*v - g)).clamp(0.0, 255.0);
            *v = 255.0 * (p.lo + (p.hi - p.lo) * c / 255.0);
        }
    }
    if p.halftone > 0.0 {
        // Ordered dot screens, one angle per ink channel.
        for y in 0..out.h {
            for x in 0..out.w {
                for ch in 0..3 {
                    let a = 0.26 + ch as f32 * 0.52;
                    let (s, c) = f32::sin_cos(a);
                    let (u, v) = (c * x as f32 + s * y as f32, -s * x as f32 + c * y as f32);
                    let k = std::f32::consts::TAU / p.halftone;
                    let t = 0.5 + 0.5 * (k * u).cos() * (k * v).cos();
                    let val = out.at(x, y, ch) / 255.0;
                    out.set(x, y, ch, if val > t { 255.0 * p.hi } else { 255.0 * p.lo });
                }
            }
        }
    }
    let mut out = gaussian_blur(&out, p.blur);
    for v in out.data.iter_mut() {
        *v += gauss(rng) * p.grain;
    }
    out
}

/// A display: screen pixels across the content, gamma, colour cast, brightness, glare.
pub struct Display {
    pub pixels_per_texel: f32,
    pub gamma: f32,
    pub cast: [f32; 3],
    pub gloss: f32,
}

/// replay1: coarse pixels, bluish, gamma up; replay2: fine pixels, warm, glossy.
pub fn display(instrument: &str) -> Display {
    if instrument == "replay1" {
        Display { pixels_per_texel: 0.7, gamma: 1.3, cast: [0.9, 0.97, 1.12], gloss: 0.25 }
    } else {
        Display { pixels_per_texel: 1.15, gamma: 0.85, cast: [1.08, 1.0, 0.88], gloss: 0.5 }
    }
}

/// The screen texture for one video frame: the content resampled to the screen's pixels, each
/// pixel three vertical RGB stripes and a dark row gap (the camera resamples this -> moire).
pub fn screen(content: &Img, d: &Display) -> Img {
    let p = ((content.w as f32 * d.pixels_per_texel) as usize).max(8);
    let mut out = Img::new(3 * p, 3 * p, 3);
    for py in 0..p {
        for px in 0..p {
            let (u, v) = ((px as f32 + 0.5) / p as f32, (py as f32 + 0.5) / p as f32);
            let c: [f32; 3] = [0, 1, 2].map(|ch| {
                let x = (content.sample_uv(u, v, ch) / 255.0).clamp(0.0, 1.0);
                255.0 * x.powf(d.gamma) * d.cast[ch]
            });
            for sy in 0..3 {
                for sx in 0..3 {
                    let row = if sy == 2 { 0.6 } else { 1.0 };
                    for (ch, &value) in c.iter().enumerate() {
                        let stripe = if sx == ch { 1.6 } else { 0.7 };
                        out.set(3 * px + sx, 3 * py + sy, ch, value * stripe * row * 1.1);
                    }
                }
            }
        }
    }
    out
}
