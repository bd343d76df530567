//! Frame-pair differences of clips (ops::pair_diff).

/// Frame-pair differences of clips of `nf` frames (clip-major, each frame `block` values):
/// y[pair t of clip c] = x[frame t + 1] - x[frame t].
pub fn pair_diff(x: &[f64], block: usize, nf: usize) -> Vec<f64> {
    let clips = x.len() / (block * nf);
    let mut y = Vec::new();
    for c in 0..clips {
        for t in 0..nf - 1 {
            let f = c * nf + t;
            y.extend((0..block).map(|j| x[(f + 1) * block + j] - x[f * block + j]));
        }
    }
    y
}

/// Gradient of `pair_diff` for inputs of `frames` frames.
pub fn pair_diff_backward(gy: &[f64], block: usize, nf: usize, frames: usize) -> Vec<f64> {
    let mut gx = vec![0.0; frames * block];
    for c in 0..frames / nf {
        for t in 0..nf - 1 {
            let (pair, f) = (c * (nf - 1) + t, c * nf + t);
            for j in 0..block {
                gx[(f + 1) * block + j] += gy[pair * block + j];
                gx[f * block + j] -= gy[pair * block + j];
            }
        }
    }
    gx
}
