// BatchNorm per-channel statistics. `main` (training): one workgroup of 256 threads per channel
// (grid [C, 1, 1]); `eval`: one thread per channel (grid ceil(C / 256)). For large N * HW (the
// paper preset's 655k values per channel), C workgroups would leave most of a GPU idle, so
// `partial` (grid [C, chunks]) reduces chunks of `chunk` values each to (count, mean, M2), and
// `combine` (grid ceil(C / 256)) merges them per channel (Chan et al.'s pairwise update).
// Training: batch mean and biased variance (two passes over the channel for f32 accuracy), and the
// running statistics updated in place with the unbiased variance (PyTorch). Eval: running stats.
// binding 0: params { n, c, hw, training, relu (unused), eps, momentum }
// binding 1: x [N, C, HW] (read)
// binding 2: stats [2, C] (write): mean[c], then 1 / sqrt(var[c] + eps)
// binding 3: running_mean [C] (read_write)   binding 4: running_var [C] (read_write)
// binding 5: partials [C, chunks, 3] (read_write; `partial` and `combine` only)
// A batch larger than one binding runs `partial` once per batch chunk (n = the chunk's items):
// its chunks are partials base .. of `total` per channel; `combine` then has n = the whole batch.
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, chunk: u32, base: u32, total: u32, stat_n: u32, per: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

var<workgroup> acc: array<f32, 256>;

// Sum of v over the workgroup; every thread reaches every barrier.
fn tree_sum(t: u32, v: f32) -> f32 {
    acc[t] = v;
    for (var s = 128u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (t < s) { acc[t] = acc[t] + acc[t + s]; }
    }
    workgroupBarrier();
    let r = acc[0];
    workgroupBarrier(); // acc is reused by the next call
    return r;
}

// The loops walk k = t, t + 256, .. over the N * HW values of channel c, carrying (n, j) with
// k = n * HW + j instead of dividing per element (an integer division is slow on CPU adapters).

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let t = lid.x;
    let count = p.n * p.hw;
    let train = p.training != 0u;
    var s = 0.0;
    if (train) {
        var n = t / p.hw;
        var j = t - n * p.hw;
        for (var k = t; k < count; k = k + 256u) {
            s = s + x[(n * p.c + c) * p.hw + j];
            j = j + 256u;
            while (j >= p.hw) { j = j - p.hw; n = n + 1u; }
        }
    }
    let mean = tree_sum(t, s) / f32(count);
    var q = 0.0;
    if (train) {
        var n = t / p.hw;
        var j = t - n * p.hw;
        for (var k = t; k < count; k = k + 256u) {
            let d = x[(n * p.c + c) * p.hw + j] - mean;
            q = q + d * d;
            j = j + 256u;
            while (j >= p.hw) { j = j - p.hw; n = n + 1u; }
        }
    }
    let var_b = tree_sum(t, q) / f32(count);
    if (t == 0u) {
        if (train) {
            write_stats(c, mean, var_b, count);
        } else {
            stats[c] = running_mean[c];
            stats[p.c + c] = 1.0 / sqrt(running_var[c] + p.eps);
        }
    }
}

// Batch statistics of channel c, and the running ones updated with the unbiased variance.
fn write_stats(c: u32, mean: f32, var_b: f32, count: u32) {
    stats[c] = mean;
    stats[p.c + c] = 1.0 / sqrt(var_b + p.eps);
    let unbiased = var_b * f32(count) / f32(count - 1u);
    running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
    running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
}

// Training, split: chunk wid.y of channel wid.x covers k in [wid.y * chunk, + chunk) of its N * HW
// values; it writes (count, mean, M2 = sum (x - mean)^2), two passes for f32 accuracy.
@compute @workgroup_size(256)
fn partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let t = lid.x;
    let count = p.n * p.hw;
    let chunks = select((count + p.chunk - 1u) / p.chunk, p.total, p.total > 0u);
    let k0 = wid.y * p.chunk;
    let k1 = min(k0 + p.chunk, count);
    var s = 0.0;
    var n = (k0 + t) / p.hw;
    var j = k0 + t - n * p.hw;
    for (var k = k0 + t; k < k1; k = k + 256u) {
        s = s + x[(n * p.c + c) * p.hw + j];
        j = j + 256u;
        while (j >= p.hw) { j = j - p.hw; n = n + 1u; }
    }
    let m = f32(k1 - k0);
    let mean = tree_sum(t, s) / m;
    var q = 0.0;
    n = (k0 + t) / p.hw;
    j = k0 + t - n * p.hw;
    for (var k = k0 + t; k < k1; k = k + 256u) {
        let d = x[(n * p.c + c) * p.hw + j] - mean;
        q = q + d * d;
        j = j + 256u;
        while (j >= p.hw) { j = j - p.hw; n = n + 1u; }
    }
    let m2 = tree_sum(t, q);
    if (t == 0u) {
        let o = (c * chunks + p.base + wid.y) * 3u;
        partials[o] = m;
        partials[o + 1u] = mean;
        partials[o + 2u] = m2;
    }
}

// Training, split: one thread per channel merges its chunks' (count, mean, M2) in order.
@compute @workgroup_size(256)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.c) { return; }
    let count = p.n * p.hw;
    let chunks = select((count + p.chunk - 1u) / p.chunk, p.total, p.total > 0u);
    var na = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    for (var i = 0u; i < chunks; i = i + 1u) {
        let o = (c * chunks + i) * 3u;
        let nb = partials[o];
        let d = partials[o + 1u] - mean;
        let nab = na + nb;
        mean = mean + d * nb / nab;
        m2 = m2 + partials[o + 2u] + d * d * na * nb / nab;
        na = nab;
    }
    write_stats(c, mean, m2 / f32(count), count);
}

// Eval (frozen parts, inference): the statistics come from the running ones, one thread per
// channel (grid ceil(C / 256)): no reduction, so no workgroup per channel and no barriers.
@compute @workgroup_size(256)
fn eval(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c < p.c) {
        stats[c] = running_mean[c];
        stats[p.c + c] = 1.0 / sqrt(running_var[c] + p.eps);
    }
}
