//! Attack media, each instrument a family with random per-video parameters: prints (gamut,
//! halftone or not, ink blur, paper grain, matte or glossy, margin or borderless (A's prints
//! both, B's photo prints borderless), cut-out,
//! flat or bent) and replay screens (subpixel layout and pitch, gamma, brightness, colour
//! cast, black level, bezel or filling the view, glare).
//!
//! Instruments: domain A prints `print_glossy`, `print_matte`, replays `replay_phone`,
//! `replay_monitor`; domain B prints `print_cutout`, `print_photo`, replays `replay_pentile`,
//! `replay_tablet`.

use super::scene::Subpixels;
use super::sensor::gauss;
use crate::data::imageops::{gaussian_blur, Img};
use anyhow::{bail, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The attack instruments of each domain: (prints, replays).
pub const INSTRUMENTS: [([&str; 2], [&str; 2]); 2] = [
    (["print_glossy", "print_matte"], ["replay_phone", "replay_monitor"]),
    (["print_cutout", "print_photo"], ["replay_pentile", "replay_tablet"]),
];

/// One printed sheet.
#[derive(Clone, Debug)]
pub struct Printer {
    /// Halftone dot pitch in texels (0 = continuous tone); at least 2.5, or the dot screen
    /// aliases in the texture itself.
    pub halftone: f32,
    /// How much of the halftone shows through (dot gain and ink spread soften it).
    pub halftone_mix: f32,
    pub blur: f32,
    /// Gamut: darkest and brightest printable level (fractions of 255).
    pub lo: f32,
    pub hi: f32,
    pub saturation: f32,
    pub grain: f32,
    /// Glare strength and sharpness (glossy paper: strong and sharp; matte: a weak sheen).
    pub gloss: f32,
    pub sharpness: f32,
    /// White margin around the photo, as a fraction of the sheet (0 = borderless).
    pub margin: f32,
    /// Cut along an ellipse around the face (no paper around the head).
    pub cutout: bool,
    /// Cylinder radius in metres (0 = flat).
    pub bend: f32,
    pub paper: [f32; 3],
}

pub fn printer(instrument: &str, rng: &mut ChaCha8Rng) -> Result<Printer> {
    let bend = |rng: &mut ChaCha8Rng, p: f64| if rng.random_bool(p) { rng.random_range(0.12..0.35) } else { 0.0 };
    // A white margin on 60% of A's prints: a model that only knows bordered prints takes a
    // borderless one for a face (cross-domain, B's cut-outs were most of its errors).
    let margin = |rng: &mut ChaCha8Rng| if rng.random_bool(0.6) { rng.random_range(0.03..0.1) } else { 0.0 };
    let paper = [rng.random_range(225.0..250.0), rng.random_range(222.0..247.0), rng.random_range(212.0..240.0)];
    let mut p = Printer {
        halftone: 0.0,
        halftone_mix: rng.random_range(0.3..0.7),
        blur: 0.5,
        lo: rng.random_range(0.08..0.2),
        hi: rng.random_range(0.84..0.95),
        saturation: rng.random_range(0.65..0.95),
        grain: rng.random_range(2.0..8.0),
        gloss: 0.05,
        sharpness: 8.0,
        margin: 0.0,
        cutout: false,
        bend: 0.0,
        paper,
    };
    match instrument {
        "print_glossy" => {
            p.halftone = rng.random_range(2.5..4.0);
            p.gloss = rng.random_range(0.1..0.45);
            p.sharpness = rng.random_range(60.0..250.0);
            p.margin = margin(rng);
            p.bend = bend(rng, 0.5);
        }
        "print_matte" => {
            p.blur = rng.random_range(0.8..1.6);
            p.margin = margin(rng);
            p.bend = bend(rng, 0.35);
        }
        "print_cutout" => {
            p.halftone = if rng.random_bool(0.5) { rng.random_range(2.5..4.0) } else { 0.0 };
            p.blur = rng.random_range(0.4..1.2);
            if rng.random_bool(0.5) {
                p.gloss = rng.random_range(0.1..0.4);
                p.sharpness = rng.random_range(60.0..250.0);
            }
            p.cutout = true;
            p.bend = bend(rng, 0.5);
        }
        "print_photo" => {
            p.blur = rng.random_range(0.3..0.8);
            p.lo = rng.random_range(0.03..0.1);
            p.saturation = rng.random_range(0.9..1.1);
            p.grain = rng.random_range(1.0..3.0);
            p.gloss = rng.random_range(0.15..0.5);
            p.sharpness = rng.random_range(80.0..300.0);
            p.bend = bend(rng, 0.3);
        }
        other => bail!("unknown print instrument {other:?}"),
    }
    Ok(p)
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
                    let dot = if val > t { 255.0 * p.hi } else { 255.0 * p.lo };
                    out.set(x, y, ch, p.halftone_mix * dot + (1.0 - p.halftone_mix) * 255.0 * val);
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

/// One replay display.
#[derive(Clone, Debug)]
pub struct Display {
    pub layout: Subpixels,
    /// Subpixel pattern contrast after the camera's optics (0 flat .. 1 sharp).
    pub contrast: f32,
    /// Screen pixel pitch in camera pixels (below ~1: the camera aliases the grid into moire).
    pub pitch: f32,
    pub gamma: f32,
    pub gain: f32,
    pub cast: [f32; 3],
    /// Ambient light the black screen reflects (0..255 before lighting).
    pub black: f32,
    /// Bezel width as a fraction of the screen; `fill` = the screen fills the view (no bezel
    /// or scene in sight).
    pub bezel: f32,
    pub fill: bool,
    pub bezel_colour: [f32; 3],
    pub gloss: f32,
    pub sharpness: f32,
    /// Width / height of the screen.
    pub aspect: f32,
}

pub fn display(instrument: &str, rng: &mut ChaCha8Rng) -> Result<Display> {
    let mut cast = [rng.random_range(0.88..1.1), 1.0, rng.random_range(0.85..1.15)];
    let g = (cast[0] + cast[1] + cast[2]) / 3.0;
    cast = cast.map(|c| c / g);
    let grey = rng.random_range(10.0..40.0);
    let bezel_colour =
        if rng.random_bool(0.7) { [grey, grey, grey * 1.05] } else { [rng.random_range(150.0..220.0); 3] };
    let mut d = Display {
        layout: Subpixels::Stripe,
        contrast: rng.random_range(0.05..0.3),
        pitch: rng.random_range(0.45..1.3),
        gamma: rng.random_range(0.8..1.35),
        gain: rng.random_range(0.75..1.25),
        cast,
        black: rng.random_range(5.0..30.0),
        bezel: rng.random_range(0.03..0.08),
        fill: false,
        bezel_colour,
        gloss: rng.random_range(0.1..0.4),
        sharpness: rng.random_range(60.0..300.0),
        aspect: if rng.random_bool(0.5) { 16.0 / 9.0 } else { 9.0 / 16.0 },
    };
    match instrument {
        "replay_phone" => {}
        "replay_monitor" => {
            d.pitch = rng.random_range(0.6..1.6);
            d.gloss = rng.random_range(0.02..0.12);
            d.sharpness = 10.0;
            d.fill = rng.random_bool(0.6);
            d.aspect = 16.0 / 10.0;
        }
        "replay_pentile" => {
            d.layout = Subpixels::PenTile;
            d.fill = rng.random_bool(0.4);
        }
        "replay_tablet" => {
            d.pitch = rng.random_range(0.4..0.9);
            d.fill = rng.random_bool(0.5);
            d.aspect = 4.0 / 3.0;
        }
        other => bail!("unknown replay instrument {other:?}"),
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prints_of_each_instrument_have_their_borders() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let margins = |name: &str, rng: &mut ChaCha8Rng| -> Vec<f32> {
            (0..200).map(|_| printer(name, rng).unwrap().margin).collect()
        };
        // Domain A: bordered and borderless sheets, about 60 / 40.
        for name in INSTRUMENTS[0].0 {
            let m = margins(name, &mut rng);
            let bordered = m.iter().filter(|&&v| v > 0.0).count();
            assert!((95..145).contains(&bordered), "{name}: {bordered} of 200 bordered");
            assert!(m.iter().all(|&v| v == 0.0 || (0.03..0.1).contains(&v)), "{name}");
        }
        // Domain B: borderless photos, and cut-outs (no sheet around the head).
        assert!(margins("print_photo", &mut rng).iter().all(|&v| v == 0.0));
        assert!((0..20).all(|_| printer("print_cutout", &mut rng).unwrap().cutout));
        assert!(printer("print_laser", &mut rng).unwrap_err().to_string().contains("print_laser"));
    }
}
