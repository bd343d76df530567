// BatchNorm per-channel statistics. `main` (training): one workgroup of 256 threads per channel
// (grid [C, 1, 1]); `eval`: one thread per channel (grid ceil(C / 256)).
// Training: batch mean and biased variance (two passes over the channel for f32 accuracy), and the
// running statistics updated in place with the unbiased variance (PyTorch). Eval: running stats.
// binding 0: params { n, c, hw, training, relu (unused), eps, momentum }
// binding 1: x [N, C, HW] (read)
// binding 2: stats [2, C] (write): mean[c], then 1 / sqrt(var[c] + eps)
// binding 3: running_mean [C] (read_write)   binding 4: running_var [C] (read_write)
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_var: array<f32>;

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
            stats[c] = mean;
            stats[p.c + c] = 1.0 / sqrt(var_b + p.eps);
            let unbiased = var_b * f32(count) / f32(count - 1u);
            running_mean[c] = (1.0 - p.momentum) * running_mean[c] + p.momentum * mean;
            running_var[c] = (1.0 - p.momentum) * running_var[c] + p.momentum * unbiased;
        } else {
            stats[c] = running_mean[c];
            stats[p.c + c] = 1.0 / sqrt(running_var[c] + p.eps);
        }
    }
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
