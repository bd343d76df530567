// Eval-mode BatchNorm folded into the preceding convolution (inference only): with
// s[o] = gamma[o] / sqrt(running_var[o] + eps),
//   w_out[o, i] = w[o, i] * s[o]                       (i < per = cin * k * k)
//   b_out[o]    = beta[o] - running_mean[o] * s[o]
// so conv(x, w_out) + b_out = BatchNorm(conv(x, w)) up to rounding.
// binding 0: params { cout, per, eps, _ }
// binding 1: w [cout, per]   bindings 2-5: gamma, beta, running_mean, running_var [cout]
// binding 6: w_out [cout, per] (write)   binding 7: b_out [cout] (write)
// Grid: 256 threads a workgroup over cout * per values, folded into x/y (i = gid.x + gid.y * nwg.x * 256).
struct Params { cout: u32, per: u32, eps: f32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> w_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> b_out: array<f32>;

@compute @workgroup_size(256)
fn fold(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.cout * p.per) {
        return;
    }
    let o = i / p.per;
    let s = gamma[o] / sqrt(running_var[o] + p.eps);
    w_out[i] = w[i] * s;
    if (i < p.cout) {
        b_out[i] = beta[i] - running_mean[i] * (gamma[i] / sqrt(running_var[i] + p.eps));
    }
}
