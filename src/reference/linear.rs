//! Linear layer y = x W^T + b in f64; x [n, i], W [o, i], b [o].

pub fn linear(x: &[f64], w: &[f64], b: &[f64], n: usize, i: usize, o: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            y[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[c * i + k]).sum::<f64>();
        }
    }
    y
}

/// (gx, gW, gb) given gy [n, o].
pub fn linear_backward(
    x: &[f64],
    w: &[f64],
    gy: &[f64],
    n: usize,
    i: usize,
    o: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut gx, mut gw, mut gb) = (vec![0.0; n * i], vec![0.0; o * i], vec![0.0; o]);
    for r in 0..n {
        for c in 0..o {
            let g = gy[r * o + c];
            gb[c] += g;
            for k in 0..i {
                gx[r * i + k] += g * w[c * i + k];
                gw[c * i + k] += g * x[r * i + k];
            }
        }
    }
    (gx, gw, gb)
}
