//! Softmax cross-entropy in f64; logits [n, k], labels as class indices, mean over the batch.

pub fn softmax(logits: &[f64], n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * k];
    for r in 0..n {
        let row = &logits[r * k..(r + 1) * k];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        for j in 0..k {
            out[r * k + j] = (row[j] - m).exp() / s;
        }
    }
    out
}

pub fn cross_entropy(logits: &[f64], labels: &[usize], n: usize, k: usize) -> f64 {
    let p = softmax(logits, n, k);
    -(0..n).map(|r| p[r * k + labels[r]].ln()).sum::<f64>() / n as f64
}

pub fn cross_entropy_backward(logits: &[f64], labels: &[usize], n: usize, k: usize, g: f64) -> Vec<f64> {
    let mut out = softmax(logits, n, k);
    for r in 0..n {
        out[r * k + labels[r]] -= 1.0;
    }
    out.iter().map(|v| g * v / n as f64).collect()
}
