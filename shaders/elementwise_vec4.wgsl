// The binary and scaled elementwise kernels of elementwise.wgsl (add, sub, mul, scale, axpy) over
// vec4s, for CPU adapters when n is a multiple of 4. Why: on llvmpipe every storage access whose
// address is not a constant costs 8 bounds-checked scalar accesses whatever its width, so a vec4
// per thread moves 4 values for the price of one.
// binding 0: params { n: vec4s, s: scalar }
// binding 1: a [4n] (read)    binding 2: b [4n] (read; scale binds a again)
// binding 3: out [4n] (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { n: u32, s: f32, _pad0: u32, _pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = a[i] + b[i]; }
}

@compute @workgroup_size(256)
fn sub(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = a[i] - b[i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = a[i] * b[i]; }
}

@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = p.s * a[i]; }
}

@compute @workgroup_size(256)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(gid, nwg);
    if (i < p.n) { out[i] = p.s * a[i] + b[i]; }
}
