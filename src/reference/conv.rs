//! f64 reference of the 2-D convolution: stride 1, zero padding k/2, odd k, cross-correlation.
//! Shapes: x [n, ci, h, w], weight [co, ci, k, k], bias [co], y [n, co, h, w].

/// Calls `f(n, o, c, tap_y, tap_x, y_index, x_index)` for every product term of the convolution
/// whose input pixel lies inside the image (padding terms are zero).
fn for_each_term(
    [n, ci, h, w]: [usize; 4],
    co: usize,
    k: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize),
) {
    let pad = (k / 2) as isize;
    for b in 0..n {
        for o in 0..co {
            for c in 0..ci {
                for ky in 0..k {
                    for kx in 0..k {
                        for i in 0..h {
                            let ii = i as isize + ky as isize - pad;
                            if ii < 0 || ii >= h as isize {
                                continue;
                            }
                            for j in 0..w {
                                let jj = j as isize + kx as isize - pad;
                                if jj < 0 || jj >= w as isize {
                                    continue;
                                }
                                let yi = ((b * co + o) * h + i) * w + j;
                                let xi = ((b * ci + c) * h + ii as usize) * w + jj as usize;
                                f(b, o, c, ky, kx, yi, xi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = conv(x, weight) + bias.
pub fn conv2d(x: &[f64], shape: [usize; 4], weight: &[f64], co: usize, k: usize, bias: Option<&[f64]>) -> Vec<f64> {
    let [n, ci, h, w] = shape;
    let mut y = vec![0.0; n * co * h * w];
    if let Some(b) = bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v = b[(i / (h * w)) % co];
        }
    }
    for_each_term(shape, co, k, |_, o, c, ky, kx, yi, xi| {
        y[yi] += weight[((o * ci + c) * k + ky) * k + kx] * x[xi];
    });
    y
}

/// (gx, gweight, gbias) of conv2d given the upstream gradient gy.
pub fn conv2d_backward(
    x: &[f64],
    shape: [usize; 4],
    weight: &[f64],
    co: usize,
    k: usize,
    gy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [n, ci, h, w] = shape;
    let mut gx = vec![0.0; x.len()];
    let mut gw = vec![0.0; weight.len()];
    for_each_term(shape, co, k, |_, o, c, ky, kx, yi, xi| {
        let wi = ((o * ci + c) * k + ky) * k + kx;
        gx[xi] += weight[wi] * gy[yi];
        gw[wi] += x[xi] * gy[yi];
    });
    let mut gb = vec![0.0; co];
    for (i, g) in gy.iter().enumerate() {
        gb[(i / (h * w)) % co] += g;
    }
    debug_assert_eq!(gy.len(), n * co * h * w);
    (gx, gw, gb)
}
