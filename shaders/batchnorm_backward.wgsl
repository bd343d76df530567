// BatchNorm backward, input gradient (elementwise, after batchnorm_backward_reduce).
// Training (batch stats): gx = gamma * invstd * (g - dbeta / M - xhat * dgamma / M), M = N * HW.
// Eval (running stats are constants): gx = g * gamma * invstd.
// g = gy masked by y > 0 when fused with ReLU.
// binding 0: params { n, c, hw, training, relu, eps, momentum, _, _, _, stat_n }; stat_n: the batch
//   the statistics span when this dispatch covers a chunk of it (0: n)
// binding 1: x (read)  binding 2: gy (read)  binding 3: y (read; x again when relu == 0)
// binding 4: stats [2, C] (read)  binding 5: gamma [C]  binding 6: dgamma [C]  binding 7: dbeta [C]
// binding 8: gx [N, C, HW] (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { n: u32, c: u32, hw: u32, training: u32, relu: u32, eps: f32, momentum: f32, chunk: u32, base: u32, total: u32, stat_n: u32, per: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> dgamma: array<f32>;
@group(0) @binding(7) var<storage, read> dbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n * p.c * p.hw) {
        let c = (i / p.hw) % p.c;
        var g = gy[i];
        if (p.relu != 0u && !(y[i] > 0.0)) { g = 0.0; }
        let invstd = stats[p.c + c];
        let scale = gamma[c] * invstd;
        if (p.training != 0u) {
            let m = f32(select(p.n, p.stat_n, p.stat_n > 0u) * p.hw);
            let xhat = (x[i] - stats[c]) * invstd;
            gx[i] = scale * (g - dbeta[c] / m - xhat * dgamma[c] / m);
        } else {
            gx[i] = scale * g;
        }
    }
}
