//! Depthwise 3x3 Sobel, zero padding 1, cross-correlation; x is [n_maps, h, w] flattened.

pub const SOBEL_X: [[f64; 3]; 3] = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]];
pub const SOBEL_Y: [[f64; 3]; 3] = [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]];

/// y = k (cross-correlated) x per map.
pub fn conv3x3_depthwise(x: &[f64], maps: usize, h: usize, w: usize, k: &[[f64; 3]; 3]) -> Vec<f64> {
    let mut y = vec![0.0; maps * h * w];
    for m in 0..maps {
        for r in 0..h {
            for c in 0..w {
                let mut s = 0.0;
                for (a, row) in k.iter().enumerate() {
                    for (b, kv) in row.iter().enumerate() {
                        let (rr, cc) = (r as isize + a as isize - 1, c as isize + b as isize - 1);
                        if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                            s += kv * x[(m * h + rr as usize) * w + cc as usize];
                        }
                    }
                }
                y[(m * h + r) * w + c] = s;
            }
        }
    }
    y
}

/// dL/dx given gy: scatter each output's gradient back through the kernel.
pub fn conv3x3_depthwise_backward(gy: &[f64], maps: usize, h: usize, w: usize, k: &[[f64; 3]; 3]) -> Vec<f64> {
    let mut gx = vec![0.0; maps * h * w];
    for m in 0..maps {
        for r in 0..h {
            for c in 0..w {
                let g = gy[(m * h + r) * w + c];
                for (a, row) in k.iter().enumerate() {
                    for (b, kv) in row.iter().enumerate() {
                        let (rr, cc) = (r as isize + a as isize - 1, c as isize + b as isize - 1);
                        if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                            gx[(m * h + rr as usize) * w + cc as usize] += kv * g;
                        }
                    }
                }
            }
        }
    }
    gx
}

pub fn sobel(x: &[f64], maps: usize, h: usize, w: usize, dir_x: bool) -> Vec<f64> {
    conv3x3_depthwise(x, maps, h, w, if dir_x { &SOBEL_X } else { &SOBEL_Y })
}

pub fn sobel_backward(gy: &[f64], maps: usize, h: usize, w: usize, dir_x: bool) -> Vec<f64> {
    conv3x3_depthwise_backward(gy, maps, h, w, if dir_x { &SOBEL_X } else { &SOBEL_Y })
}

/// Both filters of x [n, c, h, w]: [n, 2c, h, w], per item sobel_x of the c channels, then sobel_y.
pub fn sobel_xy(x: &[f64], n: usize, c: usize, h: usize, w: usize) -> Vec<f64> {
    let (sx, sy) = (sobel(x, n * c, h, w, true), sobel(x, n * c, h, w, false));
    let block = c * h * w;
    (0..n).flat_map(|i| sx[i * block..(i + 1) * block].iter().chain(&sy[i * block..(i + 1) * block]).copied()).collect()
}

/// Gradient of `sobel_xy` w.r.t. x given gy [n, 2c, h, w].
pub fn sobel_xy_backward(gy: &[f64], n: usize, c: usize, h: usize, w: usize) -> Vec<f64> {
    let block = c * h * w;
    let part = |first: bool| -> Vec<f64> {
        let off = if first { 0 } else { block };
        (0..n).flat_map(|i| gy[2 * i * block + off..2 * i * block + off + block].iter().copied()).collect()
    };
    let gx = sobel_backward(&part(true), n * c, h, w, true);
    let gyy = sobel_backward(&part(false), n * c, h, w, false);
    gx.iter().zip(&gyy).map(|(a, b)| a + b).collect()
}
