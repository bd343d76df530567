// Backward of the ConvGRU gates (sigmoids recomputed from the pre-activations, nothing saved).
// Entry rh_backward: g_pre_r = g_rh * h_prev * r (1 - r), g_h_prev = g_rh * r
// Entry u_backward:  g_pre_u = g_u * u (1 - u)  (pre = pre_u, g = g_u; h_prev and out_b unused)
// binding 0: params { n: elements }
// binding 1: pre [n] (read)     binding 2: h_prev [n] (read)   binding 3: g [n] (read)
// binding 4: out_a [n] (write: g_pre)   binding 5: out_b [n] (write: g_h_prev)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pre: array<f32>;
@group(0) @binding(2) var<storage, read> h_prev: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_a: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_b: array<f32>;

fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(256)
fn rh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let r = sigmoid(pre[i]);
    out_a[i] = g[i] * h_prev[i] * r * (1.0 - r);
    out_b[i] = g[i] * r;
}

@compute @workgroup_size(256)
fn u_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let u = sigmoid(pre[i]);
    out_a[i] = g[i] * u * (1.0 - u);
}
