//! Channel concat of batch-gathered segments (ops::gather).

/// A segment of `gather_concat`: (source, groups, per_group, start, len): all channels of the
/// source at items start .. start + len of every group of per_group (batch-major sources).
pub type Segment = (usize, usize, usize, usize, usize);

/// Channel concat of segments (ops::gather::gather_concat): sources as (data, shape) with shape
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
