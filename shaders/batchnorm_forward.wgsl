// BatchNorm normalisation (optionally fused with ReLU): one pass over memory.
// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c], then max(y, 0) when relu != 0.
// binding 0: params { n, c, hw, training, relu, eps, momentum, ... } (batchnorm.rs's one struct for
// every BatchNorm kernel; the statistics' fields are unused here)
// binding 1: x [N, C, HW] (read)   binding 2: stats [2, C] (read: mean, invstd)
// binding 3: gamma [C] (read)      binding 4: beta [C] (read)
// binding 5: y [N, C, HW] (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, chunk: u32, base: u32, total: u32, stat_n: u32, per: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n * p.c * p.hw) {
        let c = (i / p.hw) % p.c;
        var v = (x[i] - stats[c]) * stats[p.c + c] * gamma[c] + beta[c];
        if (p.relu != 0u) { v = max(v, 0.0); }
        y[i] = v;
    }
}
