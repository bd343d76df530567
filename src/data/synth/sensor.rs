//! The camera sensor shared by every class: exposure, white balance, tone curve, blur,
//! signal-dependent noise, JPEG compression. Each domain has its own ranges.

use crate::data::imageops::{decode_png_bytes, gaussian_blur, to_u8, Img};
use anyhow::{Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct Sensor {
    pub exposure: f32,
    pub wb: [f32; 3],
    /// Tone curve exponent (output = 255 (v/255)^gamma).
    pub gamma: f32,
    pub blur: f32,
    /// Read noise (levels) and shot noise (levels at full scale).
    pub noise: f32,
    pub shot: f32,
    pub quality: u8,
}

impl Sensor {
    /// One camera's settings: domain 0 (A) a cleaner webcam range, 1 (B) a noisier, more
    /// compressed phone range with stronger white balance errors.
    pub fn random(rng: &mut ChaCha8Rng, domain: usize) -> Sensor {
        let (wb, exp, blur, noise, shot, q) = if domain == 0 {
            (0.08, (0.8, 1.2), (0.0, 0.8), (1.0, 4.0), (0.0, 4.0), (60, 95))
        } else {
            (0.14, (0.7, 1.3), (0.3, 1.3), (2.5, 7.0), (2.0, 8.0), (35, 80))
        };
        let mut g = || rng.random_range(1.0 - wb..1.0 + wb);
        let wb = [g(), g(), g()];
        Sensor {
            exposure: rng.random_range(exp.0..exp.1),
            wb,
            gamma: rng.random_range(0.85..1.15),
            blur: rng.random_range(blur.0..blur.1),
            noise: rng.random_range(noise.0..noise.1),
            shot: rng.random_range(shot.0..shot.1),
            quality: rng.random_range(q.0..q.1),
        }
    }

    /// The frame as the camera records it: the JPEG file's bytes and the decoded image.
    pub fn apply(&self, img: &Img, rng: &mut ChaCha8Rng) -> Result<(Vec<u8>, Img)> {
        let mut out = gaussian_blur(img, self.blur);
        for (i, v) in out.data.iter_mut().enumerate() {
            let lin = (*v * self.exposure * self.wb[i % 3] / 255.0).clamp(0.0, 1.0);
            let s = self.noise + self.shot * lin.sqrt();
            *v = (255.0 * lin.powf(self.gamma) + gauss(rng) * s).clamp(0.0, 255.0);
        }
        let mut jpeg = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, self.quality);
        image::ImageEncoder::write_image(
            enc,
            &to_u8(&out.data),
            out.w as u32,
            out.h as u32,
            image::ExtendedColorType::Rgb8,
        )
        .context("jpeg encode")?;
        let decoded = decode_png_bytes(&jpeg)?;
        Ok((jpeg, decoded))
    }
}

/// Standard normal sample (Box-Muller).
pub fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}
