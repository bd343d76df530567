//! The synthetic camera: identities (deformed mesh + skin tone), lights, background planes,
//! poses, and one perspective z-buffer render for every class (face mesh or a textured sheet /
//! screen surface), face-cropped like a detector would.

use crate::data::depth_label::normalise_depth;
use crate::data::imageops::{downsample_plane, Img};
use crate::data::mesh::{self, canonical, dot, normalize, rotate, FaceMesh};
use crate::data::raster::Raster;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One person: a deformed mesh and a skin tone.
pub struct Identity {
    pub verts: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    pub tone: [f32; 3],
}

/// Smooth random deformations of the canonical mesh (nose depth, face width, jaw, depth).
/// `cross` widens the ranges (the cross-set domain).
pub fn identity(rng: &mut ChaCha8Rng, cross: bool) -> Identity {
    let w = if cross { 0.35 } else { 0.15 };
    let nose = 1.0 + rng.random_range(-w..w) * 2.0;
    let width = 1.0 + rng.random_range(-w..w) * 0.6;
    let jaw = 1.0 + rng.random_range(-w..w);
    let depth = 1.0 + rng.random_range(-w..w) * 0.6;
    let m = canonical();
    let tip = m.verts[mesh::NOSE_TIP];
    let verts: Vec<[f32; 3]> = m
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
    let normals = FaceMesh::normals(&verts, &m.tris);
    let b = if cross { rng.random_range(0.45..1.2) } else { rng.random_range(0.6..1.15) };
    let tone = [b * rng.random_range(0.95..1.08), b, b * rng.random_range(0.88..1.02)];
    Identity { verts, normals, tone }
}

/// A directional light in camera coordinates (`dir` points towards the light).
#[derive(Clone, Copy, Debug)]
pub struct Light {
    pub dir: [f32; 3],
    pub colour: [f32; 3],
    pub ambient: f32,
}

/// The background plane, `dist` metres in front of the camera, with a procedural texture.
#[derive(Clone, Debug)]
pub struct Background {
    pub dist: f32,
    /// 0 stripes, 1 blobs, 2 tiles, 3 plain.
    pub kind: u8,
    pub colours: [[f32; 3]; 3],
    pub freq: f32,
    pub angle: f32,
}

impl Background {
    pub fn random(rng: &mut ChaCha8Rng, kind: u8) -> Background {
        let mut col = || [rng.random_range(30.0..230.0), rng.random_range(30.0..230.0), rng.random_range(30.0..230.0)];
        let colours = [col(), col(), col()];
        Background {
            dist: rng.random_range(1.0..3.0),
            kind,
            colours,
            freq: rng.random_range(4.0..14.0),
            angle: rng.random_range(0.0..std::f32::consts::PI),
        }
    }

    /// Colour at plane position (x, y) in metres.
    fn at(&self, x: f32, y: f32) -> [f32; 3] {
        let (s, c) = self.angle.sin_cos();
        let (u, v) = (c * x + s * y, -s * x + c * y);
        let mix = |a: [f32; 3], b: [f32; 3], t: f32| {
            [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
        };
        match self.kind {
            0 => mix(self.colours[0], self.colours[1], 0.5 + 0.5 * (u * self.freq * 6.3).sin()),
            1 => {
                let t = 0.5 + 0.25 * ((u * self.freq * 2.0).sin() + (v * self.freq * 1.7 + 1.3).cos());
                mix(
                    mix(self.colours[0], self.colours[2], t),
                    self.colours[1],
                    0.5 + 0.5 * (v * self.freq).sin() * (u * 3.1).cos(),
                )
            }
            2 => {
                let cell = ((u * self.freq * 0.8).floor() + (v * self.freq * 0.8).floor()) as i64;
                if cell.rem_euclid(2) == 0 {
                    self.colours[0]
                } else {
                    self.colours[2]
                }
            }
            _ => self.colours[0],
        }
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
}

/// What the camera looks at (besides the background).
pub enum Object<'a> {
    Face {
        id: &'a Identity,
        pose: Pose,
    },
    /// A print (lit by the scene) or a screen (`emissive`): `tex` RGB and `mask` (1 channel,
    /// 0..1) cover the surface's tex_rect; `face_uv` is the face box inside the texture.
    Sheet {
        surface: &'a Surface,
        pose: Pose,
        tex: &'a Img,
        mask: &'a Img,
        face_uv: [f32; 4],
        emissive: bool,
        gloss: f32,
    },
}

/// A rendered frame at n x n: RGB (0..255, may exceed before the sensor clamps), depth label
/// (live only, else 0) and face mask.
pub struct Rendered {
    pub rgb: Img,
    pub depth: Vec<f32>,
    pub mask: Vec<f32>,
}

/// Crop jitter of the simulated face detector: (dx, dy, dscale) as fractions of the box.
pub type Jitter = [f32; 3];

/// Renders `obj` in front of `bg`, face-cropped (box enlarged 1.3x) to n x n, with 2x2
/// supersampling.
pub fn render(obj: &Object, light: &Light, bg: &Background, n: usize, jitter: Jitter) -> Rendered {
    let ss = 2;
    let m = n * ss;
    let (f, cx, cy) = crop_camera(obj, m, jitter);
    let mut r = Raster::new(m, m, 5, false);
    let proj = |p: [f32; 3]| [f * p[0] / p[2] + cx, f * p[1] / p[2] + cy, p[2]];
    match obj {
        Object::Face { id, pose } => {
            let mesh = canonical();
            let pts: Vec<[f32; 3]> = id.verts.iter().map(|v| proj(pose.apply(*v))).collect();
            let at: Vec<[f32; 5]> = (0..pts.len())
                .map(|i| {
                    let nn = rotate(&pose.r, id.normals[i]);
                    [mesh.uv[i][0], mesh.uv[i][1], nn[0], nn[1], nn[2]]
                })
                .collect();
            for t in &mesh.tris {
                let [a, b, c] = [t[0] as usize, t[1] as usize, t[2] as usize];
                r.tri([pts[a], pts[b], pts[c]], [&at[a], &at[b], &at[c]], 1);
            }
        }
        Object::Sheet { surface, pose, .. } => {
            let g = surface.g;
            let pts: Vec<[f32; 3]> = surface.pts.iter().map(|v| proj(pose.apply(*v))).collect();
            let at: Vec<[f32; 5]> = (0..pts.len())
                .map(|k| {
                    let nn = rotate(&pose.r, surface.normals[k]);
                    [(k % (g + 1)) as f32 / g as f32, (k / (g + 1)) as f32 / g as f32, nn[0], nn[1], nn[2]]
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
    let mut rgb = Img::new(m, m, 3);
    let mut mask = vec![0.0f32; m * m];
    for y in 0..m {
        for x in 0..m {
            let i = y * m + x;
            let ray = [(x as f32 + 0.5 - cx) / f, (y as f32 + 0.5 - cy) / f, 1.0];
            let (col, inside) = shade(obj, light, bg, &r, i, ray);
            rgb.data[i * 3..i * 3 + 3].copy_from_slice(&col);
            mask[i] = inside;
        }
    }
    let depth = match obj {
        Object::Face { .. } => normalise_depth(&r.z, &r.tag).0,
        _ => vec![0.0; m * m],
    };
    Rendered {
        rgb: downsample_rgb(&rgb, ss),
        depth: downsample_plane(&depth, m, m, ss),
        mask: downsample_plane(&mask, m, m, ss),
    }
}

/// Colour of pixel i and whether it is inside the face.
fn shade(obj: &Object, light: &Light, bg: &Background, r: &Raster, i: usize, ray: [f32; 3]) -> ([f32; 3], f32) {
    let lambert = |nn: [f32; 3]| light.ambient + (1.0 - light.ambient) * dot(normalize(nn), light.dir).max(0.0);
    let lit =
        |c: [f32; 3], k: f32| [c[0] * k * light.colour[0], c[1] * k * light.colour[1], c[2] * k * light.colour[2]];
    if r.tag[i] == 0 {
        let c = bg.at(ray[0] * bg.dist, ray[1] * bg.dist);
        return (lit(c, 0.5 + 0.5 * light.ambient), 0.0);
    }
    let a = r.attrs(i);
    let nn = [a[2], a[3], a[4]];
    match obj {
        Object::Face { id, .. } => {
            let p = mesh::photo();
            let c = [0, 1, 2].map(|ch| p.sample_uv(a[0], a[1], ch) * id.tone[ch]);
            (lit(c, lambert(nn)), 1.0)
        }
        Object::Sheet { surface, tex, mask, emissive, gloss, .. } => {
            let tr = surface.tex_rect;
            let (tu, tv) = ((a[0] - tr[0]) / (tr[2] - tr[0]), (a[1] - tr[1]) / (tr[3] - tr[1]));
            let in_tex = (0.0..1.0).contains(&tu) && (0.0..1.0).contains(&tv);
            let inside = if in_tex && mask.sample_uv(tu, tv, 0) >= 0.5 { 1.0 } else { 0.0 };
            // Mirror reflection of the light towards the camera: the glare of glossy media.
            let nn = normalize(nn);
            let v = normalize([-ray[0], -ray[1], -ray[2]]);
            let h = normalize(mesh::add(v, light.dir));
            let spec = gloss * 255.0 * dot(nn, h).max(0.0).powf(60.0);
            let base = if in_tex {
                [0, 1, 2].map(|ch| tex.sample_uv(tu, tv, ch))
            } else if *emissive {
                [18.0, 18.0, 20.0]
            } else {
                [235.0, 232.0, 225.0]
            };
            let c = if *emissive {
                let amb = lit([40.0; 3], light.ambient);
                [base[0] + amb[0], base[1] + amb[1], base[2] + amb[2]]
            } else {
                lit(base, lambert(nn))
            };
            ([c[0] + spec * light.colour[0], c[1] + spec * light.colour[1], c[2] + spec * light.colour[2]], inside)
        }
    }
}

/// Intrinsics (f, cx, cy) so that the face box, enlarged 1.3x as a square, fills m x m.
fn crop_camera(obj: &Object, m: usize, jitter: Jitter) -> (f32, f32, f32) {
    let pts: Vec<[f32; 3]> = match obj {
        Object::Face { id, pose } => id.verts.iter().map(|v| pose.apply(*v)).collect(),
        Object::Sheet { surface, pose, face_uv, .. } => {
            let tr = surface.tex_rect;
            let mut v = Vec::new();
            for j in 0..5 {
                for i in 0..5 {
                    let fu = face_uv[0] + (face_uv[2] - face_uv[0]) * i as f32 / 4.0;
                    let fv = face_uv[1] + (face_uv[3] - face_uv[1]) * j as f32 / 4.0;
                    let (u, w) = (tr[0] + fu * (tr[2] - tr[0]), tr[1] + fv * (tr[3] - tr[1]));
                    v.push(pose.apply(surface.point(u, w)));
                }
            }
            v
        }
    };
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &pts {
        let (x, y) = (p[0] / p[2], p[1] / p[2]);
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let side = 1.3 * (x1 - x0).max(y1 - y0) * (1.0 + jitter[2]);
    let (mx, my) = ((x0 + x1) / 2.0 + jitter[0] * side, (y0 + y1) / 2.0 + jitter[1] * side);
    let f = m as f32 / side;
    (f, -(mx - side / 2.0) * f, -(my - side / 2.0) * f)
}

fn downsample_rgb(img: &Img, f: usize) -> Img {
    let (w, h) = (img.w / f, img.h / f);
    let mut out = Img::new(w, h, 3);
    for y in 0..img.h {
        for x in 0..img.w {
            for ch in 0..3 {
                out.data[((y / f) * w + x / f) * 3 + ch] += img.data[(y * img.w + x) * 3 + ch] / (f * f) as f32;
            }
        }
    }
    out
}
