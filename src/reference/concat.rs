//! Concatenation / slicing along a dimension of a row-major tensor.

fn split(shape: &[usize], dim: usize) -> (usize, usize) {
    (shape[..dim].iter().product(), shape[dim + 1..].iter().product())
}

/// Concatenation along `dim` of tensors given as (data, shape); shapes agree except at `dim`.
pub fn concat(xs: &[(&[f64], &[usize])], dim: usize) -> Vec<f64> {
    let (outer, inner) = split(xs[0].1, dim);
    let mut y = Vec::new();
    for o in 0..outer {
        for (x, shape) in xs {
            let len = shape[dim] * inner;
            y.extend_from_slice(&x[o * len..(o + 1) * len]);
        }
    }
    y
}

/// x[.., start .. start + len, ..] along `dim`.
pub fn slice(x: &[f64], shape: &[usize], dim: usize, start: usize, len: usize) -> Vec<f64> {
    let (outer, inner) = split(shape, dim);
    let mut y = Vec::new();
    for o in 0..outer {
        let base = (o * shape[dim] + start) * inner;
        y.extend_from_slice(&x[base..base + len * inner]);
    }
    y
}

/// Gradient of `slice`: gy placed in zeros of `shape`.
pub fn slice_backward(gy: &[f64], shape: &[usize], dim: usize, start: usize, len: usize) -> Vec<f64> {
    let (outer, inner) = split(shape, dim);
    let mut gx = vec![0.0; shape.iter().product()];
    for o in 0..outer {
        let base = (o * shape[dim] + start) * inner;
        gx[base..base + len * inner].copy_from_slice(&gy[o * len * inner..(o + 1) * len * inner]);
    }
    gx
}

/// A segment of `gather_concat`: (source, groups, per_group, start, len): all channels of the
/// source at items start .. start + len of every group of per_group (batch-major sources).
pub type Segment = (usize, usize, usize, usize, usize);

/// Channel concat of segments (ops::concat::gather_concat): sources as (data, shape) with shape
/// [items, C, ...]; output item n of a segment reads source item (n / len) * per_group + start + n % len.
pub fn gather_concat(srcs: &[(&[f64], &[usize])], segs: &[Segment]) -> Vec<f64> {
    let inner: usize = srcs[segs[0].0].1[2..].iter().product();
    let items = segs[0].1 * segs[0].4;
    let mut y = Vec::new();
    for n in 0..items {
        for &(s, _, per_group, start, len) in segs {
            let (x, shape) = srcs[s];
            let block = shape[1] * inner;
            let m = (n / len) * per_group + start + n % len;
            y.extend_from_slice(&x[m * block..(m + 1) * block]);
        }
    }
    y
}

/// Gradient of `gather_concat` for every source (shapes `shapes`): each segment's part of gy added
/// at the source items it read.
pub fn gather_concat_backward(gy: &[f64], shapes: &[&[usize]], segs: &[Segment]) -> Vec<Vec<f64>> {
    let inner: usize = shapes[segs[0].0][2..].iter().product();
    let items = segs[0].1 * segs[0].4;
    let c_out: usize = segs.iter().map(|s| shapes[s.0][1]).sum();
    let mut gx: Vec<Vec<f64>> = shapes.iter().map(|s| vec![0.0; s.iter().product()]).collect();
    for n in 0..items {
        let mut c0 = 0;
        for &(s, _, per_group, start, len) in segs {
            let block = shapes[s][1] * inner;
            let m = (n / len) * per_group + start + n % len;
            let from = (n * c_out + c0) * inner;
            for j in 0..block {
                gx[s][m * block + j] += gy[from + j];
            }
            c0 += shapes[s][1];
        }
    }
    gx
}

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
