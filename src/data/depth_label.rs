//! Depth labels for real datasets that ship none: the canonical mesh posed on the face from eye
//! positions or a face box (similarity fit, orthographic), rendered with a z-buffer, normalised
//! to [0.1, 1] inside the face (1 = nearest) and 0 outside, then area-averaged to S x S.

use super::imageops::{downsample_plane, Rect};
use super::mesh::{canonical, FaceMesh};
use super::raster::Raster;

/// Where the face is in the image (pixel coordinates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaceAnchor {
    /// Centres of the image-left and image-right eye.
    Eyes { left: [f32; 2], right: [f32; 2] },
    /// Face box (x, y = top-left).
    Box(Rect),
}

impl FaceAnchor {
    /// The face box: the posed mesh's bounding box (for eyes), or the box itself.
    pub fn face_box(&self) -> Rect {
        match self {
            FaceAnchor::Box(r) => *r,
            FaceAnchor::Eyes { .. } => {
                let pts = posed_xy(self);
                let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
                for p in pts {
                    x0 = x0.min(p[0]);
                    y0 = y0.min(p[1]);
                    x1 = x1.max(p[0]);
                    y1 = y1.max(p[1]);
                }
                Rect { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }
            }
        }
    }
}

/// Depth and mask at S x S.
#[derive(Clone, Debug)]
pub struct DepthLabel {
    pub s: usize,
    pub depth: Vec<f32>,
    pub mask: Vec<f32>,
}

/// Renders the label for a `width x height` image with the face at `anchor`.
pub fn render_depth(anchor: &FaceAnchor, width: usize, height: usize, s: usize) -> DepthLabel {
    render_depth_in(anchor, Rect::full(width, height), s)
}

/// Renders the label for the image region `view` (e.g. the face crop) at S x S.
pub fn render_depth_in(anchor: &FaceAnchor, view: Rect, s: usize) -> DepthLabel {
    let (r, n) = raster_in(anchor, view, s);
    let (depth, mask) = normalise_depth(&r.z, &r.tag);
    let depth = downsample_plane(&depth, n, n, SUPER);
    DepthLabel { s, depth, mask: mask_at(&mask, n) }
}

/// The face mask alone (what the clip score of unlabelled input needs), equal to
/// `render_depth_in(..).mask`.
pub fn render_mask_in(anchor: &FaceAnchor, view: Rect, s: usize) -> Vec<f32> {
    let (r, n) = raster_in(anchor, view, s);
    let mask: Vec<f32> = r.tag.iter().map(|&t| if t == 1 { 1.0 } else { 0.0 }).collect();
    mask_at(&mask, n)
}

/// Labels are rendered at 4S and area-averaged to S.
const SUPER: usize = 4;

/// A mask rendered at n x n, area-averaged to S x S and cut at one half.
fn mask_at(mask: &[f32], n: usize) -> Vec<f32> {
    downsample_plane(mask, n, n, SUPER).into_iter().map(|v| if v >= 0.5 { 1.0 } else { 0.0 }).collect()
}

/// The canonical mesh posed at `anchor`, rasterised with a z-buffer over `view` at 4S x 4S.
fn raster_in(anchor: &FaceAnchor, view: Rect, s: usize) -> (Raster, usize) {
    let n = s * SUPER;
    let mesh = canonical();
    let (sx, sy) = (n as f32 / view.w, n as f32 / view.h);
    let (m, t, k) = similarity(anchor, mesh);
    let mut r = Raster::new(n, n, 0, true);
    let pts: Vec<[f32; 3]> = mesh
        .verts
        .iter()
        .map(|v| {
            let x = m[0] * v[0] - m[1] * v[1] + t[0];
            let y = m[1] * v[0] + m[0] * v[1] + t[1];
            [(x - view.x) * sx, (y - view.y) * sy, v[2] * k]
        })
        .collect();
    for tri in &mesh.tris {
        let p = [pts[tri[0] as usize], pts[tri[1] as usize], pts[tri[2] as usize]];
        r.tri(p, [&[], &[], &[]], 1);
    }
    (r, n)
}

/// Maps z-buffer depth to the label convention: [0.1, 1] inside (1 = nearest), 0 outside.
pub fn normalise_depth(z: &[f32], tag: &[u8]) -> (Vec<f32>, Vec<f32>) {
    let inside = |i: usize| tag[i] == 1;
    let (mut zmin, mut zmax) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in (0..z.len()).filter(|&i| inside(i)) {
        zmin = zmin.min(z[i]);
        zmax = zmax.max(z[i]);
    }
    let range = (zmax - zmin).max(1e-9);
    let depth = (0..z.len()).map(|i| if inside(i) { 0.1 + 0.9 * (zmax - z[i]) / range } else { 0.0 }).collect();
    let mask = (0..z.len()).map(|i| if inside(i) { 1.0 } else { 0.0 }).collect();
    (depth, mask)
}

/// Similarity transform image = [[a, -b], [b, a]] * mesh_xy + t, and the z scale.
fn similarity(anchor: &FaceAnchor, mesh: &FaceMesh) -> ([f32; 2], [f32; 2], f32) {
    match anchor {
        FaceAnchor::Eyes { left, right } => {
            let (l, r) = FaceMesh::eye_centres(&mesh.verts);
            let (ml, mr) = ([l[0], l[1]], [r[0], r[1]]);
            // Sort image eyes by x so a swapped file still gives an upright face.
            let (il, ir) = if left[0] <= right[0] { (*left, *right) } else { (*right, *left) };
            let md = [mr[0] - ml[0], mr[1] - ml[1]];
            let id = [ir[0] - il[0], ir[1] - il[1]];
            let mlen2 = md[0] * md[0] + md[1] * md[1];
            // Complex division id / md gives rotation + scale.
            let a = (id[0] * md[0] + id[1] * md[1]) / mlen2;
            let b = (id[1] * md[0] - id[0] * md[1]) / mlen2;
            let mm = [(ml[0] + mr[0]) / 2.0, (ml[1] + mr[1]) / 2.0];
            let im = [(il[0] + ir[0]) / 2.0, (il[1] + ir[1]) / 2.0];
            let t = [im[0] - (a * mm[0] - b * mm[1]), im[1] - (b * mm[0] + a * mm[1])];
            ([a, b], t, (a * a + b * b).sqrt())
        }
        FaceAnchor::Box(bx) => {
            let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            for v in &mesh.verts {
                x0 = x0.min(v[0]);
                y0 = y0.min(v[1]);
                x1 = x1.max(v[0]);
                y1 = y1.max(v[1]);
            }
            let a = 0.5 * (bx.w / (x1 - x0) + bx.h / (y1 - y0));
            let t = [bx.x + bx.w / 2.0 - a * (x0 + x1) / 2.0, bx.y + bx.h / 2.0 - a * (y0 + y1) / 2.0];
            ([a, 0.0], t, a)
        }
    }
}

fn posed_xy(anchor: &FaceAnchor) -> Vec<[f32; 2]> {
    let mesh = canonical();
    let (m, t, _) = similarity(anchor, mesh);
    mesh.verts.iter().map(|v| [m[0] * v[0] - m[1] * v[1] + t[0], m[1] * v[0] + m[0] * v[1] + t[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mesh::NOSE_TIP;

    #[test]
    fn nose_region_is_nearest_and_outside_is_zero() {
        let bx = Rect { x: 20.0, y: 16.0, w: 88.0, h: 96.0 };
        let lab = render_depth(&FaceAnchor::Box(bx), 128, 128, 32);
        // The label's maximum sits where the posed nose tip projects.
        let nose = posed_xy(&FaceAnchor::Box(bx))[NOSE_TIP];
        let (imax, _) = lab.depth.iter().enumerate().fold((0, 0.0), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        let (mx, my) = ((imax % 32) as f32 * 4.0 + 2.0, (imax / 32) as f32 * 4.0 + 2.0);
        assert!((mx - nose[0]).abs() <= 8.0 && (my - nose[1]).abs() <= 8.0, "max at {mx},{my} nose {nose:?}");
        assert_eq!(lab.depth[0], 0.0);
        assert_eq!(lab.mask[0], 0.0);
        assert_eq!(lab.mask[16 * 32 + 16], 1.0);
        assert!(lab.depth.iter().all(|&d| (0.0..=1.0).contains(&d)));
    }

    #[test]
    fn eyes_anchor_places_eyes() {
        let anchor = FaceAnchor::Eyes { left: [40.0, 50.0], right: [80.0, 50.0] };
        let pts = posed_xy(&anchor);
        let lc = [(pts[33][0] + pts[133][0]) / 2.0, (pts[33][1] + pts[133][1]) / 2.0];
        assert!((lc[0] - 40.0).abs() < 1e-3 && (lc[1] - 50.0).abs() < 1e-3);
        let fb = anchor.face_box();
        assert!(fb.y < 50.0 && fb.y + fb.h > 80.0, "box {fb:?} should span eyes to chin");
    }

    #[test]
    fn render_is_fast() {
        let t = std::time::Instant::now();
        for _ in 0..10 {
            render_depth(&FaceAnchor::Box(Rect { x: 60.0, y: 40.0, w: 120.0, h: 140.0 }), 256, 256, 32);
        }
        let ms = t.elapsed().as_secs_f64() * 100.0;
        println!("render_depth S=32: {ms:.2} ms per frame");
        assert!(ms < 200.0);
    }

    #[test]
    fn the_mask_alone_is_the_labels_mask() {
        let view = Rect { x: 5.0, y: 3.0, w: 60.0, h: 60.0 };
        for a in [
            FaceAnchor::Box(Rect { x: 20.0, y: 15.0, w: 30.0, h: 34.0 }),
            FaceAnchor::Eyes { left: [28.0, 30.0], right: [44.0, 29.0] },
        ] {
            let mask = render_mask_in(&a, view, 8);
            assert_eq!(mask, render_depth_in(&a, view, 8).mask);
            assert!(mask.contains(&1.0) && mask.contains(&0.0), "{mask:?}");
        }
    }
}
