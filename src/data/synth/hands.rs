//! Hands in the picture. A print or a phone is held by someone, so real attack videos often
//! show a thumb over the sheet's edge and the hand around it; live people raise a hand to the
//! chin or cheek now and then. Both classes get hands (attacks more often), painted onto each
//! rendered frame before the camera's sensor sees it, so they carry the same light, noise and
//! compression as the rest of the frame. A hand never covers the face itself (its labels stay
//! as rendered).

use super::scene::{Light, Rendered};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How often a video shows a hand: attacks (holding the medium), live (near the face).
pub const HAND_ON_ATTACK: f64 = 0.5;
pub const HAND_ON_LIVE: f64 = 0.15;

/// One hand for a whole video; where it is in each frame follows the object it belongs to.
#[derive(Clone, Debug)]
pub struct Hand {
    /// Which edge of the held sheet (attacks) or which side of the face (live): 0 left,
    /// 1 right, 2 bottom.
    side: usize,
    /// Where along that edge (0..1).
    along: f32,
    /// Finger width as a fraction of the face box height.
    finger: f32,
    /// Skin colour (0..255, before the light).
    skin: [f32; 3],
    /// Tilt of the fingers off the edge's normal, radians.
    tilt: f32,
    /// Holding a sheet (a thumb over its front, the palm behind it) or raised near a face.
    holds_sheet: bool,
}

impl Hand {
    pub fn random(rng: &mut ChaCha8Rng, holds_sheet: bool) -> Hand {
        // Skin tones from light to dark, a little red.
        let l = rng.random_range(60.0..235.0f32);
        let skin = [l * rng.random_range(1.0..1.12), l * rng.random_range(0.78..0.9), l * rng.random_range(0.62..0.8)];
        Hand {
            side: rng.random_range(0..3),
            along: rng.random_range(0.2..0.8),
            finger: rng.random_range(0.14..0.2),
            skin,
            tilt: rng.random_range(-0.5..0.5),
            holds_sheet,
        }
    }

    /// Paints the hand onto a rendered frame lit by `light`.
    pub fn paint(&self, f: &mut Rendered, light: &Light) {
        let (w, h) = (f.rgb.w, f.rgb.h);
        let fw = (self.finger * f.bbox.h).max(2.0);
        let Some((anchor, inward)) = self.anchor(f) else { return };
        let (nx, ny) = (
            inward[0] * self.tilt.cos() - inward[1] * self.tilt.sin(),
            inward[0] * self.tilt.sin() + inward[1] * self.tilt.cos(),
        );
        let (px, py) = (-ny, nx); // across the fingers
        let mut capsules: Vec<([f32; 2], [f32; 2], f32)> = Vec::new();
        if self.holds_sheet {
            // The thumb reaches over the edge onto the sheet; the palm and the other fingers are
            // outside it (behind the sheet, seen beside it).
            let a = [anchor[0] - nx * 1.2 * fw, anchor[1] - ny * 1.2 * fw];
            capsules.push((a, [anchor[0] + nx * 1.6 * fw, anchor[1] + ny * 1.6 * fw], 0.55 * fw));
            for k in 0..3 {
                let o = (k as f32 - 1.0) * 1.05 * fw + 1.8 * fw;
                let b = [anchor[0] - nx * 0.4 * fw + px * o, anchor[1] - ny * 0.4 * fw + py * o];
                capsules.push((b, [b[0] - nx * 2.5 * fw, b[1] - ny * 2.5 * fw], 0.5 * fw));
            }
            capsules.push((
                [anchor[0] - nx * 3.0 * fw + px * 1.5 * fw, anchor[1] - ny * 3.0 * fw + py * 1.5 * fw],
                a,
                1.5 * fw,
            ));
        } else {
            // Four fingers pointing up along the face's side from a palm below them.
            let base = [anchor[0] - nx * 0.5 * fw, anchor[1] - ny * 0.5 * fw];
            for k in 0..4 {
                let o = (k as f32 - 1.5) * 1.02 * fw;
                let len = [2.6, 3.0, 2.9, 2.3][k] * fw;
                let b = [base[0] + px * o, base[1] + py * o];
                capsules.push((b, [b[0] + nx * len, b[1] + ny * len], 0.5 * fw));
            }
            capsules.push(([base[0] - nx * 1.5 * fw, base[1] - ny * 1.5 * fw], base, 1.8 * fw));
            capsules.push((
                [base[0] - nx * 4.0 * fw, base[1] - ny * 4.0 * fw],
                [base[0] - nx * 1.5 * fw, base[1] - ny * 1.5 * fw],
                1.2 * fw,
            ));
        }
        let lit = light.colour.map(|c| c * light.level());
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if f.mask[i] >= 0.5 {
                    continue; // never over the face: its labels stay as rendered
                }
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                // Coverage (1 px soft edge) and a rounded profile across the nearest capsule.
                let mut best = (0.0f32, 0.0f32);
                for &(a, b, r) in &capsules {
                    let d = segment_distance(p, a, b);
                    let cover = (r - d + 0.5).clamp(0.0, 1.0);
                    if cover > best.0 {
                        best = (cover, (1.0 - (d / r).min(1.0).powi(2)).sqrt());
                    }
                }
                if best.0 <= 0.0 {
                    continue;
                }
                let shade = 0.6 + 0.4 * best.1;
                let px = &mut f.rgb.data[i * 3..i * 3 + 3];
                for ((v, s), l) in px.iter_mut().zip(self.skin).zip(lit) {
                    *v = *v * (1.0 - best.0) + best.0 * s * shade * l;
                }
                f.cover[i] = f.cover[i].max(best.0);
            }
        }
    }

    /// The point the hand grips (a sheet's edge) or rests at (beside a face), and the
    /// direction its fingers point, in pixels; None when nothing to hold is in view.
    fn anchor(&self, f: &Rendered) -> Option<([f32; 2], [f32; 2])> {
        let b = f.bbox;
        if !self.holds_sheet {
            // Beside the chin, fingers up (the hand on the bottom edge: below the chin).
            let (x, dir) = match self.side {
                0 => (b.x - 0.1 * b.w, [0.25, -1.0]),
                1 => (b.x + 1.1 * b.w, [-0.25, -1.0]),
                _ => (b.x + self.along * b.w, [0.0, -1.0]),
            };
            let y = if self.side == 2 { b.y + 1.35 * b.h } else { b.y + 1.05 * b.h };
            return Some(([x, y], dir));
        }
        // The sheet's extent: where the object covers the frame.
        let (w, h) = (f.rgb.w, f.rgb.h);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..h {
            for x in 0..w {
                if f.cover[y * w + x] > 0.5 {
                    (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                }
            }
        }
        if x0 > x1 || y0 > y1 {
            return None;
        }
        let (x0, y0, x1, y1) = (x0 as f32, y0 as f32, x1 as f32 + 1.0, y1 as f32 + 1.0);
        let (ax, ay) = (x0 + self.along * (x1 - x0), y0 + (0.35 + 0.5 * self.along) * (y1 - y0));
        Some(match self.side {
            0 => ([x0, ay], [1.0, 0.0]),
            1 => ([x1, ay], [-1.0, 0.0]),
            _ => ([ax, y1], [0.0, -1.0]),
        })
    }
}

/// Distance from `p` to the segment a-b.
fn segment_distance(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    ((p[0] - a[0] - t * dx).powi(2) + (p[1] - a[1] - t * dy).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageops::{Img, Rect};
    use rand::SeedableRng;

    /// A 96 x 72 grey frame with a sheet covering x 20..76, y 10..66 and a face box inside it.
    fn frame() -> Rendered {
        let (w, h) = (96, 72);
        let mut rgb = Img::new(w, h, 3);
        rgb.data.iter_mut().for_each(|v| *v = 128.0);
        let inside = |x: usize, y: usize, r: [usize; 4]| x >= r[0] && x < r[2] && y >= r[1] && y < r[3];
        let cover = (0..w * h).map(|i| f32::from(u8::from(inside(i % w, i / w, [20, 10, 76, 66])))).collect();
        let mask = (0..w * h).map(|i| f32::from(u8::from(inside(i % w, i / w, [36, 20, 60, 50])))).collect();
        Rendered {
            rgb,
            depth: vec![0.0; w * h],
            mask,
            cover,
            bbox: Rect { x: 36.0, y: 20.0, w: 24.0, h: 30.0 },
            jpeg: Vec::new(),
        }
    }

    #[test]
    fn a_hand_grips_the_sheet_edge_and_never_covers_the_face() {
        let light = Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.5 };
        let mut painted = 0;
        for seed in 0..12 {
            let hand = Hand::random(&mut ChaCha8Rng::seed_from_u64(seed), true);
            let mut f = frame();
            hand.paint(&mut f, &light);
            let changed: Vec<usize> = (0..f.mask.len()).filter(|&i| f.rgb.data[i * 3] != 128.0).collect();
            assert!(changed.iter().all(|&i| f.mask[i] < 0.5), "seed {seed}: the hand covers the face");
            // Some of the hand is on the sheet (the thumb) and some beside it (the palm).
            let on_sheet = changed.iter().filter(|&&i| frame().cover[i] > 0.5).count();
            assert!(on_sheet > 5 && changed.len() > on_sheet + 5, "seed {seed}: {on_sheet} of {}", changed.len());
            painted += 1;
        }
        assert_eq!(painted, 12);
    }

    #[test]
    fn a_live_hand_rests_beside_or_below_the_face() {
        let light = Light { dir: [0.0, 0.0, -1.0], colour: [1.0; 3], ambient: 0.5 };
        for seed in 0..12 {
            let hand = Hand::random(&mut ChaCha8Rng::seed_from_u64(seed), false);
            let mut f = frame();
            hand.paint(&mut f, &light);
            let w = f.rgb.w;
            let changed: Vec<usize> = (0..f.mask.len()).filter(|&i| f.rgb.data[i * 3] != 128.0).collect();
            assert!(!changed.is_empty() && changed.iter().all(|&i| f.mask[i] < 0.5), "seed {seed}");
            // Nothing of it above the face box (no hand on the forehead).
            assert!(changed.iter().all(|&i| (i / w) as f32 >= 20.0), "seed {seed}: a hand above the face");
        }
    }
}
