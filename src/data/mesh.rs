//! The canonical face mesh (MediaPipe, 468 vertices) and its texture photo, compiled into the
//! binary. Head-local coordinates are metres: x right, y down, z away from the camera, origin
//! near the head's centre of rotation (so the nose tip has the most negative z).

use super::imageops::{decode_png_bytes, Img};
use anyhow::{bail, Result};
use std::sync::OnceLock;

const OBJ: &str = include_str!("../../assets/canonical-face-model.obj");
const LANDMARKS: &str = include_str!("../../assets/astronaut_landmarks.csv");
/// The whole 512 x 512 original; the landmarks are normalised to it.
const PHOTO: &[u8] = include_bytes!("../../assets/astronaut.jpg");
/// Mesh z (cm) of the rotation centre, behind the face surface.
const PIVOT_Z_CM: f32 = -2.0;

/// Eye corner landmarks: (image-left eye outer, inner), (image-right eye inner, outer).
pub const EYE_LEFT: [usize; 2] = [33, 133];
pub const EYE_RIGHT: [usize; 2] = [362, 263];
pub const NOSE_TIP: usize = 4;

pub struct FaceMesh {
    pub verts: Vec<[f32; 3]>,
    pub tris: Vec<[u32; 3]>,
    /// Texture coordinates of each vertex in the photo, normalised to 0..1.
    pub uv: Vec<[f32; 2]>,
}

/// The mesh, parsed once.
pub fn canonical() -> &'static FaceMesh {
    static MESH: OnceLock<FaceMesh> = OnceLock::new();
    MESH.get_or_init(|| parse_mesh(OBJ, LANDMARKS).expect("embedded mesh assets are valid"))
}

/// The texture photo (RGB, 0..255), decoded once.
pub fn photo() -> &'static Img {
    static IMG: OnceLock<Img> = OnceLock::new();
    IMG.get_or_init(|| decode_png_bytes(PHOTO).expect("embedded photo is valid"))
}

fn parse_mesh(obj: &str, landmarks: &str) -> Result<FaceMesh> {
    let mut verts = Vec::new();
    let mut tris = Vec::new();
    for (n, line) in obj.lines().enumerate() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("v") => {
                let v: Vec<f32> = it.map(|s| s.parse().unwrap_or(f32::NAN)).collect();
                if v.len() < 3 || v.iter().any(|x| x.is_nan()) {
                    bail!("canonical-face-model.obj line {}: bad vertex", n + 1);
                }
                verts.push([v[0] * 0.01, -v[1] * 0.01, -(v[2] - PIVOT_Z_CM) * 0.01]);
            }
            Some("f") => {
                let idx: Vec<u32> = it.map(|s| s.split('/').next().unwrap_or("").parse::<u32>().unwrap_or(0)).collect();
                if idx.len() != 3 || idx.contains(&0) {
                    bail!("canonical-face-model.obj line {}: bad face", n + 1);
                }
                tris.push([idx[0] - 1, idx[1] - 1, idx[2] - 1]);
            }
            _ => {}
        }
    }
    let mut uv = Vec::new();
    for (n, line) in landmarks.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<f32> = line.split(',').map(|s| s.trim().parse().unwrap_or(f32::NAN)).collect();
        if f.len() < 2 || f[0].is_nan() || f[1].is_nan() {
            bail!("astronaut_landmarks.csv line {}: bad landmark", n + 1);
        }
        uv.push([f[0], f[1]]);
    }
    if uv.len() != verts.len() || tris.iter().flatten().any(|&i| i as usize >= verts.len()) {
        bail!("mesh assets disagree: {} vertices, {} landmarks", verts.len(), uv.len());
    }
    Ok(FaceMesh { verts, tris, uv })
}

impl FaceMesh {
    /// Area-weighted vertex normals, oriented outwards (towards the camera for a frontal face).
    pub fn normals(verts: &[[f32; 3]], tris: &[[u32; 3]]) -> Vec<[f32; 3]> {
        let mut n = vec![[0.0f32; 3]; verts.len()];
        for t in tris {
            let (a, b, c) = (verts[t[0] as usize], verts[t[1] as usize], verts[t[2] as usize]);
            let fnorm = cross(sub(b, a), sub(c, a));
            for &i in t {
                for k in 0..3 {
                    n[i as usize][k] += fnorm[k];
                }
            }
        }
        // Outward = pointing to -z at the nose tip.
        let sign = if n[NOSE_TIP][2] > 0.0 { -1.0 } else { 1.0 };
        n.iter().map(|v| scale(normalize(*v), sign)).collect()
    }

    /// Centre of each eye (image-left, image-right) in head-local coordinates.
    pub fn eye_centres(verts: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
        let mid = |a: usize, b: usize| scale(add(verts[a], verts[b]), 0.5);
        (mid(EYE_LEFT[0], EYE_LEFT[1]), mid(EYE_RIGHT[0], EYE_RIGHT[1]))
    }
}

pub fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub fn scale(a: [f32; 3], s: f32) -> [f32; 3] {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}
pub fn normalize(a: [f32; 3]) -> [f32; 3] {
    let l = dot(a, a).sqrt().max(1e-12);
    scale(a, 1.0 / l)
}

/// Rotation matrix from yaw (about y), pitch (about x) and roll (about z), radians.
pub fn rotation(yaw: f32, pitch: f32, roll: f32) -> [[f32; 3]; 3] {
    let (sy, cy) = yaw.sin_cos();
    let (sp, cp) = pitch.sin_cos();
    let (sr, cr) = roll.sin_cos();
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    matmul(matmul(ry, rx), rz)
}

pub fn matmul(a: [[f32; 3]; 3], b: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

pub fn rotate(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_parses_and_nose_is_nearest() {
        parse_mesh(OBJ, LANDMARKS).unwrap();
        let m = canonical();
        assert_eq!(m.verts.len(), 468);
        assert_eq!(m.tris.len(), 898);
        let zmin = m.verts.iter().map(|v| v[2]).fold(f32::INFINITY, f32::min);
        assert_eq!(m.verts[NOSE_TIP][2], zmin);
        let n = FaceMesh::normals(&m.verts, &m.tris);
        assert!(n[NOSE_TIP][2] < -0.5);
        // Texture coordinates fall inside the cropped photo.
        assert!(m.uv.iter().all(|t| t[0] > 0.0 && t[0] < 1.0 && t[1] > 0.0 && t[1] < 1.0));
        let (l, r) = FaceMesh::eye_centres(&m.verts);
        assert!(l[0] < r[0] && m.uv[EYE_LEFT[0]][0] < m.uv[EYE_RIGHT[0]][0]);
    }

    #[test]
    fn bad_obj_line_is_named() {
        let err = parse_mesh("v 1 2\n", "").err().unwrap().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
