// Weight gradient of the 3x3 convolution for CPU adapters (lavapipe/llvmpipe), W a multiple of 4,
// subgroups of at least 8 invocations. Same result as conv2d_weight_grad.wgsl:
//   gw[o, c, ky, kx] = sum_{n, h, w} gy[n, o, h, w] * x[n, c, h + ky - 1, w + kx - 1]
// Why: on llvmpipe every storage load whose address is not a constant costs 8 bounds-checked scalar
// loads. Here the 8 lanes of a workgroup are 8 output channels, and each lane keeps the 9 taps of 2
// input channels in registers (18 sums), so no reduction is needed at the end. Per 4-pixel row
// segment a lane loads its gy as one vec4, and the 36 input values (2 channels x 3 rows x 6
// columns) come from 6 loads where lane i reads column w0 - 1 + i, shared with subgroupBroadcast:
// 7 loads per 72 fused multiply-adds (the shared-memory kernel: 12 loads per 32).
// binding 0: params { n, cin, cout, h, w, k, _, _ }
// binding 1: x [N, cin, H, W] (read)   binding 2: gy [N, cout, H, W] as vec4s (read)
// binding 3: gw [cout, cin, 3, 3] (write)
// Grid: x = ceil(cout / 8), y = ceil(cin / 2); 8 invocations, each the whole batch for its channel.
// No invocation returns early: subgroupBroadcast needs every lane (clamped ones are not stored).
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;

// Column w0 - 1 + lane of row hh of x channel plane `plane` (0 outside the image or past lane 5).
fn xval(plane: u32, hh: i32, col: i32, lane: u32) -> f32 {
    let ok = lane < 6u && hh >= 0 && hh < i32(p.h) && col >= 0 && col < i32(p.w);
    let i = select(0u, plane * p.h * p.w + u32(hh) * p.w + u32(col), ok);
    return select(0.0, x[i], ok);
}

// acc += g . (e[d], e[d+1], e[d+2], e[d+3]): one tap over the segment's 4 pixels.
fn tap(acc: f32, g: vec4<f32>, e0: f32, e1: f32, e2: f32, e3: f32) -> f32 {
    return fma(g.w, e3, fma(g.z, e2, fma(g.y, e1, fma(g.x, e0, acc))));
}

@compute @workgroup_size(8)
fn wgrad3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sid: u32) {
    let lane = sid % 8u;
    let o_raw = wid.x * 8u + lane;
    let o = min(o_raw, p.cout - 1u);
    let c0 = wid.y * 2u;
    let ca = min(c0, p.cin - 1u);
    let cb = min(c0 + 1u, p.cin - 1u);
    let wq = p.w / 4u;
    var a0 = 0.0;
    var a1 = 0.0;
    var a2 = 0.0;
    var a3 = 0.0;
    var a4 = 0.0;
    var a5 = 0.0;
    var a6 = 0.0;
    var a7 = 0.0;
    var a8 = 0.0;
    var b0 = 0.0;
    var b1 = 0.0;
    var b2 = 0.0;
    var b3 = 0.0;
    var b4 = 0.0;
    var b5 = 0.0;
    var b6 = 0.0;
    var b7 = 0.0;
    var b8 = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let pa = n * p.cin + ca;
        let pb = n * p.cin + cb;
        for (var h = 0u; h < p.h; h = h + 1u) {
            var gi = ((n * p.cout + o) * p.h + h) * wq;
            let hh = i32(h);
            for (var s = 0u; s < wq; s = s + 1u) {
                let g = gy4[gi];
                let col = i32(s * 4u + lane) - 1;
                let vau = xval(pa, hh + -1, col, lane);
                let vam = xval(pa, hh + 0, col, lane);
                let vad = xval(pa, hh + 1, col, lane);
                let vbu = xval(pb, hh + -1, col, lane);
                let vbm = xval(pb, hh + 0, col, lane);
                let vbd = xval(pb, hh + 1, col, lane);
                let au0 = subgroupBroadcast(vau, 0u);
                let au1 = subgroupBroadcast(vau, 1u);
                let au2 = subgroupBroadcast(vau, 2u);
                let au3 = subgroupBroadcast(vau, 3u);
                let au4 = subgroupBroadcast(vau, 4u);
                let au5 = subgroupBroadcast(vau, 5u);
                a0 = tap(a0, g, au0, au1, au2, au3);
                a1 = tap(a1, g, au1, au2, au3, au4);
                a2 = tap(a2, g, au2, au3, au4, au5);
                let am0 = subgroupBroadcast(vam, 0u);
                let am1 = subgroupBroadcast(vam, 1u);
                let am2 = subgroupBroadcast(vam, 2u);
                let am3 = subgroupBroadcast(vam, 3u);
                let am4 = subgroupBroadcast(vam, 4u);
                let am5 = subgroupBroadcast(vam, 5u);
                a3 = tap(a3, g, am0, am1, am2, am3);
                a4 = tap(a4, g, am1, am2, am3, am4);
                a5 = tap(a5, g, am2, am3, am4, am5);
                let ad0 = subgroupBroadcast(vad, 0u);
                let ad1 = subgroupBroadcast(vad, 1u);
                let ad2 = subgroupBroadcast(vad, 2u);
                let ad3 = subgroupBroadcast(vad, 3u);
                let ad4 = subgroupBroadcast(vad, 4u);
                let ad5 = subgroupBroadcast(vad, 5u);
                a6 = tap(a6, g, ad0, ad1, ad2, ad3);
                a7 = tap(a7, g, ad1, ad2, ad3, ad4);
                a8 = tap(a8, g, ad2, ad3, ad4, ad5);
                let bu0 = subgroupBroadcast(vbu, 0u);
                let bu1 = subgroupBroadcast(vbu, 1u);
                let bu2 = subgroupBroadcast(vbu, 2u);
                let bu3 = subgroupBroadcast(vbu, 3u);
                let bu4 = subgroupBroadcast(vbu, 4u);
                let bu5 = subgroupBroadcast(vbu, 5u);
                b0 = tap(b0, g, bu0, bu1, bu2, bu3);
                b1 = tap(b1, g, bu1, bu2, bu3, bu4);
                b2 = tap(b2, g, bu2, bu3, bu4, bu5);
                let bm0 = subgroupBroadcast(vbm, 0u);
                let bm1 = subgroupBroadcast(vbm, 1u);
                let bm2 = subgroupBroadcast(vbm, 2u);
                let bm3 = subgroupBroadcast(vbm, 3u);
                let bm4 = subgroupBroadcast(vbm, 4u);
                let bm5 = subgroupBroadcast(vbm, 5u);
                b3 = tap(b3, g, bm0, bm1, bm2, bm3);
                b4 = tap(b4, g, bm1, bm2, bm3, bm4);
                b5 = tap(b5, g, bm2, bm3, bm4, bm5);
                let bd0 = subgroupBroadcast(vbd, 0u);
                let bd1 = subgroupBroadcast(vbd, 1u);
                let bd2 = subgroupBroadcast(vbd, 2u);
                let bd3 = subgroupBroadcast(vbd, 3u);
                let bd4 = subgroupBroadcast(vbd, 4u);
                let bd5 = subgroupBroadcast(vbd, 5u);
                b6 = tap(b6, g, bd0, bd1, bd2, bd3);
                b7 = tap(b7, g, bd1, bd2, bd3, bd4);
                b8 = tap(b8, g, bd2, bd3, bd4, bd5);
                gi = gi + 1u;
            }
        }
    }
    if (o_raw < p.cout) {
        if (c0 < p.cin) {
            let base = (o * p.cin + c0) * 9u;
            gw[base + 0u] = a0;
            gw[base + 1u] = a1;
            gw[base + 2u] = a2;
            gw[base + 3u] = a3;
            gw[base + 4u] = a4;
            gw[base + 5u] = a5;
            gw[base + 6u] = a6;
            gw[base + 7u] = a7;
            gw[base + 8u] = a8;
        }
        if (c0 + 1u < p.cin) {
            let base = (o * p.cin + c0 + 1u) * 9u;
            gw[base + 0u] = b0;
            gw[base + 1u] = b1;
            gw[base + 2u] = b2;
            gw[base + 3u] = b3;
            gw[base + 4u] = b4;
            gw[base + 5u] = b5;
            gw[base + 6u] = b6;
            gw[base + 7u] = b7;
            gw[base + 8u] = b8;
        }
    }
}
