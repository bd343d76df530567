//! Concatenation / slicing along a dimension of a row-major tensor.

fn split(shape: &[usize], dim: usize) -> (usize, usize) {
    (shape[..dim].iter().product(), shape[dim + 1..].iter().product())
}

/// Concatenation along `dim` of tensors given as (data, shape); shapes agree except at `dim`.
pub fn concat(xs: &[(&[f64], &[usize])], dim: usize) -> Vec<f64> {
    let (outer, inner) = split(xs[0].1, dim);
    let mut y = Vec::new();
    for o in 0..outer {
        for (x, shape) in xs {
            let len = shape[dim] * inner;
            y.extend_from_slice(&x[o * len..(o + 1) * len]);
        }
    }
    y
}

/// x[.., start .. start + len, ..] along `dim`.
pub fn slice(x: &[f64], shape: &[usize], dim: usize, start: usize, len: usize) -> Vec<f64> {
    let (outer, inner) = split(shape, dim);
    let mut y = Vec::new();
    for o in 0..outer {
        let base = (o * shape[dim] + start) * inner;
        y.extend_from_slice(&x[base..base + len * inner]);
    }
    y
}

/// Gradient of `slice`: gy placed in zeros of `shape`.
pub fn slice_backward(gy: &[f64], shape: &[usize], dim: usize, start: usize, len: usize) -> Vec<f64> {
    let (outer, inner) = split(shape, dim);
    let mut gx = vec![0.0; shape.iter().product()];
    for o in 0..outer {
        let base = (o * shape[dim] + start) * inner;
        gx[base..base + len * inner].copy_from_slice(&gy[o * len * inner..(o + 1) * len * inner]);
    }
    gx
}
