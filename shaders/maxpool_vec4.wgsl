// Max pool 2x2 (maxpool_forward.wgsl / maxpool_backward.wgsl's semantics: stride 2, an odd last
// row dropped, the first maximum in row-major window order wins) for W a multiple of 4, on CPU
// adapters: a thread owns two windows side by side. On llvmpipe every lane-varying load costs 8
// bounds-checked scalar loads whatever its width: 2 vec4 loads per 2 outputs instead of 8 loads,
// and in the backward 2 vec2 loads per 8 input pixels instead of 16.
// The backward is maxpool_vec4_backward.wgsl.
// binding 0: params { planes (N*C), h, w4: W/4, oh }
// binding 1: x [planes, h, w] (read)   binding 2: y [planes, oh, w/2] (write)
// binding 3: idx [planes, oh, w/2] (write, u32): window position of the max, dy * 2 + dx
// Grid: one thread per (plane, oy, 4 input columns), 1-D folded into x/y.
struct Params { planes: u32, h: u32, w4: u32, oh: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> idx: array<vec2<u32>>;

// max of a window (v0 v1 / v2 v3, row-major) and its position; strict > keeps the first
fn window(v0: f32, v1: f32, v2: f32, v3: f32) -> vec2<f32> {
    var best = v0;
    var k = 0.0;
    if (v1 > best) { best = v1; k = 1.0; }
    if (v2 > best) { best = v2; k = 2.0; }
    if (v3 > best) { best = v3; k = 3.0; }
    return vec2<f32>(best, k);
}

@compute @workgroup_size(256)
fn forward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.oh * p.w4;
    if (i >= p.planes * per) { return; }
    let plane = i / per;
    let r = i - plane * per;
    let oy = r / p.w4;
    let q = r - oy * p.w4;
    let top = x[(plane * p.h + 2u * oy) * p.w4 + q];
    let bot = x[(plane * p.h + 2u * oy + 1u) * p.w4 + q];
    let left = window(top.x, top.y, bot.x, bot.y);
    let right = window(top.z, top.w, bot.z, bot.w);
    // output (plane, oy, 2q .. 2q + 1) is vec2 i
    y[i] = vec2<f32>(left.x, right.x);
    idx[i] = vec2<u32>(u32(left.y), u32(right.y));
}

