// Backward of h = (1 - u) * h_prev + u * hc, hc = tanh(pre_c) (recomputed, nothing saved):
// g_u = g (hc - h_prev), g_h_prev = g (1 - u), g_pre_c = g u (1 - hc^2).
// binding 0: params { n: elements }
// binding 1: u [n]   binding 2: h_prev [n]   binding 3: pre_c [n]   binding 4: g [n]   (read)
// binding 5: g_u [n]   binding 6: g_h_prev [n]   binding 7: g_pre_c [n]   (write)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> h_prev: array<f32>;
@group(0) @binding(3) var<storage, read> pre_c: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_u: array<f32>;
@group(0) @binding(6) var<storage, read_write> g_h_prev: array<f32>;
@group(0) @binding(7) var<storage, read_write> g_pre_c: array<f32>;

fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

@compute @workgroup_size(256)
fn update_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let hc = tanh_safe(pre_c[i]);
    g_u[i] = g[i] * (hc - h_prev[i]);
    g_h_prev[i] = g[i] * (1.0 - u[i]);
    g_pre_c[i] = g[i] * u[i] * (1.0 - hc * hc);
}
