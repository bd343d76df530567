// ConvGRU state update, fused: h = (1 - u) * h_prev + u * tanh(pre_c).
// binding 0: params { n: elements }
// binding 1: u [n] (read)   binding 2: h_prev [n] (read)   binding 3: pre_c [n] (read)
// binding 4: h [n] (write)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> h_prev: array<f32>;
@group(0) @binding(3) var<storage, read> pre_c: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;

// tanh via exp of a negative argument (some drivers' tanh returns NaN for large |x|)
fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

@compute @workgroup_size(256)
fn update(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    h[i] = (1.0 - u[i]) * h_prev[i] + u[i] * tanh_safe(pre_c[i]);
}
