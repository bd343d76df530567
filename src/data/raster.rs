//! A small z-buffer triangle rasteriser: per-pixel nearest depth, a surface tag and
//! perspective-correct interpolated attributes.

/// Render target: depth (view z, +inf where empty), tag (0 = nothing drawn) and `na`
/// attributes per pixel.
pub struct Raster {
    pub w: usize,
    pub h: usize,
    pub na: usize,
    /// Orthographic projection: interpolate z and attributes linearly in screen space.
    pub ortho: bool,
    pub z: Vec<f32>,
    pub tag: Vec<u8>,
    pub attr: Vec<f32>,
}

impl Raster {
    pub fn new(w: usize, h: usize, na: usize, ortho: bool) -> Raster {
        Raster { w, h, na, ortho, z: vec![f32::INFINITY; w * h], tag: vec![0; w * h], attr: vec![0.0; w * h * na] }
    }

    pub fn attrs(&self, i: usize) -> &[f32] {
        &self.attr[i * self.na..(i + 1) * self.na]
    }

    /// Draws one triangle. `p` holds screen x, y (pixels, centres at i + 0.5) and view depth z
    /// (> 0 for perspective); `a` its vertex attributes (`na` each).
    pub fn tri(&mut self, p: [[f32; 3]; 3], a: [&[f32]; 3], tag: u8) {
        if !self.ortho && p.iter().any(|v| v[2] <= 1e-4) {
            return; // behind or at the camera: never the case in our scenes
        }
        let area = edge(p[0], p[1], p[2]);
        if area.abs() < 1e-12 || p.iter().flatten().any(|v| !v.is_finite()) {
            return;
        }
        let minx = p.iter().map(|v| v[0]).fold(f32::INFINITY, f32::min).floor().max(0.0) as usize;
        let miny = p.iter().map(|v| v[1]).fold(f32::INFINITY, f32::min).floor().max(0.0) as usize;
        let maxx = (p.iter().map(|v| v[0]).fold(f32::NEG_INFINITY, f32::max).ceil()).min(self.w as f32);
        let maxy = (p.iter().map(|v| v[1]).fold(f32::NEG_INFINITY, f32::max).ceil()).min(self.h as f32);
        if maxx <= 0.0 || maxy <= 0.0 {
            return;
        }
        // Perspective-correct weights: interpolate 1/z and attr/z linearly.
        let iz: [f32; 3] = if self.ortho { [1.0; 3] } else { [1.0 / p[0][2], 1.0 / p[1][2], 1.0 / p[2][2]] };
        for y in miny..maxy as usize {
            for x in minx..maxx as usize {
                let q = [x as f32 + 0.5, y as f32 + 0.5, 0.0];
                let b = [edge(p[1], p[2], q) / area, edge(p[2], p[0], q) / area, edge(p[0], p[1], q) / area];
                if b.iter().any(|&v| v < 0.0) {
                    continue;
                }
                let wsum = b[0] * iz[0] + b[1] * iz[1] + b[2] * iz[2];
                let z = if self.ortho { b[0] * p[0][2] + b[1] * p[1][2] + b[2] * p[2][2] } else { 1.0 / wsum };
                let i = y * self.w + x;
                if z >= self.z[i] {
                    continue;
                }
                self.z[i] = z;
                self.tag[i] = tag;
                let wk = [b[0] * iz[0] / wsum, b[1] * iz[1] / wsum, b[2] * iz[2] / wsum];
                let out = &mut self.attr[i * self.na..(i + 1) * self.na];
                for (k, o) in out.iter_mut().enumerate() {
                    *o = wk[0] * a[0][k] + wk[1] * a[1][k] + wk[2] * a[2][k];
                }
            }
        }
    }
}

fn edge(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> f32 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearer_triangle_wins_and_attrs_interpolate() {
        let mut r = Raster::new(8, 8, 1, false);
        let far = [[0.0, 0.0, 2.0], [8.0, 0.0, 2.0], [0.0, 8.0, 2.0]];
        let near = [[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 1.0]];
        r.tri(near, [&[1.0], &[1.0], &[1.0]], 2);
        r.tri(far, [&[5.0], &[5.0], &[5.0]], 1);
        assert_eq!(r.tag[0], 2);
        assert_eq!(r.attrs(0)[0], 1.0);
        assert_eq!(r.tag[63], 0, "pixel outside both triangles");
        // Attribute varying along x: value at a pixel centre equals its x fraction.
        let mut r = Raster::new(8, 8, 1, true);
        r.tri([[0.0, 0.0, 1.0], [8.0, 0.0, 1.0], [0.0, 8.0, 1.0]], [&[0.0], &[8.0], &[0.0]], 1);
        assert!((r.attrs(8 + 2)[0] - 2.5).abs() < 1e-4);
    }
}
