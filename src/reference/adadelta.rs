//! Adadelta reference (PyTorch's torch.optim.Adadelta, no weight decay).

/// One step in place over p, v (square_avg), u (acc_delta).
pub fn adadelta_step(p: &mut [f64], g: &[f64], v: &mut [f64], u: &mut [f64], lr: f64, rho: f64, eps: f64) {
    for i in 0..p.len() {
        v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
        let delta = (u[i] + eps).sqrt() / (v[i] + eps).sqrt() * g[i];
        u[i] = rho * u[i] + (1.0 - rho) * delta * delta;
        p[i] -= lr * delta;
    }
}
