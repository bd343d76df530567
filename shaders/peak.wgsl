// Peak probes of the adapter, so that `tdfas bench` and `tdfas profile` can give each kernel's
// share of what the hardware reaches: `fma_peak` multiply-adds in registers (8 independent vec4
// chains per thread, nothing loaded in the loop: 64 flop per iteration per thread), `copy_peak`
// streams one buffer into another as vec4s (read + write, the bandwidth a copy kernel reaches).
// binding 0: params { iters, n4, a, b }   binding 1: src [n4 vec4] (copy_peak)
// binding 2: dst (fma_peak: one vec4 per thread, so the chains are not removed; copy_peak: [n4 vec4])
// Grid: fma_peak any number of 256-thread workgroups along x; copy_peak 256 threads a workgroup
// over n4 vec4s, folded into x/y (i = gid.x + gid.y * nwg.x * 256).
struct Params { iters: u32, n4: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = f32(gid.x & 1023u) * 1e-4;
    let a = vec4<f32>(p.a);
    let b = vec4<f32>(p.b);
    var c0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
    var c1 = c0 + 0.01;
    var c2 = c0 + 0.02;
    var c3 = c0 + 0.03;
    var c4 = c0 + 0.04;
    var c5 = c0 + 0.05;
    var c6 = c0 + 0.06;
    var c7 = c0 + 0.07;
    for (var i = 0u; i < p.iters; i = i + 1u) {
        c0 = fma(c0, a, b);
        c1 = fma(c1, a, b);
        c2 = fma(c2, a, b);
        c3 = fma(c3, a, b);
        c4 = fma(c4, a, b);
        c5 = fma(c5, a, b);
        c6 = fma(c6, a, b);
        c7 = fma(c7, a, b);
    }
    dst[gid.x] = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));
}

@compute @workgroup_size(256)
fn copy_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i < p.n4) {
        dst[i] = src[i];
    }
}
