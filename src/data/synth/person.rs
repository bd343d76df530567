//! The person around the face: the whole photo (hair, ears, neck, shoulders, clothes and what
//! else it shows) as a grid lifted onto proxy surfaces in head coordinates, so a live subject is
//! a whole person with depth, never a face cut out of a photo. The face mesh lies in front of
//! the proxies where the face is; what falls outside the head, neck and torso proxies is
//! transparent (the scene shows there).
//!
//! Proxies (metres, head coordinates: x right, y down, z away from the camera): the head an
//! ellipsoid behind the face mesh, pushed back under the face so the mesh's relief wins; the
//! neck an elliptic cylinder; the torso a wider elliptic cylinder below rounded shoulders.

/// Which proxy a grid vertex lies on: the head moves with the head, the rest with the body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Part {
    Head,
    Body,
}

#[derive(Clone)]
pub struct Person {
    /// Grid vertices across and down.
    pub nx: usize,
    pub ny: usize,
    pub pts: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    /// Texture coordinates in the identity's photo (v may pass 1: the bottom row repeats,
    /// so clothes continue below the photo's edge).
    pub uv: Vec<[f32; 2]>,
    /// Opacity 0..1 (person vs. the photo's own background around it).
    pub alpha: Vec<f32>,
    pub part: Vec<Part>,
}

/// How far below the photo (in photo heights) the clothes continue.
const BELOW: f32 = 0.6;

/// Head ellipsoid: centre and radii; the face pushes it back by `PUSH` inside the face.
const HEAD_C: [f32; 3] = [0.0, -0.02, 0.03];
const HEAD_R: [f32; 3] = [0.1, 0.14, 0.115];
const PUSH: f32 = 0.07;
/// Neck: half width, depth radius, centre z, top and bottom y.
const NECK: [f32; 5] = [0.06, 0.05, 0.04, 0.03, 0.3];
/// Torso: half width, depth radius, centre z, shoulder line y at the centre and its drop at
/// the sides.
const TORSO: [f32; 5] = [0.23, 0.12, 0.09, 0.15, 0.1];

/// Least-squares affine map photo uv -> head xy through the landmarks (vertex i of `verts` is
/// landmark i at `uv[i]`).
fn affine(verts: &[[f32; 3]], uv: &[[f32; 2]]) -> [[f32; 3]; 2] {
    // Normal equations of [u v 1] * coef = x (and = y).
    let mut m = [[0.0f64; 3]; 3];
    let mut bx = [0.0f64; 3];
    let mut by = [0.0f64; 3];
    for (p, t) in verts.iter().zip(uv) {
        let r = [t[0] as f64, t[1] as f64, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += r[i] * r[j];
            }
            bx[i] += r[i] * p[0] as f64;
            by[i] += r[i] * p[1] as f64;
        }
    }
    let solve = |b: [f64; 3]| {
        let det = |a: [[f64; 3]; 3]| {
            a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
        };
        let d = det(m);
        [0, 1, 2].map(|k| {
            let mut a = m;
            (0..3).for_each(|i| a[i][k] = b[i]);
            (det(a) / d) as f32
        })
    };
    [solve(bx), solve(by)]
}

/// Smooth 0..1 step of `x` over `w` around 0 (positive = inside).
fn soft(x: f32, w: f32) -> f32 {
    (0.5 + x / w).clamp(0.0, 1.0)
}

/// Depth, opacity and part of the person at head point (x, y).
fn proxy(x: f32, y: f32) -> (f32, f32, Part) {
    // Head: inside the (slightly larger) outline it is hair, ears or face.
    // Hair is wider than the face; below the eyes the head narrows to the jaw (beside the
    // cheeks a photo mostly shows its background).
    let taper = 1.0 - 0.22 * ((y + 0.02) / 0.08).clamp(0.0, 1.0);
    let (hx, hy) = ((x - HEAD_C[0]) / (HEAD_R[0] * taper), (y - HEAD_C[1]) / HEAD_R[1]);
    let hr2 = hx * hx + hy * hy;
    let head_in = soft(1.0 - hr2.sqrt(), 0.08);
    // Under the face (an ellipse a little inside the mesh's outline) the head is pushed back.
    let (fx, fy) = (x / 0.072, (y - 0.006) / 0.085);
    let under = ((1.0 - (fx * fx + fy * fy).sqrt()) / 0.12).clamp(0.0, 1.0);
    let head_z = HEAD_C[2] - HEAD_R[2] * (1.0 - hr2).max(0.0).sqrt() + PUSH * under;
    let neck_in =
        soft(1.0 - (x / NECK[0]).abs(), 0.15) * soft((y - NECK[3]) / NECK[0], 0.3) * soft((NECK[4] - y) / NECK[0], 0.3);
    let neck_z = NECK[2] - NECK[1] * (1.0 - (x / NECK[0]).powi(2)).max(0.0).sqrt();
    let tx = x / TORSO[0];
    let top = TORSO[3] + TORSO[4] * tx * tx;
    let torso_in = soft(1.0 - tx.abs(), 0.08) * soft((y - top) / 0.02, 1.0);
    let torso_z = TORSO[2] - TORSO[1] * (1.0 - tx * tx).max(0.0).sqrt();
    // The front-most surface that is there; the head wins where it is (the chin over the neck).
    let mut best = (head_z, head_in, Part::Head);
    for (z, a) in [(neck_z, neck_in), (torso_z, torso_in)] {
        if a > 0.5 && (best.1 < 0.5 || z < best.0) {
            best = (z, a.max(best.1), Part::Body);
        } else if best.1 < 0.5 {
            best.1 = best.1.max(a);
        }
    }
    best
}

impl Person {
    /// The person of a photo `aspect` = width / height, whose landmarks are `uv`, around a face
    /// mesh `verts`; `step` grid cells per photo width.
    pub fn new(verts: &[[f32; 3]], uv: &[[f32; 2]], aspect: f32, step: usize) -> Person {
        let a = affine(verts, uv);
        let nx = step + 1;
        let ny = ((1.0 + BELOW) * step as f32 / aspect).ceil() as usize + 1;
        let mut pts = Vec::with_capacity(nx * ny);
        let mut uvs = Vec::with_capacity(nx * ny);
        let mut alpha = Vec::with_capacity(nx * ny);
        let mut part = Vec::with_capacity(nx * ny);
        for j in 0..ny {
            for i in 0..nx {
                let (u, v) = (i as f32 / step as f32, j as f32 / (ny - 1) as f32 * (1.0 + BELOW));
                let x = a[0][0] * u + a[0][1] * v + a[0][2];
                let y = a[1][0] * u + a[1][1] * v + a[1][2];
                let (z, al, p) = proxy(x, y);
                pts.push([x, y, z]);
                uvs.push([u, v]);
                alpha.push(al);
                part.push(p);
            }
        }
        let normals = grid_normals(&pts, nx, ny);
        Person { nx, ny, pts, normals, uv: uvs, alpha, part }
    }
}

/// Normals of a grid surface by central differences, oriented towards the camera (-z).
fn grid_normals(p: &[[f32; 3]], nx: usize, ny: usize) -> Vec<[f32; 3]> {
    use crate::data::mesh::{cross, normalize, sub};
    let mut n = Vec::with_capacity(p.len());
    for j in 0..ny {
        for i in 0..nx {
            let at = |i: usize, j: usize| p[j * nx + i];
            let dx = sub(at((i + 1).min(nx - 1), j), at(i.saturating_sub(1), j));
            let dy = sub(at(i, (j + 1).min(ny - 1)), at(i, j.saturating_sub(1)));
            let c = normalize(cross(dx, dy));
            n.push(if c[2] > 0.0 { [-c[0], -c[1], -c[2]] } else { c });
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mesh::canonical;

    #[test]
    fn the_person_has_hair_above_neck_below_and_nothing_far_to_the_side() {
        let m = canonical();
        let p = Person::new(&m.verts, &m.uv, 1.0, 40);
        let near = |x: f32, y: f32| {
            (0..p.pts.len())
                .min_by(|&a, &b| {
                    let d = |k: usize| (p.pts[k][0] - x).powi(2) + (p.pts[k][1] - y).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap()
        };
        // Above the forehead (hair) and beside the face (ears): head, opaque, behind the face.
        for (x, y) in [(0.0, -0.11), (0.085, 0.0), (-0.085, 0.0)] {
            let k = near(x, y);
            assert!(p.alpha[k] > 0.5 && p.part[k] == Part::Head, "({x}, {y})");
            assert!(p.pts[k][2] > -0.07, "({x}, {y}): z {}", p.pts[k][2]);
        }
        // Under the face the head proxy is behind the mesh's nose and cheeks.
        let k = near(0.0, 0.0);
        assert!(p.pts[k][2] > m.verts[crate::data::mesh::NOSE_TIP][2] + 0.05);
        // Neck and shoulders: body, opaque.
        for (x, y) in [(0.0, 0.14), (0.18, 0.3)] {
            let k = near(x, y);
            assert!(p.alpha[k] > 0.5 && p.part[k] == Part::Body, "({x}, {y})");
        }
        // Beside the head, above the shoulders: the photo's background, transparent.
        let k = near(0.2, -0.05);
        assert!(p.alpha[k] < 0.5, "{}", p.alpha[k]);
        // Normals face the camera.
        assert!(p.normals.iter().all(|n| n[2] <= 0.0));
    }
}
