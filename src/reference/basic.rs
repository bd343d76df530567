//! References of the elementwise ops, reductions and matmul.

pub fn relu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.max(0.0)).collect()
}
pub fn relu_backward(x: &[f64], gy: &[f64]) -> Vec<f64> {
    x.iter().zip(gy).map(|(&v, &g)| if v > 0.0 { g } else { 0.0 }).collect()
}
pub fn sigmoid(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect()
}
pub fn sigmoid_backward(y: &[f64], gy: &[f64]) -> Vec<f64> {
    y.iter().zip(gy).map(|(&y, &g)| g * y * (1.0 - y)).collect()
}
pub fn tanh(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.tanh()).collect()
}
pub fn tanh_backward(y: &[f64], gy: &[f64]) -> Vec<f64> {
    y.iter().zip(gy).map(|(&y, &g)| g * (1.0 - y * y)).collect()
}

/// C[m, n] = A[m, k] @ B[k, n]
pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for kk in 0..k {
            let av = a[i * k + kk];
            for j in 0..n {
                c[i * n + j] += av * b[kk * n + j];
            }
        }
    }
    c
}

pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

/// (dA, dB) of C = A @ B given dC.
pub fn matmul_backward(a: &[f64], b: &[f64], gc: &[f64], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let ga = matmul(gc, &transpose(b, k, n), m, n, k);
    let gb = matmul(&transpose(a, m, k), gc, k, m, n);
    (ga, gb)
}

pub fn sum_rows(x: &[f64], rows: usize) -> Vec<f64> {
    let len = x.len() / rows;
    (0..rows).map(|r| x[r * len..(r + 1) * len].iter().sum()).collect()
}

/// Per row sum(x m) / sum(m), 0 for an empty mask.
pub fn masked_mean_rows(x: &[f64], m: &[f64], rows: usize) -> Vec<f64> {
    let len = x.len() / rows;
    (0..rows)
        .map(|r| {
            let (s, d) =
                (0..len).fold((0.0, 0.0), |(s, d), j| (s + x[r * len + j] * m[r * len + j], d + m[r * len + j]));
            if d > 0.0 {
                s / d
            } else {
                0.0
            }
        })
        .collect()
}

pub fn masked_mean_rows_backward(m: &[f64], g: &[f64]) -> Vec<f64> {
    let rows = g.len();
    let len = m.len() / rows;
    let mut out = vec![0.0; m.len()];
    for r in 0..rows {
        let d: f64 = m[r * len..(r + 1) * len].iter().sum();
        for j in 0..len {
            out[r * len + j] = if d > 0.0 { g[r] * m[r * len + j] / d } else { 0.0 };
        }
    }
    out
}
