//! The camera sensor shared by every class: white balance, blur, noise, JPEG compression.

use crate::data::imageops::{gaussian_blur, jpeg_roundtrip, Img};
use anyhow::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug)]
pub struct Sensor {
    pub wb: [f32; 3],
    pub blur: f32,
    pub noise: f32,
    pub quality: u8,
}

impl Sensor {
    /// One camera's settings; `cross` uses the cross-set ranges (noisier, more compressed).
    pub fn random(rng: &mut ChaCha8Rng, cross: bool) -> Sensor {
        let mut g = || rng.random_range(0.92..1.08);
        let wb = [g(), g(), g()];
        if cross {
            Sensor {
                wb,
                blur: rng.random_range(0.6..1.2),
                noise: rng.random_range(4.0..8.0),
                quality: rng.random_range(35..60),
            }
        } else {
            Sensor {
                wb,
                blur: rng.random_range(0.0..0.6),
                noise: rng.random_range(1.0..4.0),
                quality: rng.random_range(70..95),
            }
        }
    }

    pub fn apply(&self, img: &Img, rng: &mut ChaCha8Rng) -> Result<Img> {
        let mut out = gaussian_blur(img, self.blur);
        for (i, v) in out.data.iter_mut().enumerate() {
            let n = gauss(rng) * self.noise;
            *v = (*v * self.wb[i % 3] + n).clamp(0.0, 255.0);
        }
        jpeg_roundtrip(&out, self.quality)
    }
}

/// Standard normal sample (Box-Muller).
pub fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(1e-7..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}
