// BatchNorm backward, per-channel sums; `main`: one workgroup of 256 threads per channel (grid
// [C, 1, 1]). For large N * HW, `partial` (grid [C, chunks]) sums chunks of `chunk` values and
// `combine` (grid ceil(C / 256)) adds each channel's chunk sums (see batchnorm_stats.wgsl).
// g = gy, masked by y > 0 when fused with ReLU (ReLU'(0) = 0); xhat = (x - mean) * invstd.
// dbeta[c] = sum g, dgamma[c] = sum g * xhat (over N and HW).
// binding 0: params { n, c, hw, training, relu, eps, momentum }
// binding 1: x [N, C, HW] (read)   binding 2: gy [N, C, HW] (read)
// binding 3: y [N, C, HW] (read; the forward output, or x again when relu == 0)
// binding 4: stats [2, C] (read)   binding 5: dgamma [C] (write)   binding 6: dbeta [C] (write)
// binding 7: partials [C, chunks, 2] (read_write; `partial` and `combine` only); base, total: a
//   batch chunk's first partial and the partials per channel (see batchnorm_stats.wgsl)
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, chunk: u32, base: u32, total: u32, stat_n: u32, per: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;

var<workgroup> acc: array<f32, 256>;
var<workgroup> acc2: array<f32, 256>;


// (sum g, sum g * xhat) over k in [k0, k1) of channel c's N * HW values, summed over the workgroup
// into acc[0], acc2[0]. k = t, t + 256, .. carries (n, j) with k = n * HW + j (no division per element).
fn reduce(c: u32, t: u32, k0: u32, k1: u32) {
    let mean = stats[c];
    let invstd = stats[p.c + c];
    var sg = 0.0;
    var sgx = 0.0;
    var n = (k0 + t) / p.hw;
    var j = k0 + t - n * p.hw;
    for (var k = k0 + t; k < k1; k = k + 256u) {
        let i = (n * p.c + c) * p.hw + j;
        j = j + 256u;
        while (j >= p.hw) { j = j - p.hw; n = n + 1u; }
        var g = gy[i];
        if (p.relu != 0u && !(y[i] > 0.0)) { g = 0.0; }
        sg = sg + g;
        sgx = sgx + g * (x[i] - mean) * invstd;
    }
    acc[t] = sg;
    acc2[t] = sgx;
    for (var s = 128u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (t < s) {
            acc[t] = acc[t] + acc[t + s];
            acc2[t] = acc2[t] + acc2[t + s];
        }
    }
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    reduce(c, lid.x, 0u, p.n * p.hw);
    if (lid.x == 0u) {
        dbeta[c] = acc[0];
        dgamma[c] = acc2[0];
    }
}

@compute @workgroup_size(256)
fn partial(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let count = p.n * p.hw;
    let chunks = select((count + p.chunk - 1u) / p.chunk, p.total, p.total > 0u);
    let k0 = wid.y * p.chunk;
    reduce(c, lid.x, k0, min(k0 + p.chunk, count));
    if (lid.x == 0u) {
        let o = (c * chunks + p.base + wid.y) * 2u;
        partials[o] = acc[0];
        partials[o + 1u] = acc2[0];
    }
}

@compute @workgroup_size(256)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.c) { return; }
    let chunks = select((p.n * p.hw + p.chunk - 1u) / p.chunk, p.total, p.total > 0u);
    var sg = 0.0;
    var sgx = 0.0;
    for (var i = 0u; i < chunks; i = i + 1u) {
        sg = sg + partials[(c * chunks + i) * 2u];
        sgx = sgx + partials[(c * chunks + i) * 2u + 1u];
    }
    dbeta[c] = sg;
    dgamma[c] = sgx;
}
