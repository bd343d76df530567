// Elementwise kernels: binary (add, sub, mul), scaled (scale, axpy), activations and their gradients.
// A template over the element type T (`shader!` puts `alias T = ...;` first): f32, or vec4<f32>
// (`elementwise_vec4`, binary and scaled only) for CPU adapters when n is a multiple of 4. Why
// vec4: on llvmpipe every storage access whose address is not a constant costs 8 bounds-checked
// scalar accesses whatever its width, so a vec4 per thread moves 4 values for the price of one.
// binding 0: params { n: elements of T, s: scalar }
// binding 1: a [n] (read)    binding 2: b [n] (read; unary kernels bind a again)
// binding 3: out [n] (write)
// Grid: 256 threads a workgroup, 1-D (flat_index).
struct Params { n: u32, s: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn sub(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = a[i] - b[i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = a[i] * b[i]; }
}

// out = s * a
@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = p.s * a[i]; }
}

// out = s * a + b
@compute @workgroup_size(256)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = p.s * a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = max(a[i], T(0.0)); }
}

// a = forward input x, b = upstream gradient; ReLU'(0) = 0 (MODEL.md).
@compute @workgroup_size(256)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = select(T(0.0), b[i], a[i] > T(0.0)); }
}

// As relu_backward, but where the ReLU held x at 0 a gradient that would raise x passes
// (b < 0: descent moves x up): a one-sided straight-through gradient that lets a dead output
// come back (stage1.revive, MODEL.md).
@compute @workgroup_size(256)
fn relu_revive_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = select(min(b[i], T(0.0)), b[i], a[i] > T(0.0)); }
}

@compute @workgroup_size(256)
fn sigmoid(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    // exp of a negative argument only, so large |x| never overflows.
    if (i < p.n) {
        let x = a[i];
        let e = exp(-abs(x));
        out[i] = select(e / (1.0 + e), 1.0 / (1.0 + e), x >= T(0.0));
    }
}

// a = forward output y, b = upstream gradient
@compute @workgroup_size(256)
fn sigmoid_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = b[i] * a[i] * (1.0 - a[i]); }
}

@compute @workgroup_size(256)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    // tanh via exp of a negative argument (some drivers' tanh returns NaN for large |x|).
    if (i < p.n) {
        let x = a[i];
        let e = exp(-2.0 * abs(x));
        out[i] = sign(x) * (1.0 - e) / (1.0 + e);
    }
}

// a = forward output y, b = upstream gradient
@compute @workgroup_size(256)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n) { out[i] = b[i] * (1.0 - a[i] * a[i]); }
}
