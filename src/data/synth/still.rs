//! Live videos of a person as their photograph shows them: the camera's frame is a window on
//! the identity's picture itself (its colours, warps and occluders, but no re-rendering), held
//! by a slightly moving hand, with the pseudo-depth of the mesh fitted to its landmarks
//! (`scene::photo_labels`). Every other live video is a rendering of the photo on the mesh and
//! proxies; without these, a natural photograph of a face would never be live in training,
//! and every real live face is one.

use super::scene::{photo_labels, Identity, Light, Rendered};
use crate::data::imageops::{Img, Rect};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Share of live videos shot as a still of the photo.
pub const STILL_LIVE: f64 = 0.25;

/// `frames` frames of `w x h` looking at the identity's photo, the face centred near (u, v) and
/// `face_h` pixels high where the photo allows (the window stays inside the picture, so no
/// photo edge is ever in view: a visible edge is a print's cue).
pub fn still_frames(
    id: &Identity,
    light: &Light,
    (w, h): (usize, usize),
    (u, v, face_h): (f32, f32, f32),
    frames: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Rendered> {
    let (tw, th) = (id.tex.w as f32, id.tex.h as f32);
    let (depth, mask, _) = photo_labels(id);
    // The whole frame is the picture (no generated scene shows), seen in the room's light: its
    // colour cast as on every other class (the camera's metering then sets the level).
    let cover = vec![1.0; depth.len()];
    let lit = light.colour.map(|c| c * light.level());
    // The face box in the photo's pixels.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for t in &id.uv {
        (x0, y0, x1, y1) = (x0.min(t[0] * tw), y0.min(t[1] * th), x1.max(t[0] * tw), y1.max(t[1] * th));
    }
    let (fcx, fcy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    // Frame pixels per photo pixel: the wanted face size, but at least what keeps the window
    // inside the photo (with room for the hand's drift).
    let fit = (w as f32 / tw).max(h as f32 / th) * 1.05;
    let scale0 = (face_h / (y1 - y0)).max(fit);
    let drift = [rng.random_range(-0.03..0.03f32), rng.random_range(-0.03..0.03f32), rng.random_range(-0.03..0.03f32)];
    let phase = rng.random_range(0.0..std::f32::consts::TAU);
    (0..frames)
        .map(|t| {
            let k = t as f32 / frames.max(2) as f32;
            let wobble = (phase + 5.0 * k).sin();
            let s = (scale0 * (1.0 + drift[2] * k + 0.005 * wobble)).max(fit);
            // Window origin in photo pixels: the face near (u, v), the window inside the photo.
            let (ww, wh) = (w as f32 / s, h as f32 / s);
            let ox = (fcx - u / s + (drift[0] * k + 0.004 * wobble) * ww).clamp(0.0, tw - ww);
            let oy = (fcy - v / s + (drift[1] * k + 0.004 * wobble) * wh).clamp(0.0, th - wh);
            let face = Rect { x: (x0 - ox) * s, y: (y0 - oy) * s, w: (x1 - x0) * s, h: (y1 - y0) * s };
            let mut f = window(id, &depth, &mask, &cover, [ox, oy, s], (w, h), face);
            for px in f.rgb.data.chunks_mut(3) {
                px.iter_mut().zip(lit).for_each(|(v, l)| *v *= l);
            }
            f
        })
        .collect()
}

/// The frame showing the photo from (ox, oy) at `s` frame pixels per photo pixel, each frame
/// pixel the mean of `k x k` samples over its footprint (k the shrink factor rounded up).
fn window(
    id: &Identity,
    depth: &[f32],
    mask: &[f32],
    cover: &[f32],
    [ox, oy, s]: [f32; 3],
    (w, h): (usize, usize),
    bbox: Rect,
) -> Rendered {
    let tex = &id.tex;
    let k = (1.0 / s).ceil().clamp(1.0, 8.0) as usize;
    let plane = |p: &[f32]| Img { w: tex.w, h: tex.h, c: 1, data: p.to_vec() };
    let (dp, mp, cp) = (plane(depth), plane(mask), plane(cover));
    let mut rgb = Img::new(w, h, 3);
    let (mut d, mut m, mut c) = (vec![0.0; w * h], vec![0.0; w * h], vec![0.0; w * h]);
    let norm = 1.0 / (k * k) as f32;
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 6];
            for b in 0..k {
                for a in 0..k {
                    let px = ox + (x as f32 + (a as f32 + 0.5) / k as f32) / s;
                    let py = oy + (y as f32 + (b as f32 + 0.5) / k as f32) / s;
                    for (a, c) in acc[..3].iter_mut().zip(tex.bilinear_rgb(px, py)) {
                        *a += c;
                    }
                    acc[3] += dp.bilinear(px, py, 0);
                    acc[4] += mp.bilinear(px, py, 0);
                    acc[5] += cp.bilinear(px, py, 0);
                }
            }
            let i = y * w + x;
            for (v, a) in rgb.data[i * 3..i * 3 + 3].iter_mut().zip(&acc) {
                *v = a * norm;
            }
            (d[i], m[i], c[i]) = (acc[3] * norm, acc[4] * norm, acc[5] * norm);
        }
    }
    Rendered { rgb, depth: d, mask: m, cover: c, bbox, jpeg: Vec::new() }
}
