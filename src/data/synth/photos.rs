//! The face photos identities are made from, with MediaPipe landmarks as texture coordinates
//! of the mesh (sources and licences in assets/README.md): 0 the astronaut (Eileen Collins,
//! scikit-image), 1 Grace Hopper (matplotlib's sample data), 2 Barack Obama and 3 Joe Biden
//! (official White House portraits shipped in the face_recognition package's sdist), then
//! 4..8 their mirror images (each vertex takes the texture coordinates of its mirror vertex).

use crate::data::imageops::{decode_png_bytes, Img};
use crate::data::mesh::{self, canonical};
use std::sync::OnceLock;

/// An embedded 256 x 256 face photo and its landmarks: (png, csv, the original's size, the
/// window's top-left corner and side in the original's pixels).
struct Embedded {
    png: &'static [u8],
    landmarks: &'static str,
    full: (f32, f32),
    crop: (f32, f32),
    side: f32,
}

/// Photos 1..: hopper's landmarks are normalised to the 512 x 600 original (its crop is the
/// 256 x 256 window at (136, 104)); tools/face_photo_landmarks.py wrote the others' normalised to
/// their crop already.
const EMBEDDED: [Embedded; 3] = [
    Embedded {
        png: include_bytes!("../../../assets/hopper_face.png"),
        landmarks: include_str!("../../../assets/hopper_landmarks.csv"),
        full: (512.0, 600.0),
        crop: (136.0, 104.0),
        side: 256.0,
    },
    Embedded {
        png: include_bytes!("../../../assets/obama_face.png"),
        landmarks: include_str!("../../../assets/obama_landmarks.csv"),
        full: (1.0, 1.0),
        crop: (0.0, 0.0),
        side: 1.0,
    },
    Embedded {
        png: include_bytes!("../../../assets/biden_face.png"),
        landmarks: include_str!("../../../assets/biden_landmarks.csv"),
        full: (1.0, 1.0),
        crop: (0.0, 0.0),
        side: 1.0,
    },
];

/// Distinct face photos; `photo_and_uv` takes 0..PHOTOS, the upper half being mirror images.
pub const FACES: usize = 1 + EMBEDDED.len();
pub const PHOTOS: usize = 2 * FACES;

struct Photo {
    img: Img,
    uv: Vec<[f32; 2]>,
}

fn parse_uv(text: &str, full: (f32, f32), crop: (f32, f32), side: f32) -> Result<Vec<[f32; 2]>, String> {
    let mut uv = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<f32> = line.split(',').map(|s| s.trim().parse().unwrap_or(f32::NAN)).collect();
        if f.len() < 2 || f[0].is_nan() || f[1].is_nan() {
            return Err(format!("landmarks line {}: bad landmark {line:?}", n + 1));
        }
        uv.push([(f[0] * full.0 - crop.0) / side, (f[1] * full.1 - crop.1) / side]);
    }
    if uv.len() != canonical().verts.len() {
        return Err(format!("{} landmarks, the mesh has {} vertices", uv.len(), canonical().verts.len()));
    }
    Ok(uv)
}

/// For each vertex, the vertex nearest its mirror image (x -> -x) on the symmetric mesh.
fn mirror_map() -> Vec<usize> {
    let v = &canonical().verts;
    let cx = v.iter().map(|p| p[0]).sum::<f32>() / v.len() as f32;
    v.iter()
        .map(|p| {
            let m = [2.0 * cx - p[0], p[1], p[2]];
            (0..v.len())
                .min_by(|&a, &b| {
                    let d = |i: usize| mesh::dot(mesh::sub(v[i], m), mesh::sub(v[i], m));
                    d(a).total_cmp(&d(b))
                })
                .unwrap_or(0)
        })
        .collect()
}

fn photos() -> &'static [Photo] {
    static P: OnceLock<Vec<Photo>> = OnceLock::new();
    P.get_or_init(|| {
        let mut faces = vec![Photo { img: mesh::photo().clone(), uv: canonical().uv.clone() }];
        for (k, e) in EMBEDDED.iter().enumerate() {
            faces.push(Photo {
                img: decode_png_bytes(e.png).unwrap_or_else(|err| panic!("embedded face photo {}: {err}", k + 1)),
                uv: parse_uv(e.landmarks, e.full, e.crop, e.side)
                    .unwrap_or_else(|err| panic!("embedded face photo {}: {err}", k + 1)),
            });
        }
        let mirror = mirror_map();
        let mirrored: Vec<Photo> =
            faces.iter().map(|p| Photo { img: p.img.clone(), uv: mirror.iter().map(|&j| p.uv[j]).collect() }).collect();
        faces.extend(mirrored);
        faces
    })
}

/// Photo `i` (0..PHOTOS) and the mesh's texture coordinates in it.
pub fn photo_and_uv(i: usize) -> (&'static Img, &'static [[f32; 2]]) {
    let p = &photos()[i % PHOTOS];
    (&p.img, &p.uv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_parse_and_landmarks_lie_inside() {
        for i in 0..PHOTOS {
            let (img, uv) = photo_and_uv(i);
            assert_eq!((img.w, img.h), (256, 256));
            assert!(uv.iter().all(|t| t[0] > 0.0 && t[0] < 1.0 && t[1] > 0.0 && t[1] < 1.0), "photo {i}");
            // The image-left eye vertex samples the left eye of the photo, or the right one of
            // a mirrored photo.
            let left_of = uv[mesh::EYE_LEFT[0]][0] < uv[mesh::EYE_RIGHT[0]][0];
            assert_eq!(left_of, i < FACES, "photo {i}");
        }
        // Mirroring is an involution on the symmetric mesh.
        let m = mirror_map();
        let fixed = (0..m.len()).filter(|&i| m[m[i]] == i).count();
        assert!(fixed as f32 > 0.95 * m.len() as f32, "{fixed} of {}", m.len());
        assert!(parse_uv("0.1,0.2\n", (1.0, 1.0), (0.0, 0.0), 1.0).unwrap_err().contains("landmarks"));
    }
}
