//! The face photos identities are made from, with MediaPipe landmarks as texture coordinates
//! of the mesh (sources and licences in assets/README.md): 0 the astronaut (Eileen Collins,
//! scikit-image), 1 Grace Hopper (matplotlib's sample data), 2 Barack Obama and 3 Joe Biden
//! (official White House portraits shipped in the face_recognition package's sdist), then
//! 4..4 + SHEET_PEOPLE colour photos of real people (one sheet of head-and-shoulders tiles made
//! by tools/colour_people.py: everyday photos of the inter-faces set, the Face Research Lab
//! London set and official U.S. Congress portraits, taken in turn), then the mirror images of
//! all of them (each vertex takes the texture coordinates of its mirror vertex).

use crate::data::imageops::{decode_png_bytes, Img};
use crate::data::mesh::{self, canonical};
use std::sync::OnceLock;

/// An embedded head-and-shoulders photo (JPEG) and its landmarks, normalised to it.
struct Embedded {
    jpg: &'static [u8],
    landmarks: &'static str,
}

/// Photos 1..; photo 0 is the mesh's own (the astronaut).
const EMBEDDED: [Embedded; 3] = [
    Embedded {
        jpg: include_bytes!("../../../assets/hopper.jpg"),
        landmarks: include_str!("../../../assets/hopper_landmarks.csv"),
    },
    Embedded {
        jpg: include_bytes!("../../../assets/obama.jpg"),
        landmarks: include_str!("../../../assets/obama_landmarks.csv"),
    },
    Embedded {
        jpg: include_bytes!("../../../assets/biden.jpg"),
        landmarks: include_str!("../../../assets/biden_landmarks.csv"),
    },
];

/// The colour people: one JPEG of 200 x 250 tiles, `SHEET_COLS` across, and their
/// landmarks (per tile a line `# k FILE`, then its landmarks normalised to the tile).
const SHEET_JPG: &[u8] = include_bytes!("../../../assets/people_sheet.jpg");
const SHEET_LANDMARKS: &str = include_str!("../../../assets/people_landmarks.csv");
const SHEET_TILE: (usize, usize) = (200, 250);
const SHEET_COLS: usize = 12;
pub const SHEET_PEOPLE: usize = 241;

/// The four colour portraits (photo 0..4).
pub const PORTRAITS: usize = 1 + EMBEDDED.len();
/// Distinct face photos; `photo_and_uv` takes 0..PHOTOS, the upper half being mirror images.
pub const FACES: usize = PORTRAITS + SHEET_PEOPLE;
pub const PHOTOS: usize = 2 * FACES;

struct Photo {
    img: Img,
    uv: Vec<[f32; 2]>,
}

fn parse_uv(text: &str) -> Result<Vec<[f32; 2]>, String> {
    let mut uv = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<f32> = line.split(',').map(|s| s.trim().parse().unwrap_or(f32::NAN)).collect();
        if f.len() < 2 || f[0].is_nan() || f[1].is_nan() {
            return Err(format!("landmarks line {}: bad landmark {line:?}", n + 1));
        }
        uv.push([f[0], f[1]]);
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

type Photos = (Vec<Img>, Vec<Vec<[f32; 2]>>);

/// The distinct photos (0..FACES), and the texture coordinates of all PHOTOS (a mirror image
/// is its photo with each vertex at its mirror vertex's coordinates: no second image).
fn photos() -> &'static Photos {
    static P: OnceLock<Photos> = OnceLock::new();
    P.get_or_init(|| {
        let mut faces = vec![Photo { img: mesh::photo().clone(), uv: canonical().uv.clone() }];
        for (k, e) in EMBEDDED.iter().enumerate() {
            faces.push(Photo {
                img: decode_png_bytes(e.jpg).unwrap_or_else(|err| panic!("embedded face photo {}: {err}", k + 1)),
                uv: parse_uv(e.landmarks).unwrap_or_else(|err| panic!("embedded face photo {}: {err}", k + 1)),
            });
        }
        faces.extend(sheet_people().unwrap_or_else(|err| panic!("embedded people sheet: {err}")));
        let mirror = mirror_map();
        let mut uv: Vec<Vec<[f32; 2]>> = faces.iter().map(|p| p.uv.clone()).collect();
        uv.extend(faces.iter().map(|p| mirror.iter().map(|&j| p.uv[j]).collect::<Vec<_>>()));
        (faces.into_iter().map(|p| p.img).collect(), uv)
    })
}

/// The colour people cut from their sheet, with their landmarks.
fn sheet_people() -> Result<Vec<Photo>, String> {
    let sheet = decode_png_bytes(SHEET_JPG).map_err(|e| e.to_string())?;
    let (tw, th) = SHEET_TILE;
    let mut blocks: Vec<String> = Vec::new();
    for line in SHEET_LANDMARKS.lines() {
        match line.strip_prefix("# ") {
            // a new tile's block starts at its `# k FILE` line (the file's first line is a comment too)
            Some(rest) if rest.split_whitespace().next().is_some_and(|k| k.parse::<usize>().is_ok()) => {
                blocks.push(String::new())
            }
            _ => {
                if let Some(b) = blocks.last_mut() {
                    b.push_str(line);
                    b.push('\n');
                }
            }
        }
    }
    if blocks.len() != SHEET_PEOPLE {
        return Err(format!("{} landmark blocks, {SHEET_PEOPLE} people expected", blocks.len()));
    }
    let rows = SHEET_PEOPLE.div_ceil(SHEET_COLS);
    if sheet.w != SHEET_COLS * tw || sheet.h != rows * th {
        return Err(format!("{} x {}, expected {} x {}", sheet.w, sheet.h, SHEET_COLS * tw, rows * th));
    }
    blocks
        .iter()
        .enumerate()
        .map(|(k, text)| {
            let (x0, y0) = ((k % SHEET_COLS) * tw, (k / SHEET_COLS) * th);
            let mut img = Img::new(tw, th, 3);
            for y in 0..th {
                for x in 0..tw {
                    for ch in 0..3 {
                        img.set(x, y, ch, sheet.at(x0 + x, y0 + y, ch));
                    }
                }
            }
            Ok(Photo { img, uv: parse_uv(text).map_err(|e| format!("person {k}: {e}"))? })
        })
        .collect()
}

/// Photo `i` (0..PHOTOS) and the mesh's texture coordinates in it.
pub fn photo_and_uv(i: usize) -> (&'static Img, &'static [[f32; 2]]) {
    let (imgs, uv) = photos();
    (&imgs[i % FACES], &uv[i % PHOTOS])
}

/// Photo `from` resampled into photo `to`'s frame, mesh triangle by mesh triangle (the
/// piecewise-affine warp of face morphing): a texel of `to` on the face gets the colour of the
/// same point of the face in `from`. The second result marks those texels; the others (outside
/// the mesh, never rendered) keep `to`'s colour.
pub fn warped_into(from: usize, to: usize) -> (Img, Vec<bool>) {
    let ((src, src_uv), (dst, dst_uv)) = (photo_and_uv(from), photo_and_uv(to));
    let (w, h) = (dst.w, dst.h);
    let mut out = dst.clone();
    let mut on_face = vec![false; w * h];
    for t in &canonical().tris {
        let [a, b, c] = t.map(|i| i as usize);
        let px = |i: usize| [dst_uv[i][0] * w as f32, dst_uv[i][1] * h as f32];
        let (pa, pb, pc) = (px(a), px(b), px(c));
        let area = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (pb[1] - pa[1]);
        if area.abs() < 1e-6 {
            continue;
        }
        let lo = |k: usize| pa[k].min(pb[k]).min(pc[k]).floor().max(0.0) as usize;
        let hi = |k: usize, n: usize| (pa[k].max(pb[k]).max(pc[k]).ceil() as usize).min(n);
        for y in lo(1)..hi(1, h) {
            for x in lo(0)..hi(0, w) {
                let q = [x as f32 + 0.5, y as f32 + 0.5];
                // barycentric weights of q (a small tolerance closes the seams between triangles)
                let l1 = ((q[0] - pa[0]) * (pc[1] - pa[1]) - (pc[0] - pa[0]) * (q[1] - pa[1])) / area;
                let l2 = ((pb[0] - pa[0]) * (q[1] - pa[1]) - (q[0] - pa[0]) * (pb[1] - pa[1])) / area;
                let l0 = 1.0 - l1 - l2;
                if l0 < -1e-3 || l1 < -1e-3 || l2 < -1e-3 {
                    continue;
                }
                let u = l0 * src_uv[a][0] + l1 * src_uv[b][0] + l2 * src_uv[c][0];
                let v = l0 * src_uv[a][1] + l1 * src_uv[b][1] + l2 * src_uv[c][1];
                let c = src.sample_uv_rgb(u, v);
                (0..3).for_each(|ch| out.set(x, y, ch, c[ch]));
                on_face[y * w + x] = true;
            }
        }
    }
    (out, on_face)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_parse_and_landmarks_lie_inside() {
        for i in 0..PHOTOS {
            let (img, uv) = photo_and_uv(i);
            let portrait = i % FACES < PORTRAITS;
            assert!(
                if portrait {
                    img.w >= 448 && img.h >= 448 && img.w.max(img.h) <= 600
                } else {
                    (img.w, img.h) == SHEET_TILE
                },
                "photo {i}: {} x {}",
                img.w,
                img.h
            );
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
        assert!(parse_uv("0.1,0.2\n").unwrap_err().contains("landmarks"));
    }

    #[test]
    fn a_warped_photo_puts_each_face_point_where_the_target_photo_has_it() {
        // Photo 0 warped into photo 2's frame: the texel at a landmark of photo 2 shows what
        // photo 0 shows at that landmark (a vertex is a triangle corner: no interpolation).
        let (warped, on_face) = warped_into(0, 2);
        let ((src, src_uv), (dst, dst_uv)) = (photo_and_uv(0), photo_and_uv(2));
        let texel = |uv: [f32; 2], img: &Img| ((uv[0] * img.w as f32) as usize, (uv[1] * img.h as f32) as usize);
        let mut checked = 0;
        for v in [mesh::NOSE_TIP, mesh::EYE_LEFT[0], mesh::EYE_RIGHT[1], 13, 168, 200] {
            let (x, y) = texel(dst_uv[v], dst);
            assert!(on_face[y * dst.w + x], "vertex {v}");
            // the texel centre lies within a texel of the vertex: compare with the source's
            // colour at the mapped point, up to what one texel of gradient allows
            let (sx, sy) = texel(src_uv[v], src);
            let near = |ch: usize| {
                let (x0, x1, y0, y1) =
                    (sx.saturating_sub(2), (sx + 2).min(src.w - 1), sy.saturating_sub(2), (sy + 2).min(src.h - 1));
                let vals: Vec<f32> = (y0..=y1)
                    .flat_map(|yy| (x0..=x1).map(move |xx| (xx, yy)))
                    .map(|(xx, yy)| src.at(xx, yy, ch))
                    .collect();
                let (lo, hi) = vals.iter().fold((f32::MAX, f32::MIN), |m, &v| (m.0.min(v), m.1.max(v)));
                (lo - 1.0..=hi + 1.0).contains(&warped.at(x, y, ch))
            };
            assert!((0..3).all(near), "vertex {v}");
            checked += 1;
        }
        assert_eq!(checked, 6);
        // The face covers a good part of the frame; off the face the target photo is kept.
        let covered = on_face.iter().filter(|&&c| c).count() as f32 / on_face.len() as f32;
        assert!((0.03..0.5).contains(&covered), "{covered}");
        let off = on_face.iter().position(|&c| !c).unwrap();
        assert_eq!(warped.data[off * 3..off * 3 + 3], dst.data[off * 3..off * 3 + 3]);
        // A photo warped into itself is itself, up to resampling.
        let (same, mask) = warped_into(2, 2);
        let diff: f32 =
            (0..dst.data.len()).filter(|&i| mask[i / 3]).map(|i| (same.data[i] - dst.data[i]).abs()).sum::<f32>()
                / (3 * mask.iter().filter(|&&c| c).count()) as f32;
        assert!(diff < 3.0, "mean difference {diff}");
    }
}
