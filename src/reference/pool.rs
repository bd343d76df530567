//! Max pool 2x2 stride 2 reference (floor for odd sizes; first maximum in row-major order wins).

/// Flat input index of the maximum of output (plane, oy, ox)'s window.
fn argmax(x: &[f64], h: usize, w: usize, plane: usize, oy: usize, ox: usize) -> usize {
    let mut best = plane * h * w + 2 * oy * w + 2 * ox;
    for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
        let i = plane * h * w + (2 * oy + dy) * w + 2 * ox + dx;
        if x[i] > x[best] {
            best = i;
        }
    }
    best
}

fn for_each_window(shape: [usize; 4], mut f: impl FnMut(usize, usize, usize, usize)) {
    let [n, c, h, w] = shape;
    let (oh, ow) = (h / 2, w / 2);
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                f(plane, oy, ox, (plane * oh + oy) * ow + ox);
            }
        }
    }
}

pub fn maxpool2(x: &[f64], shape: [usize; 4]) -> Vec<f64> {
    let [n, c, h, w] = shape;
    let mut y = vec![0.0; n * c * (h / 2) * (w / 2)];
    for_each_window(shape, |plane, oy, ox, o| y[o] = x[argmax(x, h, w, plane, oy, ox)]);
    y
}

pub fn maxpool2_backward(x: &[f64], shape: [usize; 4], gy: &[f64]) -> Vec<f64> {
    let [_, _, h, w] = shape;
    let mut gx = vec![0.0; x.len()];
    for_each_window(shape, |plane, oy, ox, o| gx[argmax(x, h, w, plane, oy, ox)] += gy[o]);
    gx
}
