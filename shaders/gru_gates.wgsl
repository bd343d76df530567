// ConvGRU gates, fused: r = sigmoid(pre_r), u = sigmoid(pre_u), rh = r * h_prev.
// binding 0: params { n: elements }
// binding 1: pre_r [n] (read)   binding 2: pre_u [n] (read)   binding 3: h_prev [n] (read)
// binding 4: u [n] (write)      binding 5: rh [n] (write)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pre_r: array<f32>;
@group(0) @binding(2) var<storage, read> pre_u: array<f32>;
@group(0) @binding(3) var<storage, read> h_prev: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> rh: array<f32>;

// exp of a negative argument only, so large |x| never overflows
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(256)
fn gates(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    u[i] = sigmoid(pre_u[i]);
    rh[i] = sigmoid(pre_r[i]) * h_prev[i];
}
