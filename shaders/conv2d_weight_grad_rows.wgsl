// Weight gradient of the 3x3 convolution for CPU adapters (lavapipe/llvmpipe), W a multiple of 4,
// subgroups of at least 8 invocations. Same result as conv2d_weight_grad.wgsl:
//   gw[o, c, ky, kx] = sum_{n, h, w} gy[n, o, h, w] * x[n, c, h + ky - 1, w + kx - 1]
// Why: on llvmpipe every storage load whose address is not a constant costs 8 bounds-checked scalar
// loads. Here the 8 lanes of a workgroup are 8 output channels, and each lane keeps the 9 taps of 2
// input channels in registers (18 sums), so no reduction is needed at the end. Per 4-pixel row
// segment of 2 rows a lane loads its gy as two vec4s, and the 48 input values (2 channels x 4 rows
// x 6 columns) come from 8 loads where lane i reads column w0 - 1 + i, shared with
// subgroupBroadcast: 16 lane loads (the vec4s count 4) per 144 multiply-adds (one row at a time:
// 10 per 72; the shared-memory kernel: 12 loads per 32).
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
        for (var h = 0u; h < p.h; h = h + 2u) {
            // rows h and h + 1 (masked to 0 past the image): x rows h - 1 .. h + 2 serve both
            let h1 = min(h + 1u, p.h - 1u);
            let m1 = select(0.0, 1.0, h + 1u < p.h);
            var gi = ((n * p.cout + o) * p.h + h) * wq;
            var gj = ((n * p.cout + o) * p.h + h1) * wq;
            let hh = i32(h);
            for (var s = 0u; s < wq; s = s + 1u) {
                let g0 = gy4[gi];
                let g1 = gy4[gj] * m1;
                let col = i32(s * 4u + lane) - 1;
                let va0 = xval(pa, hh + -1, col, lane);
                let va1 = xval(pa, hh + 0, col, lane);
                let va2 = xval(pa, hh + 1, col, lane);
                let va3 = xval(pa, hh + 2, col, lane);
                let vb0 = xval(pb, hh + -1, col, lane);
                let vb1 = xval(pb, hh + 0, col, lane);
                let vb2 = xval(pb, hh + 1, col, lane);
                let vb3 = xval(pb, hh + 2, col, lane);
                let a0_0 = subgroupBroadcast(va0, 0u);
                let a0_1 = subgroupBroadcast(va0, 1u);
                let a0_2 = subgroupBroadcast(va0, 2u);
                let a0_3 = subgroupBroadcast(va0, 3u);
                let a0_4 = subgroupBroadcast(va0, 4u);
                let a0_5 = subgroupBroadcast(va0, 5u);
                a0 = tap(a0, g0, a0_0, a0_1, a0_2, a0_3);
                a1 = tap(a1, g0, a0_1, a0_2, a0_3, a0_4);
                a2 = tap(a2, g0, a0_2, a0_3, a0_4, a0_5);
                let a1_0 = subgroupBroadcast(va1, 0u);
                let a1_1 = subgroupBroadcast(va1, 1u);
                let a1_2 = subgroupBroadcast(va1, 2u);
                let a1_3 = subgroupBroadcast(va1, 3u);
                let a1_4 = subgroupBroadcast(va1, 4u);
                let a1_5 = subgroupBroadcast(va1, 5u);
                a3 = tap(a3, g0, a1_0, a1_1, a1_2, a1_3);
                a4 = tap(a4, g0, a1_1, a1_2, a1_3, a1_4);
                a5 = tap(a5, g0, a1_2, a1_3, a1_4, a1_5);
                a0 = tap(a0, g1, a1_0, a1_1, a1_2, a1_3);
                a1 = tap(a1, g1, a1_1, a1_2, a1_3, a1_4);
                a2 = tap(a2, g1, a1_2, a1_3, a1_4, a1_5);
                let a2_0 = subgroupBroadcast(va2, 0u);
                let a2_1 = subgroupBroadcast(va2, 1u);
                let a2_2 = subgroupBroadcast(va2, 2u);
                let a2_3 = subgroupBroadcast(va2, 3u);
                let a2_4 = subgroupBroadcast(va2, 4u);
                let a2_5 = subgroupBroadcast(va2, 5u);
                a6 = tap(a6, g0, a2_0, a2_1, a2_2, a2_3);
                a7 = tap(a7, g0, a2_1, a2_2, a2_3, a2_4);
                a8 = tap(a8, g0, a2_2, a2_3, a2_4, a2_5);
                a3 = tap(a3, g1, a2_0, a2_1, a2_2, a2_3);
                a4 = tap(a4, g1, a2_1, a2_2, a2_3, a2_4);
                a5 = tap(a5, g1, a2_2, a2_3, a2_4, a2_5);
                let a3_0 = subgroupBroadcast(va3, 0u);
                let a3_1 = subgroupBroadcast(va3, 1u);
                let a3_2 = subgroupBroadcast(va3, 2u);
                let a3_3 = subgroupBroadcast(va3, 3u);
                let a3_4 = subgroupBroadcast(va3, 4u);
                let a3_5 = subgroupBroadcast(va3, 5u);
                a6 = tap(a6, g1, a3_0, a3_1, a3_2, a3_3);
                a7 = tap(a7, g1, a3_1, a3_2, a3_3, a3_4);
                a8 = tap(a8, g1, a3_2, a3_3, a3_4, a3_5);
                let b0_0 = subgroupBroadcast(vb0, 0u);
                let b0_1 = subgroupBroadcast(vb0, 1u);
                let b0_2 = subgroupBroadcast(vb0, 2u);
                let b0_3 = subgroupBroadcast(vb0, 3u);
                let b0_4 = subgroupBroadcast(vb0, 4u);
                let b0_5 = subgroupBroadcast(vb0, 5u);
                b0 = tap(b0, g0, b0_0, b0_1, b0_2, b0_3);
                b1 = tap(b1, g0, b0_1, b0_2, b0_3, b0_4);
                b2 = tap(b2, g0, b0_2, b0_3, b0_4, b0_5);
                let b1_0 = subgroupBroadcast(vb1, 0u);
                let b1_1 = subgroupBroadcast(vb1, 1u);
                let b1_2 = subgroupBroadcast(vb1, 2u);
                let b1_3 = subgroupBroadcast(vb1, 3u);
                let b1_4 = subgroupBroadcast(vb1, 4u);
                let b1_5 = subgroupBroadcast(vb1, 5u);
                b3 = tap(b3, g0, b1_0, b1_1, b1_2, b1_3);
                b4 = tap(b4, g0, b1_1, b1_2, b1_3, b1_4);
                b5 = tap(b5, g0, b1_2, b1_3, b1_4, b1_5);
                b0 = tap(b0, g1, b1_0, b1_1, b1_2, b1_3);
                b1 = tap(b1, g1, b1_1, b1_2, b1_3, b1_4);
                b2 = tap(b2, g1, b1_2, b1_3, b1_4, b1_5);
                let b2_0 = subgroupBroadcast(vb2, 0u);
                let b2_1 = subgroupBroadcast(vb2, 1u);
                let b2_2 = subgroupBroadcast(vb2, 2u);
                let b2_3 = subgroupBroadcast(vb2, 3u);
                let b2_4 = subgroupBroadcast(vb2, 4u);
                let b2_5 = subgroupBroadcast(vb2, 5u);
                b6 = tap(b6, g0, b2_0, b2_1, b2_2, b2_3);
                b7 = tap(b7, g0, b2_1, b2_2, b2_3, b2_4);
                b8 = tap(b8, g0, b2_2, b2_3, b2_4, b2_5);
                b3 = tap(b3, g1, b2_0, b2_1, b2_2, b2_3);
                b4 = tap(b4, g1, b2_1, b2_2, b2_3, b2_4);
                b5 = tap(b5, g1, b2_2, b2_3, b2_4, b2_5);
                let b3_0 = subgroupBroadcast(vb3, 0u);
                let b3_1 = subgroupBroadcast(vb3, 1u);
                let b3_2 = subgroupBroadcast(vb3, 2u);
                let b3_3 = subgroupBroadcast(vb3, 3u);
                let b3_4 = subgroupBroadcast(vb3, 4u);
                let b3_5 = subgroupBroadcast(vb3, 5u);
                b6 = tap(b6, g1, b3_0, b3_1, b3_2, b3_3);
                b7 = tap(b7, g1, b3_1, b3_2, b3_3, b3_4);
                b8 = tap(b8, g1, b3_2, b3_3, b3_4, b3_5);
                gi = gi + 1u;
                gj = gj + 1u;
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
