//! ConvGRU gate math around the convolutions, elementwise in f64.

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// (u, rh) = (sigmoid(pre_u), sigmoid(pre_r) * h_prev)
pub fn gru_gates(pre_r: &[f64], pre_u: &[f64], h_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let u = pre_u.iter().map(|&x| sigmoid(x)).collect();
    let rh = pre_r.iter().zip(h_prev).map(|(&x, &h)| sigmoid(x) * h).collect();
    (u, rh)
}

/// Gradients (g_pre_r, g_pre_u, g_h_prev) given upstream g_u, g_rh.
pub fn gru_gates_backward(pre_r: &[f64], pre_u: &[f64], h_prev: &[f64], g_u: &[f64], g_rh: &[f64]) -> [Vec<f64>; 3] {
    let n = pre_r.len();
    let mut out = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    for i in 0..n {
        let (r, u) = (sigmoid(pre_r[i]), sigmoid(pre_u[i]));
        out[0][i] = g_rh[i] * h_prev[i] * r * (1.0 - r);
        out[1][i] = g_u[i] * u * (1.0 - u);
        out[2][i] = g_rh[i] * r;
    }
    out
}

/// h = (1 - u) h_prev + u tanh(pre_c)
pub fn gru_update(u: &[f64], h_prev: &[f64], pre_c: &[f64]) -> Vec<f64> {
    (0..u.len()).map(|i| (1.0 - u[i]) * h_prev[i] + u[i] * pre_c[i].tanh()).collect()
}

/// Gradients (g_u, g_h_prev, g_pre_c) given upstream g.
pub fn gru_update_backward(u: &[f64], h_prev: &[f64], pre_c: &[f64], g: &[f64]) -> [Vec<f64>; 3] {
    let n = u.len();
    let mut out = [vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    for i in 0..n {
        let hc = pre_c[i].tanh();
        out[0][i] = g[i] * (hc - h_prev[i]);
        out[1][i] = g[i] * (1.0 - u[i]);
        out[2][i] = g[i] * u[i] * (1.0 - hc * hc);
    }
    out
}
