//! Depth losses in f64, written the long way (explicit contrastive convolutions) so they check
//! the GPU's fused formulation. Maps are [maps, h, w]; mask None = all ones.

use super::sobel::{conv3x3_depthwise, conv3x3_depthwise_backward};

/// K_i: -1 at the centre, +1 at the i-th neighbour in row-major order.
pub fn contrast_kernel(i: usize) -> [[f64; 3]; 3] {
    let cell = [0, 1, 2, 3, 5, 6, 7, 8][i];
    let mut k = [[0.0; 3]; 3];
    k[1][1] = -1.0;
    k[cell / 3][cell % 3] = 1.0;
    k
}

fn mask_sum(mask: Option<&[f64]>, n: usize) -> f64 {
    mask.map_or(n as f64, |m| m.iter().sum())
}

fn masked_mean_sq(d: &[f64], mask: Option<&[f64]>, den: f64) -> f64 {
    if den == 0.0 {
        return 0.0;
    }
    d.iter().enumerate().map(|(i, v)| mask.map_or(1.0, |m| m[i]) * v * v).sum::<f64>() / den
}

pub fn abs_loss(pred: &[f64], target: &[f64], mask: Option<&[f64]>) -> f64 {
    let d: Vec<f64> = pred.iter().zip(target).map(|(a, b)| a - b).collect();
    masked_mean_sq(&d, mask, mask_sum(mask, d.len()))
}

pub fn abs_loss_backward(pred: &[f64], target: &[f64], mask: Option<&[f64]>, g: f64) -> Vec<f64> {
    let den = mask_sum(mask, pred.len());
    (0..pred.len())
        .map(|i| if den == 0.0 { 0.0 } else { 2.0 * g * mask.map_or(1.0, |m| m[i]) * (pred[i] - target[i]) / den })
        .collect()
}

pub fn contrastive_loss(pred: &[f64], target: &[f64], mask: Option<&[f64]>, maps: usize, h: usize, w: usize) -> f64 {
    let den = mask_sum(mask, pred.len());
    (0..8)
        .map(|i| {
            let k = contrast_kernel(i);
            let cp = conv3x3_depthwise(pred, maps, h, w, &k);
            let ct = conv3x3_depthwise(target, maps, h, w, &k);
            let d: Vec<f64> = cp.iter().zip(&ct).map(|(a, b)| a - b).collect();
            masked_mean_sq(&d, mask, den)
        })
        .sum()
}

pub fn contrastive_loss_backward(
    pred: &[f64],
    target: &[f64],
    mask: Option<&[f64]>,
    maps: usize,
    h: usize,
    w: usize,
    g: f64,
) -> Vec<f64> {
    let den = mask_sum(mask, pred.len());
    let mut gp = vec![0.0; pred.len()];
    if den == 0.0 {
        return gp;
    }
    for i in 0..8 {
        let k = contrast_kernel(i);
        let cp = conv3x3_depthwise(pred, maps, h, w, &k);
        let ct = conv3x3_depthwise(target, maps, h, w, &k);
        let gd: Vec<f64> =
            (0..pred.len()).map(|j| 2.0 * g * mask.map_or(1.0, |m| m[j]) * (cp[j] - ct[j]) / den).collect();
        let back = conv3x3_depthwise_backward(&gd, maps, h, w, &k);
        gp.iter_mut().zip(back).for_each(|(a, b)| *a += b);
    }
    gp
}
