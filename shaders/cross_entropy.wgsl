// Softmax cross-entropy over rows of logits [n, k] (k >= 2 classes), mean over the batch.
// Labels are f32 class indices (rounded; out-of-range values are clamped to [0, k-1]).
//   softmax:     out [n, k] = softmax(logits) per row          (one thread per row)
//   ce_loss:     out [1] = mean_r (logsumexp(logits_r) - logits_r[label_r])   (one workgroup,
//                threads stride over rows, tree reduction)
//   ce_backward: out [n, k] = g[0] * (softmax - onehot(label)) / n      (one thread per element)
// binding 0: params { n: rows, k: classes }
// binding 1: logits [n, k] (read)   binding 2: labels [n] (read)
// binding 3: g [1] (read; upstream gradient, logits again where unused)   binding 4: out (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y (ce_loss: one workgroup).
struct Params { n: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> acc: array<f32, 256>;

fn row_max(r: u32) -> f32 {
    var m = logits[r * p.k];
    for (var j = 1u; j < p.k; j = j + 1u) { m = max(m, logits[r * p.k + j]); }
    return m;
}

// sum_j exp(logits[r, j] - m)
fn row_sum_exp(r: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < p.k; j = j + 1u) { s = s + exp(logits[r * p.k + j] - m); }
    return s;
}

fn label(r: u32) -> u32 {
    return min(u32(max(labels[r], 0.0) + 0.5), p.k - 1u);
}

@compute @workgroup_size(256)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat_index(gid, nwg);
    if (r >= p.n) { return; }
    let m = row_max(r);
    let s = row_sum_exp(r, m);
    for (var j = 0u; j < p.k; j = j + 1u) { out[r * p.k + j] = exp(logits[r * p.k + j] - m) / s; }
}

@compute @workgroup_size(256)
fn ce_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var s = 0.0;
    for (var r = t; r < p.n; r = r + 256u) {
        let m = row_max(r);
        s = s + m + log(row_sum_exp(r, m)) - logits[r * p.k + label(r)];
    }
    acc[t] = s;
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) { acc[t] = acc[t] + acc[t + stride]; }
    }
    workgroupBarrier();
    if (t == 0u) { out[0] = acc[0] / f32(p.n); }
}

@compute @workgroup_size(256)
fn ce_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n * p.k) { return; }
    let r = i / p.k;
    let j = i % p.k;
    let m = row_max(r);
    let prob = exp(logits[i] - m) / row_sum_exp(r, m);
    let onehot = select(0.0, 1.0, j == label(r));
    out[i] = g[0] * (prob - onehot) / f32(p.n);
}
