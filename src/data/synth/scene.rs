//! The synthetic camera: identities (deformed mesh + per-identity texture), lights, background
//! scenes, poses, and one perspective z-buffer render for every class (a face mesh, or a
//! textured print / screen surface), either of the whole scene or face-cropped.

use super::noise::{fbm, hsv};
use super::person::{Part, Person};
use crate::data::depth_label::normalise_depth;
use crate::data::imageops::{downsample_plane, gaussian_blur, Img, Rect};
use crate::data::mesh::{self, canonical, dot, normalize, rotate, FaceMesh};
use crate::data::raster::Raster;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One person: a deformed mesh and its own skin texture (photo variation, occluders).
#[derive(Clone)]
pub struct Identity {
    pub verts: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    /// Texture over the mesh's uv (the source photo's frame), RGB 0..255.
    pub tex: Img,
    /// Texture coordinates of each vertex in `tex`.
    pub uv: Vec<[f32; 2]>,
    /// The rest of the photo around the face: hair, ears, neck, shoulders, clothes.
    pub person: Person,
}

/// Smooth displacement of the vertices near `centre` (Gaussian fall-off, `sigma` metres).
fn bump(verts: &mut [[f32; 3]], centre: [f32; 3], sigma: f32, d: [f32; 3]) {
    for p in verts.iter_mut() {
        let r2 = (p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2) + (p[2] - centre[2]).powi(2);
        let w = (-r2 / (2.0 * sigma * sigma)).exp();
        for k in 0..3 {
            p[k] += d[k] * w;
        }
    }
}

/// A head shape: global deformations (nose depth, face width, jaw, depth) and a few random
/// local bumps of the canonical mesh; `strength` scales every range.
pub fn head_shape(rng: &mut ChaCha8Rng, strength: f32) -> Vec<[f32; 3]> {
    let w = 0.15 * strength;
    let nose = 1.0 + rng.random_range(-w..w) * 2.0;
    let width = 1.0 + rng.random_range(-w..w) * 0.6;
    let jaw = 1.0 + rng.random_range(-w..w);
    let depth = 1.0 + rng.random_range(-w..w) * 0.6;
    let m = canonical();
    let tip = m.verts[mesh::NOSE_TIP];
    let mut verts: Vec<[f32; 3]> = m
        .verts
        .iter()
        .map(|v| {
            let mut p = *v;
            let r2 = (p[0] - tip[0]).powi(2) + (p[1] - tip[1]).powi(2);
            let wn = (-r2 / (2.0 * 0.025f32.powi(2))).exp();
            let z0 = tip[2] + 0.035;
            p[2] = z0 + (p[2] - z0) * (1.0 + (nose - 1.0) * wn);
            let lower = ((p[1] - 0.01) / 0.06).clamp(0.0, 1.0); // below the mouth
            p[0] *= width * (1.0 + (jaw - 1.0) * lower);
            p[2] *= depth;
            p
        })
        .collect();
    for _ in 0..6 {
        let c = verts[rng.random_range(0..verts.len())];
        let a = 0.004 * strength;
        let d = [rng.random_range(-a..a), rng.random_range(-a..a), rng.random_range(-1.5 * a..1.5 * a)];
        bump(&mut verts, c, rng.random_range(0.015..0.035), d);
    }
    verts
}

// MediaPipe landmarks used for expressions and occluders.
const MOUTH_CORNERS: [usize; 2] = [61, 291];
const LOWER_LIP: usize = 14;
const CHIN: usize = 152;
const BROWS: [usize; 2] = [105, 334];
const FOREHEAD: usize = 10;

/// An expression on a head shape: smile (mouth corners up and out), jaw drop, brow raise.
pub fn expression(verts: &[[f32; 3]], rng: &mut ChaCha8Rng) -> Vec<[f32; 3]> {
    let mut v = verts.to_vec();
    let smile = rng.random_range(-0.002..0.005);
    for (k, &c) in MOUTH_CORNERS.iter().enumerate() {
        let side = if k == 0 { -1.0 } else { 1.0 };
        bump(&mut v, verts[c], 0.012, [side * smile * 0.6, -smile, 0.0]);
    }
    let jaw = rng.random_range(0.0..0.006);
    bump(&mut v, verts[CHIN], 0.03, [0.0, jaw, 0.0]);
    bump(&mut v, verts[LOWER_LIP], 0.012, [0.0, jaw * 0.5, 0.0]);
    let brow = rng.random_range(-0.002..0.004);
    for &b in &BROWS {
        bump(&mut v, verts[b], 0.015, [0.0, -brow, 0.0]);
    }
    v
}

/// How a domain varies its face photos.
#[derive(Clone, Copy, Debug)]
pub struct PhotoStyle {
    /// Which source photo (see `mesh::photos`).
    pub photo: usize,
    /// Largest local warp of the texture, as a fraction of its side.
    pub warp: f32,
    /// Skin brightness range (multiplies the photo).
    pub tone: (f32, f32),
    /// Largest hue rotation, radians.
    pub hue: f32,
    /// Another photo mixed in and its mean weight (0..1): a new face between two (morphing).
    pub blend: Option<(usize, f32)>,
}

/// A new identity: a head shape and a texture made from the domain's photo by a colour
/// transform, smooth local warps and occluders (glasses, hair fringe, beard).
pub fn identity(rng: &mut ChaCha8Rng, style: &PhotoStyle) -> Identity {
    let verts = head_shape(rng, 1.0);
    let (photo, uv) = super::photos::photo_and_uv(style.photo);
    let mixed = style.blend.map(|(other, weight)| blended_photo(style.photo, other, weight, rng));
    let tex = face_texture(mixed.as_ref().unwrap_or(photo), uv, style, rng);
    let normals = FaceMesh::normals(&verts, &canonical().tris);
    let person = Person::new(&verts, uv, photo.w as f32 / photo.h as f32, PERSON_CELLS);
    Identity { verts, normals, tex, uv: uv.to_vec(), person }
}

/// Grid cells across a person's photo (about a centimetre each on the head).
const PERSON_CELLS: usize = 40;

impl Identity {
    /// The same person with another mesh (an expression); normals recomputed.
    pub fn with_verts(&self, verts: Vec<[f32; 3]>) -> Identity {
        let normals = FaceMesh::normals(&verts, &canonical().tris);
        Identity { verts, normals, tex: self.tex.clone(), uv: self.uv.clone(), person: self.person.clone() }
    }
}

/// Photo `base` with photo `other` warped onto its face and mixed in: the weight is `weight`
/// plus a few smooth blobs, so some parts (eyes, mouth, cheeks) come more from one face.
pub fn blended_photo(base: usize, other: usize, weight: f32, rng: &mut ChaCha8Rng) -> Img {
    let (mut out, on_face) = super::photos::warped_into(other, base);
    let (photo, _) = super::photos::photo_and_uv(base);
    let blobs: Vec<[f32; 4]> = (0..3)
        .map(|_| {
            let (u, v) = (rng.random_range(0.3..0.7), rng.random_range(0.3..0.75));
            [u, v, rng.random_range(0.08..0.2), rng.random_range(-0.35..0.35)]
        })
        .collect();
    for y in 0..out.h {
        for x in 0..out.w {
            if !on_face[y * out.w + x] {
                continue;
            }
            let (u, v) = ((x as f32 + 0.5) / out.w as f32, (y as f32 + 0.5) / out.h as f32);
            let bump: f32 =
                blobs.iter().map(|b| b[3] * (-((u - b[0]).powi(2) + (v - b[1]).powi(2)) / (b[2] * b[2])).exp()).sum();
            let k = (weight + bump).clamp(0.0, 1.0);
            for ch in 0..3 {
                out.set(x, y, ch, (1.0 - k) * photo.at(x, y, ch) + k * out.at(x, y, ch));
            }
        }
    }
    out
}

fn face_texture(photo: &Img, uv: &[[f32; 2]], style: &PhotoStyle, rng: &mut ChaCha8Rng) -> Img {
    let (w, h) = (photo.w, photo.h);
    // Warp: a few Gaussian displacement blobs in texture space.
    let blobs: Vec<[f32; 5]> = (0..8)
        .map(|_| {
            let a = style.warp;
            [
                rng.random_range(0.2..0.8),
                rng.random_range(0.15..0.85),
                rng.random_range(0.05..0.15),
                rng.random_range(-a..a),
                rng.random_range(-a..a),
            ]
        })
        .collect();
    let b = rng.random_range(style.tone.0..style.tone.1);
    let tone = [b * rng.random_range(0.95..1.08), b, b * rng.random_range(0.86..1.02)];
    let hue = rng.random_range(-style.hue..style.hue);
    let sat = rng.random_range(0.75..1.2);
    let contrast = rng.random_range(0.85..1.15);
    let mut tex = Img::new(w, h, 3);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            let (mut su, mut sv) = (u, v);
            for bl in &blobs {
                let r2 = ((u - bl[0]).powi(2) + (v - bl[1]).powi(2)) / (bl[2] * bl[2]);
                let k = (-r2).exp();
                su += bl[3] * k;
                sv += bl[4] * k;
            }
            let c = photo.sample_uv_rgb(su, sv);
            let c = colour_transform(c, hue, sat, contrast);
            for ch in 0..3 {
                tex.set(x, y, ch, c[ch] * tone[ch]);
            }
        }
    }
    occluders(&mut tex, uv, rng);
    tex
}

/// Rotates hue (about the grey axis), scales saturation and contrast (around mid grey).
fn colour_transform(c: [f32; 3], hue: f32, sat: f32, contrast: f32) -> [f32; 3] {
    let g = (c[0] + c[1] + c[2]) / 3.0;
    let d = [c[0] - g, c[1] - g, c[2] - g];
    // Rodrigues rotation about (1,1,1)/sqrt(3) of the chroma vector.
    let (s, co) = hue.sin_cos();
    let k = 1.0 / 3f32.sqrt();
    let cross = [k * (d[2] - d[1]), k * (d[0] - d[2]), k * (d[1] - d[0])];
    let r = [0, 1, 2].map(|i| d[i] * co + cross[i] * s);
    [0, 1, 2].map(|i| ((g - 128.0) * contrast + 128.0 + sat * r[i]).clamp(0.0, 255.0))
}

/// Paints glasses, a hair fringe and a beard onto a face texture (each with some probability).
fn occluders(tex: &mut Img, uv: &[[f32; 2]], rng: &mut ChaCha8Rng) {
    let (w, h) = (tex.w as f32, tex.h as f32);
    let px = |i: usize| [uv[i][0] * w, uv[i][1] * h];
    if rng.random_bool(0.35) {
        let frame = hsv(rng.random_range(0.0..1.0), rng.random_range(0.0..0.5), rng.random_range(0.05..0.6));
        let thick = rng.random_range(1.0..2.6);
        let tint = rng.random_range(0.55..1.0);
        let scale = rng.random_range(0.65..0.85);
        let eyes = [(mesh::EYE_LEFT[0], mesh::EYE_LEFT[1]), (mesh::EYE_RIGHT[0], mesh::EYE_RIGHT[1])];
        let mut centres = Vec::new();
        for (a, b) in eyes {
            let (pa, pb) = (px(a), px(b));
            let c = [(pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0];
            let rx = scale * ((pa[0] - pb[0]).abs() + 4.0);
            centres.push((c, rx, rx * rng.random_range(0.65..0.85)));
        }
        for y in 0..tex.h {
            for x in 0..tex.w {
                let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
                let mut on_frame = false;
                let mut in_lens = false;
                for &(c, rx, ry) in &centres {
                    let d = (((fx - c[0]) / rx).powi(2) + ((fy - c[1]) / ry).powi(2)).sqrt();
                    on_frame |= (d - 1.0).abs() * rx.min(ry) < thick;
                    in_lens |= d < 1.0;
                }
                // The bridge between the two rims.
                let (l, r) = (centres[0], centres[1]);
                let by = (l.0[1] + r.0[1]) / 2.0 - 0.3 * l.2;
                on_frame |= fx > l.0[0] + l.1 && fx < r.0[0] - r.1 && (fy - by).abs() < thick * 0.7;
                if on_frame {
                    (0..3).for_each(|ch| tex.set(x, y, ch, frame[ch]));
                } else if in_lens {
                    (0..3).for_each(|ch| tex.set(x, y, ch, tex.at(x, y, ch) * tint));
                }
            }
        }
    }
    let hair = hsv(rng.random_range(0.02..0.12), rng.random_range(0.2..0.7), rng.random_range(0.05..0.7));
    // The face's horizontal extent: fringe and beard stay on the face, not on the whole photo.
    let (fx0, fx1) = uv.iter().fold((f32::MAX, f32::MIN), |m, t| (m.0.min(t[0] * w), m.1.max(t[0] * w)));
    let (fx0, fx1) = (fx0.max(0.0) as usize, (fx1.ceil() as usize).min(tex.w));
    if rng.random_bool(0.4) {
        // A fringe: hair down from the top of the forehead to a wavy line above the brows, in
        // the colour of the photo's own hair above the forehead (so it continues the hair).
        let top = px(FOREHEAD)[1];
        let brow = px(BROWS[0])[1].min(px(BROWS[1])[1]);
        let reach = rng.random_range(0.2..0.75);
        let (f1, p1) = (rng.random_range(0.05..0.2), rng.random_range(0.0..6.3));
        let above = (top - 0.25 * (brow - top)).max(0.0) as usize;
        let cx = px(FOREHEAD)[0] as usize;
        let patch: Vec<(usize, usize)> = (above.saturating_sub(2)..=above)
            .flat_map(|y| (cx.saturating_sub(4)..(cx + 4).min(tex.w)).map(move |x| (x, y)))
            .collect();
        let shade = rng.random_range(0.8..1.2);
        let hair = [0, 1, 2]
            .map(|ch| shade * patch.iter().map(|&(x, y)| tex.at(x, y, ch)).sum::<f32>() / patch.len().max(1) as f32);
        for y in (top.max(0.0) as usize)..(brow.ceil() as usize).min(tex.h) {
            for x in fx0..fx1 {
                let edge = top + (brow - top) * reach * (1.0 + 0.3 * (x as f32 * f1 + p1).sin());
                if (y as f32) < edge {
                    let strand = 0.8 + 0.2 * (x as f32 * 1.7).sin();
                    (0..3).for_each(|ch| tex.set(x, y, ch, hair[ch] * strand));
                }
            }
        }
    }
    if rng.random_bool(0.2) {
        // Stubble or a beard over the chin and jaw below the mouth.
        let below = px(LOWER_LIP)[1] + 2.0;
        let chin = (px(CHIN)[1] + 3.0).min(tex.h as f32) as usize;
        let density = rng.random_range(0.3..0.9);
        let mut s = rng.random::<u32>();
        for y in (below as usize).min(chin)..chin {
            for x in fx0..fx1 {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let n = (s >> 8) as f32 / (1u32 << 24) as f32;
                if n < density {
                    (0..3).for_each(|ch| tex.set(x, y, ch, tex.at(x, y, ch) * 0.4 + hair[ch] * 0.6));
                }
            }
        }
    }
}

/// A directional light in camera coordinates (`dir` points towards the light).
#[derive(Clone, Copy, Debug)]
pub struct Light {
    pub dir: [f32; 3],
    /// Colour times intensity.
    pub colour: [f32; 3],
    pub ambient: f32,
}

impl Light {
    /// How bright the light leaves a surface facing the camera, relative to its colour (the
    /// ambient part plus a share of the direct one): backgrounds, hands and stills use it.
    pub fn level(&self) -> f32 {
        0.55 + 0.45 * self.ambient
    }

    /// Any direction from the front half, colour temperature from warm to cool, intensity.
    pub fn random(rng: &mut ChaCha8Rng) -> Light {
        let az: f32 = rng.random_range(-1.1..1.1);
        let el: f32 = rng.random_range(-0.3..0.8);
        // Towards the light: x right, y down (so elevation up = -y), z towards the camera = -z.
        let dir = [az.sin() * el.cos(), -el.sin(), -az.cos() * el.cos()];
        let t: f32 = rng.random_range(-1.0..1.0);
        let temp = [1.0 + 0.15 * t, 1.0, 1.0 - 0.18 * t];
        let k = rng.random_range(0.7..1.3);
        Light { dir, colour: temp.map(|c| c * k), ambient: rng.random_range(0.2..0.55) }
    }
}

/// A pinhole camera: focal length and principal point in pixels, image w x h.
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    pub f: f32,
    pub cx: f32,
    pub cy: f32,
    pub w: usize,
    pub h: usize,
}

impl Camera {
    /// Principal point at the centre, horizontal field of view `fov` radians.
    pub fn new(w: usize, h: usize, fov: f32) -> Camera {
        Camera { f: w as f32 / 2.0 / (fov / 2.0).tan(), cx: w as f32 / 2.0, cy: h as f32 / 2.0, w, h }
    }
    fn scaled(&self, s: usize) -> Camera {
        let k = s as f32;
        Camera { f: self.f * k, cx: self.cx * k, cy: self.cy * k, w: self.w * s, h: self.h * s }
    }
    pub fn project(&self, p: [f32; 3]) -> [f32; 3] {
        [self.f * p[0] / p[2] + self.cx, self.f * p[1] / p[2] + self.cy, p[2]]
    }
    /// The translation that puts local point `c` (of an object not rotated) at pixel (u, v),
    /// `d` metres from the camera.
    pub fn place(&self, c: [f32; 3], u: f32, v: f32, d: f32) -> [f32; 3] {
        [(u - self.cx) / self.f * d - c[0], (v - self.cy) / self.f * d - c[1], d - c[2]]
    }
}

/// A random scene behind the subject, the same generator for every class: a gradient, maybe a
/// room (floor line, wall corner), shapes (doors, windows, pictures, furniture), value noise,
/// maybe a wallpaper pattern, and defocus. Coordinates are ray slopes (x/z, y/z).
#[derive(Clone, Debug)]
pub struct Background {
    grad: [[f32; 3]; 2],
    grad_dir: [f32; 2],
    floor: Option<(f32, f32, [f32; 3])>,
    corner: Option<(f32, f32)>,
    /// (centre x, y, half w, h, ellipse?, colour)
    shapes: Vec<([f32; 4], bool, [f32; 3])>,
    noise: (f32, f32, u32),
    pattern: Option<(u8, f32, f32, f32)>,
    /// A real photograph instead of the drawn room: (which, texture units per ray slope,
    /// offset, mirrored, brightness).
    photo: Option<(usize, f32, [f32; 2], bool, f32)>,
    /// Defocus blur in output pixels.
    pub defocus: f32,
}

fn colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    let s: f32 = rng.random_range(0.0..1.0);
    hsv(rng.random_range(0.0..1.0), 0.65 * s * s, rng.random_range(0.12..0.95))
}

impl Background {
    pub fn random(rng: &mut ChaCha8Rng) -> Background {
        let base = colour(rng);
        let other = base.map(|c| (c * rng.random_range(0.6..1.4)).min(255.0));
        let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let floor =
            rng.random_bool(0.5).then(|| (rng.random_range(0.0..0.5), rng.random_range(-0.15..0.15), colour(rng)));
        let corner = rng.random_bool(0.4).then(|| (rng.random_range(-0.5..0.5), rng.random_range(0.7..1.3)));
        let n = rng.random_range(0..9);
        let shapes = (0..n)
            .map(|_| {
                let c = if rng.random_bool(0.15) { [rng.random_range(200.0..255.0); 3] } else { colour(rng) };
                let geo = [
                    rng.random_range(-0.8..0.8),
                    rng.random_range(-0.6..0.6),
                    rng.random_range(0.03..0.3),
                    rng.random_range(0.03..0.4),
                ];
                (geo, rng.random_bool(0.3), c)
            })
            .collect();
        let noise = (rng.random_range(0.0..40.0), rng.random_range(3.0..40.0), rng.random::<u32>());
        let pattern = rng.random_bool(0.2).then(|| {
            (
                rng.random_range(0..2u8),
                rng.random_range(10.0..60.0),
                rng.random_range(0.0..std::f32::consts::PI),
                rng.random_range(10.0..50.0),
            )
        });
        // Half the scenes are real places: a photograph seen from a random spot and distance.
        let photo = rng.random_bool(0.5).then(|| {
            (
                rng.random_range(0..super::places::PLACES),
                rng.random_range(0.35..0.9),
                [rng.random_range(0.0..1.0), rng.random_range(0.0..1.0)],
                rng.random_bool(0.5),
                rng.random_range(0.7..1.2),
            )
        });
        Background {
            photo,
            grad: [base, other],
            grad_dir: [a.cos(), a.sin()],
            floor,
            corner,
            shapes,
            noise,
            pattern,
            defocus: rng.random_range(0.0..1.5),
        }
    }

    /// Colour (unlit, 0..255) in the direction of ray slope (x, y).
    pub fn at(&self, x: f32, y: f32) -> [f32; 3] {
        if let Some((i, scale, off, flip, gain)) = self.photo {
            let img = super::places::place(i);
            let x = if flip { -x } else { x };
            let (u, v) = (off[0] + x * scale, off[1] + y * scale * img.w as f32 / img.h as f32);
            let (u, v) = (super::places::mirror_wrap(u), super::places::mirror_wrap(v));
            return img.sample_uv_rgb(u, v).map(|c| (c * gain).clamp(0.0, 255.0));
        }
        let t = (0.5 + 0.6 * (x * self.grad_dir[0] + y * self.grad_dir[1])).clamp(0.0, 1.0);
        let mut c = [0, 1, 2].map(|i| self.grad[0][i] + (self.grad[1][i] - self.grad[0][i]) * t);
        if let Some((x0, shade)) = self.corner {
            if x > x0 {
                c = c.map(|v| v * shade);
            }
        }
        if let Some((y0, tilt, fc)) = self.floor {
            if y > y0 + tilt * x {
                c = fc.map(|v| v * (0.8 + 0.4 * (y - y0).min(0.5)));
            }
        }
        for (g, ellipse, sc) in &self.shapes {
            let (dx, dy) = ((x - g[0]) / g[2], (y - g[1]) / g[3]);
            let inside = if *ellipse { dx * dx + dy * dy < 1.0 } else { dx.abs() < 1.0 && dy.abs() < 1.0 };
            if inside {
                c = *sc;
            }
        }
        if let Some((kind, freq, angle, amp)) = self.pattern {
            let (s, co) = angle.sin_cos();
            let (u, v) = (co * x + s * y, -s * x + co * y);
            let p = if kind == 0 {
                (u * freq).sin()
            } else if ((u * freq / 3.0).floor() + (v * freq / 3.0).floor()) as i64 % 2 == 0 {
                1.0
            } else {
                -1.0
            };
            c = c.map(|v| v + amp * p);
        }
        let (amp, sc, seed) = self.noise;
        let nz = amp * (fbm(x * sc, y * sc, seed, 3) - 0.5) * 2.0;
        c.map(|v| (v + nz).clamp(0.0, 255.0))
    }

    /// The background as seen by `cam` (output pixels), lit by `light`, defocused.
    pub fn image(&self, cam: &Camera, light: &Light) -> Img {
        let mut img = Img::new(cam.w, cam.h, 3);
        let k = light.level();
        for y in 0..cam.h {
            for x in 0..cam.w {
                let c = self.at((x as f32 + 0.5 - cam.cx) / cam.f, (y as f32 + 0.5 - cam.cy) / cam.f);
                for (ch, (v, l)) in c.iter().zip(light.colour).enumerate() {
                    img.set(x, y, ch, v * k * l);
                }
            }
        }
        gaussian_blur(&img, self.defocus)
    }
}

/// Rigid pose: world = R * local + t (camera coordinates, metres, z forward).
#[derive(Clone, Copy, Debug)]
pub struct Pose {
    pub r: [[f32; 3]; 3],
    pub t: [f32; 3],
}

impl Pose {
    pub fn new(angles: [f32; 3], t: [f32; 3]) -> Pose {
        Pose { r: mesh::rotation(angles[0], angles[1], angles[2]), t }
    }
    pub fn apply(&self, p: [f32; 3]) -> [f32; 3] {
        mesh::add(rotate(&self.r, p), self.t)
    }
}

/// Smooth motion: per degree of freedom two sinusoids with random frequency and phase.
/// Returns per frame (angles yaw/pitch/roll, translation).
pub fn trajectory(rng: &mut ChaCha8Rng, amp: [f32; 6], frames: usize, tremor: f32) -> Vec<([f32; 3], [f32; 3])> {
    let waves: Vec<[(f32, f32, f32); 2]> = (0..6)
        .map(|_| {
            let mut w = || (rng.random_range(0.02..0.1), rng.random_range(0.0..6.3), rng.random_range(0.3..1.0));
            [w(), w()]
        })
        .collect();
    (0..frames)
        .map(|t| {
            let mut v = [0.0f32; 6];
            for d in 0..6 {
                let s: f32 =
                    waves[d].iter().map(|(f, p, a)| a * (std::f32::consts::TAU * f * t as f32 + p).sin()).sum();
                v[d] = amp[d] * s / 1.3 + tremor * amp[d] * rng.random_range(-1.0..1.0);
            }
            ([v[0], v[1], v[2]], [v[3], v[4], v[5]])
        })
        .collect()
}

/// A flat or cylinder-bent rectangle of `width x height` metres, as a grid of local points.
pub struct Surface {
    pub g: usize,
    pub pts: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    /// Part of the surface (u0, v0, u1, v1 in 0..1) that shows the texture; the rest is
    /// paper margin (print) or bezel (screen).
    pub tex_rect: [f32; 4],
}

impl Surface {
    /// `bend` = cylinder radius in metres (0 = flat); edges bend away from the camera.
    pub fn new(width: f32, height: f32, bend: f32, tex_rect: [f32; 4]) -> Surface {
        let g = 16;
        let mut pts = Vec::new();
        let mut normals = Vec::new();
        for j in 0..=g {
            for i in 0..=g {
                let a = (i as f32 / g as f32 - 0.5) * width;
                let b = (j as f32 / g as f32 - 0.5) * height;
                if bend > 0.0 {
                    let th = a / bend;
                    pts.push([bend * th.sin(), b, bend * (1.0 - th.cos())]);
                    normals.push([th.sin(), 0.0, -th.cos()]);
                } else {
                    pts.push([a, b, 0.0]);
                    normals.push([0.0, 0.0, -1.0]);
                }
            }
        }
        Surface { g, pts, normals, tex_rect }
    }

    /// Local point at surface coordinates (u, v) in 0..1 (bilinear in the grid).
    pub fn point(&self, u: f32, v: f32) -> [f32; 3] {
        let g = self.g as f32;
        let (fx, fy) = ((u * g).clamp(0.0, g - 1e-3), (v * g).clamp(0.0, g - 1e-3));
        let (i, j) = (fx as usize, fy as usize);
        let (ax, ay) = (fx - i as f32, fy - j as f32);
        let p = |i: usize, j: usize| self.pts[j * (self.g + 1) + i];
        let lerp = |a: [f32; 3], b: [f32; 3], t: f32| {
            [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
        };
        lerp(lerp(p(i, j), p(i + 1, j), ax), lerp(p(i, j + 1), p(i + 1, j + 1), ax), ay)
    }

    /// Surface coordinates of texture coordinates (tu, tv).
    pub fn tex_to_surface(&self, tu: f32, tv: f32) -> (f32, f32) {
        let tr = self.tex_rect;
        (tr[0] + tu * (tr[2] - tr[0]), tr[1] + tv * (tr[3] - tr[1]))
    }
}

/// Subpixel layout of a screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Subpixels {
    /// Vertical R, G, B stripes per pixel.
    Stripe,
    /// RGBG PenTile: every pixel a green and alternately a red or blue subpixel.
    PenTile,
}

/// What a sheet is made of.
#[derive(Clone, Debug)]
pub enum Medium {
    /// Paper lit by the scene; `cutout` = an ellipse (cx, cy, rx, ry in texture 0..1) outside
    /// which the paper is cut away (the scene shows through).
    Print { cutout: Option<[f32; 4]>, margin_colour: [f32; 3] },
    /// An emissive screen of `pixels` (across, down) with a subpixel layout and its contrast as
    /// the camera's optics see it (0 = smeared flat, 1 = sharp), gamma, brightness (gain),
    /// colour cast, black level, bezel colour.
    Screen {
        pixels: [f32; 2],
        layout: Subpixels,
        contrast: f32,
        gamma: f32,
        gain: f32,
        cast: [f32; 3],
        black: f32,
        bezel: [f32; 3],
    },
}

/// A specular highlight: a bright source in direction `dir` (towards it), strength, exponent.
#[derive(Clone, Copy, Debug)]
pub struct Glare {
    pub dir: [f32; 3],
    pub strength: f32,
    pub sharpness: f32,
}

/// What the camera looks at (besides the background).
pub enum Object<'a> {
    /// A person: the face and head move with `pose`, the neck and body with `body`.
    Face { id: &'a Identity, pose: Pose, body: Pose },
    /// A print or a screen: `tex` RGB and `mask` (1 channel, 0..1) cover the surface's
    /// tex_rect; `face_uv` is the face box inside the texture (0..1).
    Sheet {
        surface: &'a Surface,
        pose: Pose,
        tex: &'a Img,
        mask: &'a Img,
        face_uv: [f32; 4],
        medium: &'a Medium,
        glare: Glare,
    },
}

/// A rendered frame at the camera's w x h: RGB (0..255, may exceed before the sensor clamps),
/// depth label (live only, else 0), face mask, object coverage (1 where the face or the medium
/// is, 0 where the scene shows) and the face box.
pub struct Rendered {
    pub rgb: Img,
    pub depth: Vec<f32>,
    pub mask: Vec<f32>,
    /// Where a held sheet is (hands grip its edge) and what the tests measure.
    pub cover: Vec<f32>,
    pub bbox: Rect,
    /// The recorded frame's JPEG file, once the sensor has seen it.
    pub jpeg: Vec<u8>,
}

/// Crop jitter of the simulated face detector: (dx, dy, dscale) as fractions of the box.
pub type Jitter = [f32; 3];

/// Supersampling per side.
const SS: usize = 2;

/// Renders `obj` in front of the background image `bg` (the camera's w x h, lit) with 2x2
/// supersampling.
pub fn render(obj: &Object, light: &Light, bg: &Img, cam: &Camera) -> Rendered {
    render_ss(obj, light, bg, cam, SS)
}

/// `render` with `ss x ss` samples per pixel (1: the cheaper render of replayed video content).
pub fn render_ss(obj: &Object, light: &Light, bg: &Img, cam: &Camera, ss: usize) -> Rendered {
    let c = cam.scaled(ss);
    let (mw, mh) = (c.w, c.h);
    // Attributes: texture u, v, normal, opacity.
    let mut r = Raster::new(mw, mh, 6, false);
    match obj {
        Object::Face { id, pose, body } => {
            let mesh = canonical();
            let pts: Vec<[f32; 3]> = id.verts.iter().map(|v| c.project(pose.apply(*v))).collect();
            let at: Vec<[f32; 6]> = (0..pts.len())
                .map(|i| {
                    let nn = rotate(&pose.r, id.normals[i]);
                    [id.uv[i][0], id.uv[i][1], nn[0], nn[1], nn[2], 1.0]
                })
                .collect();
            for t in &mesh.tris {
                let [a, b, cc] = [t[0] as usize, t[1] as usize, t[2] as usize];
                r.tri([pts[a], pts[b], pts[cc]], [&at[a], &at[b], &at[cc]], TAG_FACE);
            }
            person_tris(&mut r, &id.person, pose, body, &c);
        }
        Object::Sheet { surface, pose, .. } => {
            let g = surface.g;
            let pts: Vec<[f32; 3]> = surface.pts.iter().map(|v| c.project(pose.apply(*v))).collect();
            let at: Vec<[f32; 6]> = (0..pts.len())
                .map(|k| {
                    let nn = rotate(&pose.r, surface.normals[k]);
                    [(k % (g + 1)) as f32 / g as f32, (k / (g + 1)) as f32 / g as f32, nn[0], nn[1], nn[2], 1.0]
                })
                .collect();
            for j in 0..g {
                for i in 0..g {
                    let q = [j * (g + 1) + i, j * (g + 1) + i + 1, (j + 1) * (g + 1) + i, (j + 1) * (g + 1) + i + 1];
                    r.tri([pts[q[0]], pts[q[1]], pts[q[2]]], [&at[q[0]], &at[q[1]], &at[q[2]]], 2);
                    r.tri([pts[q[1]], pts[q[3]], pts[q[2]]], [&at[q[1]], &at[q[3]], &at[q[2]]], 2);
                }
            }
        }
    }
    let mut rgb = Img::new(mw, mh, 3);
    let mut mask = vec![0.0f32; mw * mh];
    let mut cover = vec![0.0f32; mw * mh];
    for y in 0..mh {
        for x in 0..mw {
            let i = y * mw + x;
            let ray = [(x as f32 + 0.5 - c.cx) / c.f, (y as f32 + 0.5 - c.cy) / c.f, 1.0];
            let scene = [0, 1, 2].map(|ch| bg.at((x / ss).min(bg.w - 1), (y / ss).min(bg.h - 1), ch));
            let (col, inside, covered) = shade(obj, light, scene, &r, i, ray);
            rgb.data[i * 3..i * 3 + 3].copy_from_slice(&col);
            mask[i] = inside;
            cover[i] = covered;
        }
    }
    let depth = match obj {
        Object::Face { .. } => {
            // The label covers what is rendered as the head: the face and, around it, hair and
            // ears; not the neck and shoulders, nor the photo's background left transparent.
            let head: Vec<u8> = (0..mw * mh)
                .map(|i| u8::from(cover[i] > 0.0 && (r.tag[i] == TAG_FACE || r.tag[i] == TAG_HEAD)))
                .collect();
            normalise_depth(&r.z, &head).0
        }
        _ => vec![0.0; mw * mh],
    };
    Rendered {
        rgb: downsample_rgb(&rgb, ss),
        depth: downsample_plane(&depth, mw, mh, ss),
        mask: downsample_plane(&mask, mw, mh, ss),
        cover: downsample_plane(&cover, mw, mh, ss),
        bbox: face_box(obj, cam),
        jpeg: Vec::new(),
    }
}

/// The person's labels in its own photo's pixels (the texture's w x h), as if the photo were
/// the camera's frame: depth (the face mesh and the head proxy around it, normalised as
/// `render` does), face mask, and person coverage (face, head and body). The pseudo-depth of a
/// real live picture, as depth-supervised anti-spoofing labels real datasets (a face model
/// fitted to the picture's landmarks).
pub fn photo_labels(id: &Identity) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (w, h) = (id.tex.w, id.tex.h);
    let at = |u: f32, v: f32, z: f32| [u * w as f32, v * h as f32, z];
    let mut r = Raster::new(w, h, 1, true);
    for t in &canonical().tris {
        let [a, b, c] = t.map(|i| i as usize);
        let p = [a, b, c].map(|k| at(id.uv[k][0], id.uv[k][1], id.verts[k][2]));
        r.tri(p, [&[0.0], &[0.0], &[0.0]], TAG_FACE);
    }
    let p = &id.person;
    for (q, tag) in person_quads(p) {
        let v = q.map(|k| at(p.uv[k][0], p.uv[k][1], p.pts[k][2]));
        r.tri([v[0], v[1], v[2]], [&[0.0], &[0.0], &[0.0]], tag);
        r.tri([v[1], v[3], v[2]], [&[0.0], &[0.0], &[0.0]], tag);
    }
    let head: Vec<u8> = r.tag.iter().map(|&t| u8::from(t == TAG_FACE || t == TAG_HEAD)).collect();
    let depth = normalise_depth(&r.z, &head).0;
    let mask = r.tag.iter().map(|&t| f32::from(u8::from(t == TAG_FACE))).collect();
    let cover = r.tag.iter().map(|&t| f32::from(u8::from(t != 0))).collect();
    (depth, mask, cover)
}

/// Raster tags: the face mesh, the head around it, the neck and body, a print or screen.
const TAG_FACE: u8 = 1;
const TAG_HEAD: u8 = 3;
const TAG_BODY: u8 = 4;

/// Draws the person's grid: head vertices posed with the head, the others with the body.
fn person_tris(r: &mut Raster, p: &Person, head: &Pose, body: &Pose, c: &Camera) {
    let posed: Vec<([f32; 3], [f32; 6])> = (0..p.pts.len())
        .map(|k| {
            let pose = if p.part[k] == Part::Head { head } else { body };
            let nn = rotate(&pose.r, p.normals[k]);
            (c.project(pose.apply(p.pts[k])), [p.uv[k][0], p.uv[k][1], nn[0], nn[1], nn[2], p.alpha[k]])
        })
        .collect();
    for (q, tag) in person_quads(p) {
        for t in [[q[0], q[1], q[2]], [q[1], q[3], q[2]]] {
            let (a, b, cc) = (&posed[t[0]], &posed[t[1]], &posed[t[2]]);
            r.tri([a.0, b.0, cc.0], [&a.1, &b.1, &cc.1], tag);
        }
    }
}

/// The person grid's cells that are there (not all transparent): the four vertex indices
/// (top left, top right, bottom left, bottom right) and the raster tag (head or body).
fn person_quads(p: &Person) -> impl Iterator<Item = ([usize; 4], u8)> + '_ {
    let nx = p.nx;
    (0..p.ny - 1)
        .flat_map(move |j| {
            (0..nx - 1).map(move |i| [j * nx + i, j * nx + i + 1, (j + 1) * nx + i, (j + 1) * nx + i + 1])
        })
        .filter(|q| !q.iter().all(|&k| p.alpha[k] < 0.5))
        .map(|q| (q, if q.iter().all(|&k| p.part[k] == Part::Head) { TAG_HEAD } else { TAG_BODY }))
}

/// How much of the light's direct part a person's shading follows: the photo on the mesh already
/// holds its own shading, and the full Lambert term on top of it made rendered puppets (dark
/// sides, a bright band where the face mesh meets the head proxy) no camera shows.
const PERSON_RELIGHT: f32 = 0.5;

/// Colour of pixel i, whether it is inside the face, whether the object covers it.
fn shade(obj: &Object, light: &Light, scene: [f32; 3], r: &Raster, i: usize, ray: [f32; 3]) -> ([f32; 3], f32, f32) {
    let lambert = |nn: [f32; 3]| light.ambient + (1.0 - light.ambient) * dot(normalize(nn), light.dir).max(0.0);
    let lit =
        |c: [f32; 3], k: f32| [c[0] * k * light.colour[0], c[1] * k * light.colour[1], c[2] * k * light.colour[2]];
    if r.tag[i] == 0 {
        return (scene, 0.0, 0.0);
    }
    let a = r.attrs(i);
    let nn = normalize([a[2], a[3], a[4]]);
    match obj {
        Object::Face { id, .. } => {
            if a[5] < 0.5 {
                return (scene, 0.0, 0.0); // around the person: the photo's background is cut away
            }
            let c = id.tex.sample_uv_rgb(a[0], a[1]);
            let k = 1.0 - PERSON_RELIGHT * (1.0 - lambert(nn));
            (lit(c, k), if r.tag[i] == TAG_FACE { 1.0 } else { 0.0 }, 1.0)
        }
        Object::Sheet { surface, tex, mask, medium, glare, .. } => {
            let tr = surface.tex_rect;
            let (tu, tv) = ((a[0] - tr[0]) / (tr[2] - tr[0]), (a[1] - tr[1]) / (tr[3] - tr[1]));
            let in_tex = (0.0..1.0).contains(&tu) && (0.0..1.0).contains(&tv);
            let inside = if in_tex && mask.sample_uv(tu, tv, 0) >= 0.5 { 1.0 } else { 0.0 };
            let v = [-ray[0], -ray[1], -ray[2]];
            let spec = |l: [f32; 3], s: f32, p: f32| {
                s * 255.0 * dot(nn, normalize(mesh::add(normalize(v), l))).max(0.0).powf(p)
            };
            let g = spec(glare.dir, glare.strength, glare.sharpness) + spec(light.dir, glare.strength * 0.3, 40.0);
            let c = match medium {
                Medium::Print { cutout, margin_colour } => {
                    if let Some(e) = cutout {
                        let d = ((tu - e[0]) / e[2]).powi(2) + ((tv - e[1]) / e[3]).powi(2);
                        if !in_tex || d > 1.0 {
                            return (scene, 0.0, 0.0);
                        }
                    }
                    let base = if in_tex { tex.sample_uv_rgb(tu, tv) } else { *margin_colour };
                    lit(base, lambert(nn))
                }
                Medium::Screen { pixels, layout, contrast, gamma, gain, cast, black, bezel } => {
                    if in_tex {
                        let e = screen_emission(tex, tu, tv, *pixels, *layout, *contrast, *gamma, *cast);
                        let amb = lit([*black; 3], light.ambient);
                        [0, 1, 2].map(|ch| e[ch] * gain + amb[ch])
                    } else {
                        lit(*bezel, lambert(nn))
                    }
                }
            };
            ([c[0] + g * light.colour[0], c[1] + g * light.colour[1], c[2] + g * light.colour[2]], inside, 1.0)
        }
    }
}

/// Light a screen emits at texture point (tu, tv): the content at the centre of the screen
/// pixel there, through the display gamma and cast, on that pixel's subpixel pattern (the
/// camera's sampling of it gives moire).
#[allow(clippy::too_many_arguments)]
fn screen_emission(
    tex: &Img,
    tu: f32,
    tv: f32,
    pixels: [f32; 2],
    layout: Subpixels,
    contrast: f32,
    gamma: f32,
    cast: [f32; 3],
) -> [f32; 3] {
    let (px, py) = (tu * pixels[0], tv * pixels[1]);
    let (ix, iy) = (px.floor(), py.floor());
    let (fx, fy) = (px - ix, py - iy);
    let (cu, cv) = ((ix + 0.5) / pixels[0], (iy + 0.5) / pixels[1]);
    let t = tex.sample_uv_rgb(cu, cv);
    let c = [0, 1, 2].map(|ch| 255.0 * (t[ch] / 255.0).clamp(0.0, 1.0).powf(gamma) * cast[ch]);
    // Black matrix between rows; subpixels weighted so a uniform area keeps its mean; the
    // optics blend the pattern with its mean.
    let pattern = if fy > 0.85 { [0.0; 3] } else { subpixel(layout, fx, ix, iy, c) };
    [0, 1, 2].map(|ch| contrast * pattern[ch] + (1.0 - contrast) * c[ch])
}

fn subpixel(layout: Subpixels, fx: f32, ix: f32, iy: f32, c: [f32; 3]) -> [f32; 3] {
    let row = 1.0 / 0.85;
    match layout {
        Subpixels::Stripe => {
            let lit = ((fx * 3.0) as usize).min(2);
            [0, 1, 2].map(|ch| if ch == lit { 3.0 * row * c[ch] } else { 0.0 })
        }
        Subpixels::PenTile => {
            let red = (ix as i64 + iy as i64) % 2 == 0;
            if fx < 0.5 {
                if red {
                    [4.0 * row * c[0], 0.0, 0.0]
                } else {
                    [0.0, 0.0, 4.0 * row * c[2]]
                }
            } else {
                [0.0, 2.0 * row * c[1], 0.0]
            }
        }
    }
}

/// The face's box in `cam`'s pixels: the projected mesh, or the face box on the sheet.
pub fn face_box(obj: &Object, cam: &Camera) -> Rect {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in face_points(obj) {
        let q = cam.project(p);
        x0 = x0.min(q[0]);
        x1 = x1.max(q[0]);
        y0 = y0.min(q[1]);
        y1 = y1.max(q[1]);
    }
    Rect { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
}

/// Points (camera coordinates) spanning the face: the mesh, or a grid over the sheet's face box.
fn face_points(obj: &Object) -> Vec<[f32; 3]> {
    match obj {
        Object::Face { id, pose, .. } => id.verts.iter().map(|v| pose.apply(*v)).collect(),
        Object::Sheet { surface, pose, face_uv, .. } => {
            let mut v = Vec::new();
            for j in 0..5 {
                for i in 0..5 {
                    let fu = face_uv[0] + (face_uv[2] - face_uv[0]) * i as f32 / 4.0;
                    let fv = face_uv[1] + (face_uv[3] - face_uv[1]) * j as f32 / 4.0;
                    let (u, w) = surface.tex_to_surface(fu, fv);
                    v.push(pose.apply(surface.point(u, w)));
                }
            }
            v
        }
    }
}

/// The old face-cropped view: a square n x n camera whose view is the face box enlarged 1.3x
/// (jittered like a detector's box).
pub fn crop_camera(obj: &Object, n: usize, jitter: Jitter) -> Camera {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in face_points(obj) {
        let (x, y) = (p[0] / p[2], p[1] / p[2]);
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let side = 1.3 * (x1 - x0).max(y1 - y0) * (1.0 + jitter[2]);
    let (mx, my) = ((x0 + x1) / 2.0 + jitter[0] * side, (y0 + y1) / 2.0 + jitter[1] * side);
    let f = n as f32 / side;
    Camera { f, cx: -(mx - side / 2.0) * f, cy: -(my - side / 2.0) * f, w: n, h: n }
}

fn downsample_rgb(img: &Img, f: usize) -> Img {
    let (w, h) = (img.w / f, img.h / f);
    let mut out = Img::new(w, h, 3);
    for y in 0..h * f {
        for x in 0..w * f {
            for ch in 0..3 {
                out.data[((y / f) * w + x / f) * 3 + ch] += img.data[(y * img.w + x) * 3 + ch] / (f * f) as f32;
            }
        }
    }
    out
}
