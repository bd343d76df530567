// BatchNorm backward, per-channel sums; one workgroup of 256 threads per channel (grid [C, 1, 1]).
// g = gy, masked by y > 0 when fused with ReLU (ReLU'(0) = 0); xhat = (x - mean) * invstd.
// dbeta[c] = sum g, dgamma[c] = sum g * xhat (over N and HW).
// binding 0: params { n, c, hw, training, relu, eps, momentum }
// binding 1: x [N, C, HW] (read)   binding 2: gy [N, C, HW] (read)
// binding 3: y [N, C, HW] (read; the forward output, or x again when relu == 0)
// binding 4: stats [2, C] (read)   binding 5: dgamma [C] (write)   binding 6: dbeta [C] (write)
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

var<workgroup> acc: array<f32, 256>;
var<workgroup> acc2: array<f32, 256>;


@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c = wid.x;
    let t = lid.x;
    let mean = stats[c];
    let invstd = stats[p.c + c];
    var sg = 0.0;
    var sgx = 0.0;
    // k = t, t + 256, .. over N * HW, carrying (n, j) with k = n * HW + j (no division per element)
    var n = t / p.hw;
    var j = t - n * p.hw;
    for (var k = t; k < p.n * p.hw; k = k + 256u) {
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
    if (t == 0u) {
        dbeta[c] = acc[0];
        dgamma[c] = acc2[0];
    }
}
