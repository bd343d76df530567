//! Adadelta reference (PyTorch's torch.optim.Adadelta, weight_decay included).

/// One step in place over p, v (square_avg), u (acc_delta); `weight_decay` times p is added to
/// the gradient first, as PyTorch does.
#[allow(clippy::too_many_arguments)]
pub fn adadelta_step(
    p: &mut [f64],
    g: &[f64],
    v: &mut [f64],
    u: &mut [f64],
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
) {
    for i in 0..p.len() {
        let gi = g[i] + weight_decay * p[i];
        v[i] = rho * v[i] + (1.0 - rho) * gi * gi;
        let delta = (u[i] + eps).sqrt() / (v[i] + eps).sqrt() * gi;
        u[i] = rho * u[i] + (1.0 - rho) * delta * delta;
        p[i] -= lr * delta;
    }
}
