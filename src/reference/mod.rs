//! Plain-Rust f64 CPU references of every GPU op (forward and backward), and the test harness:
//! tolerance-scaled comparison and a central finite-difference gradient checker.

pub mod adadelta;
pub mod basic;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod cross_entropy;
pub mod depth_loss;
pub mod gather;
pub mod gru;
pub mod linear;
pub mod pair_diff;
pub mod pool;
pub mod resize;
pub mod sobel;

use anyhow::{bail, Result};

/// Compares GPU output with the f64 reference. The tolerance grows with the reduction length
/// `k` (number of terms summed per output): f32 accumulation error grows about like sqrt(k).
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f64], k: usize) -> Result<()> {
    if gpu.len() != reference.len() {
        bail!("{what}: {} values vs {} in the reference", gpu.len(), reference.len());
    }
    let scale = reference.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-3);
    let tol = 2e-6 * (k.max(1) as f64).sqrt() * 8.0;
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &r)) in gpu.iter().zip(reference).enumerate() {
        let err = (g as f64 - r).abs() / (r.abs() + scale * 1e-2).max(1e-30);
        if !(g as f64).is_finite() || err > worst.0 {
            worst = (if (g as f64).is_finite() { err } else { f64::INFINITY }, i);
        }
    }
    if worst.0 > tol {
        let i = worst.1;
        bail!(
            "{what}: element {i} is {} on the GPU, {} in the reference (relative error {:.3e} > tolerance {:.3e}, k = {k})",
            gpu[i],
            reference[i],
            worst.0,
            tol
        );
    }
    Ok(())
}

/// Worst relative error (relative to the reference's largest magnitude), for reports.
pub fn max_rel_error(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs() / scale).fold(0.0, f64::max)
}

/// Central finite differences of the scalar function `f` at `x`: df/dx_i ~ (f(x+h) - f(x-h)) / 2h.
pub fn numeric_grad(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = x[i];
            x[i] = orig + h;
            let fp = f(&x);
            x[i] = orig - h;
            let fm = f(&x);
            x[i] = orig;
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// Checks an analytic gradient against central differences of `f` (all in f64).
pub fn gradcheck(what: &str, f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], analytic: &[f64]) -> Result<()> {
    let numeric = numeric_grad(f, x, 1e-6);
    let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-8);
    for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
        if (a - n).abs() > 1e-6 * scale + 1e-7 {
            bail!("{what}: d/dx[{i}] analytic {a} vs numeric {n}");
        }
    }
    Ok(())
}

/// Dot product: the scalar loss sum(gy * y) used to test backward passes with random gy.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Deterministic pseudo-random values in [-1, 1) for tests (no dependency on rand's streams).
pub fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

pub fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}
