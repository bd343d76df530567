//! BatchNorm2d reference (PyTorch semantics) on NCHW data given as [n, c, h, w].

/// Per-channel batch mean and biased variance over N, H, W.
pub fn batch_stats(x: &[f64], shape: [usize; 4]) -> (Vec<f64>, Vec<f64>) {
    let [n, c, h, w] = shape;
    let hw = h * w;
    let m = (n * hw) as f64;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for ch in 0..c {
        let vals = (0..n).flat_map(|b| x[(b * c + ch) * hw..(b * c + ch + 1) * hw].iter());
        mean[ch] = vals.clone().sum::<f64>() / m;
        var[ch] = vals.map(|v| (v - mean[ch]).powi(2)).sum::<f64>() / m;
    }
    (mean, var)
}

/// The (mean, var) used to normalise: batch statistics in training, running ones in eval.
fn used_stats(x: &[f64], shape: [usize; 4], rm: &[f64], rv: &[f64], training: bool) -> (Vec<f64>, Vec<f64>) {
    if training {
        batch_stats(x, shape)
    } else {
        (rm.to_vec(), rv.to_vec())
    }
}

/// y = (x - mean) / sqrt(var + eps) * gamma + beta.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm(
    x: &[f64],
    shape: [usize; 4],
    gamma: &[f64],
    beta: &[f64],
    rm: &[f64],
    rv: &[f64],
    training: bool,
    eps: f64,
) -> Vec<f64> {
    let [_, c, h, w] = shape;
    let (mean, var) = used_stats(x, shape, rm, rv, training);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / (h * w)) % c;
            (v - mean[ch]) / (var[ch] + eps).sqrt() * gamma[ch] + beta[ch]
        })
        .collect()
}

/// Running statistics after one training forward: r = (1 - m) r + m batch (unbiased variance).
pub fn running_update(x: &[f64], shape: [usize; 4], rm: &[f64], rv: &[f64], momentum: f64) -> (Vec<f64>, Vec<f64>) {
    let [n, _, h, w] = shape;
    let m = (n * h * w) as f64;
    let (mean, var) = batch_stats(x, shape);
    let new_rm = rm.iter().zip(&mean).map(|(r, b)| (1.0 - momentum) * r + momentum * b).collect();
    let new_rv = rv.iter().zip(&var).map(|(r, b)| (1.0 - momentum) * r + momentum * b * m / (m - 1.0)).collect();
    (new_rm, new_rv)
}

/// (gx, dgamma, dbeta) of sum(gy * y). Training differentiates through the batch statistics;
/// eval treats the running statistics as constants.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    x: &[f64],
    shape: [usize; 4],
    gamma: &[f64],
    rm: &[f64],
    rv: &[f64],
    training: bool,
    eps: f64,
    gy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [n, c, h, w] = shape;
    let m = (n * h * w) as f64;
    let (mean, var) = used_stats(x, shape, rm, rv, training);
    let ch_of = |i: usize| (i / (h * w)) % c;
    let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let xhat: Vec<f64> = x.iter().enumerate().map(|(i, &v)| (v - mean[ch_of(i)]) * invstd[ch_of(i)]).collect();
    let mut dgamma = vec![0.0; c];
    let mut dbeta = vec![0.0; c];
    for i in 0..x.len() {
        dgamma[ch_of(i)] += gy[i] * xhat[i];
        dbeta[ch_of(i)] += gy[i];
    }
    let gx = (0..x.len())
        .map(|i| {
            let ch = ch_of(i);
            let s = gamma[ch] * invstd[ch];
            if training {
                s * (gy[i] - dbeta[ch] / m - xhat[i] * dgamma[ch] / m)
            } else {
                s * gy[i]
            }
        })
        .collect();
    (gx, dgamma, dbeta)
}
