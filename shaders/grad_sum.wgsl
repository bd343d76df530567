// The tape's gradient sum: out = a0 + a1 + ... + a(k-1), k <= 7, over vec4s, in one dispatch for
// a value used by up to 7 ops (ConvGRU weights at every step, hidden states): a chain of adds cost
// k - 1 dispatches, each ~0.05 ms on a CPU adapter before any work.
// binding 0: params { n: vec4s, k: inputs }
// bindings 1-7: a0 .. a6 [4n] (read; slots past k bind a0 again and are not read)
// binding 8: out [4n] (write)
// Grid: 256 threads a workgroup, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { n: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> a2: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> a3: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> a5: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> a6: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(256)
fn sum4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    // summed left to right, as the chain of adds it replaces
    var s = a0[i] + a1[i];
    if (p.k > 2u) { s += a2[i]; }
    if (p.k > 3u) { s += a3[i]; }
    if (p.k > 4u) { s += a4[i]; }
    if (p.k > 5u) { s += a5[i]; }
    if (p.k > 6u) { s += a6[i]; }
    out[i] = s;
}
