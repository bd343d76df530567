//! Real photographs behind the subject (sources and licences in assets/README.md): a rocket on
//! its launch pad, a man with a camera on a lawn, a café table, a cat indoors, a brick wall,
//! grass. The same pool for every class and domain.

use crate::data::imageops::{decode_png_bytes, Img};
use std::sync::OnceLock;

const JPEGS: [&[u8]; 6] = [
    include_bytes!("../../../assets/bg_rocket.jpg"),
    include_bytes!("../../../assets/bg_camera.jpg"),
    include_bytes!("../../../assets/bg_coffee.jpg"),
    include_bytes!("../../../assets/bg_chelsea.jpg"),
    include_bytes!("../../../assets/bg_brick.jpg"),
    include_bytes!("../../../assets/bg_grass.jpg"),
];

pub const PLACES: usize = JPEGS.len();

/// Place photo `i` (RGB 0..255), decoded once.
pub fn place(i: usize) -> &'static Img {
    static P: OnceLock<Vec<Img>> = OnceLock::new();
    let all = P.get_or_init(|| {
        JPEGS
            .iter()
            .enumerate()
            .map(|(k, b)| decode_png_bytes(b).unwrap_or_else(|e| panic!("place {k}: {e}")))
            .collect()
    });
    &all[i % PLACES]
}

/// Mirrored repetition of `t` into 0..1 (a view wider than the photo shows it reflected, with
/// no seam).
pub fn mirror_wrap(t: f32) -> f32 {
    let m = t.rem_euclid(2.0);
    if m > 1.0 {
        2.0 - m
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_decode_and_wrap_without_seams() {
        for i in 0..PLACES {
            let p = place(i);
            assert!(p.w >= 200 && p.h >= 150, "place {i}: {} x {}", p.w, p.h);
        }
        assert_eq!(mirror_wrap(0.25), 0.25);
        assert!((mirror_wrap(1.25) - 0.75).abs() < 1e-6 && (mirror_wrap(-0.25) - 0.25).abs() < 1e-6);
    }
}
