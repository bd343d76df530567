//! References of the elementwise ops, reductions and matmul.

pub fn relu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| v.max(0.0)).collect()
}
pub fn relu_backward(x: &[f64], gy: &[f64]) -> Vec<f64> {
    x.iter().zip(gy).map(|(&v, &g)| if v > 0.0 { g } else { 0.0 }).collect()
}
/// `ops::elementwise::relu_revive_backward`: where x <= 0 the upstream gradient's negative part.
pub fn relu_revive_backward(x: &[f64], gy: &[f64]) -> Vec<f64> {
    x.iter().zip(gy).map(|(&v, &g)| if v > 0.0 { g } else { g.min(0.0) }).collect()
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
