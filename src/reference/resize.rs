//! Bilinear resize reference: align_corners=False, half-pixel centres, no antialias (PyTorch).

/// The two taps (i0, i1) and weights (w0, w1) of output coordinate o along an axis n_in -> n_out.
fn taps(o: usize, n_in: usize, n_out: usize) -> (usize, usize, f64, f64) {
    let src = ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(n_in - 1);
    let i1 = (i0 + 1).min(n_in - 1);
    let l1 = src - i0 as f64;
    (i0, i1, 1.0 - l1, l1)
}

/// Calls f(input index, output index, weight) for every tap of every output pixel.
fn for_each_tap(shape: [usize; 4], oh: usize, ow: usize, mut f: impl FnMut(usize, usize, f64)) {
    let [n, c, h, w] = shape;
    for plane in 0..n * c {
        for oy in 0..oh {
            let (y0, y1, wy0, wy1) = taps(oy, h, oh);
            for ox in 0..ow {
                let (x0, x1, wx0, wx1) = taps(ox, w, ow);
                let o = (plane * oh + oy) * ow + ox;
                for (iy, wy) in [(y0, wy0), (y1, wy1)] {
                    for (ix, wx) in [(x0, wx0), (x1, wx1)] {
                        f((plane * h + iy) * w + ix, o, wy * wx);
                    }
                }
            }
        }
    }
}

pub fn resize_bilinear(x: &[f64], shape: [usize; 4], oh: usize, ow: usize) -> Vec<f64> {
    let [n, c, _, _] = shape;
    let mut y = vec![0.0; n * c * oh * ow];
    for_each_tap(shape, oh, ow, |i, o, wt| y[o] += wt * x[i]);
    y
}

/// Scatter form of the gradient (the GPU gathers; the two are checked against each other).
pub fn resize_bilinear_backward(shape: [usize; 4], oh: usize, ow: usize, gy: &[f64]) -> Vec<f64> {
    let mut gx = vec![0.0; shape.iter().product()];
    for_each_tap(shape, oh, ow, |i, o, wt| gx[i] += wt * gy[o]);
    gx
}
