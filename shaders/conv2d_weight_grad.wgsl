// Weight gradient of the 2-D convolution (stride 1, zero padding k/2, odd k):
//   gw[o, c, ky, kx] = sum_{n, h, w} gy[n, o, h, w] * x[n, c, h + ky - k/2, w + kx - k/2]
// a GEMM with M = cout, N = cin * k * k and a long K = N * H * W, so K is split over the 64
// threads of a workgroup and summed by a tree reduction in shared memory.
// binding 0: params { n, cin, cout, h, w, k, _, _ }
// binding 1: x [N, cin, H, W] (read)   binding 2: gy [N, cout, H, W] (read)
// binding 3: gw [cout, cin, k, k] (write)
// Grid: x = k*k * ceil(cin / 4) (tap-major), y = ceil(cout / 8). Each workgroup owns a block of
// 8 output channels x 4 input channels at one tap, so one padding test serves all 32 products
// (the same 8 x 4 shape as the forward: 12 loads per 32 FMAs instead of 8 per 16).
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;

// 64 threads x 8 accumulators: [t * 8 + j] input channel j with output channels 0..3,
// [t * 8 + 4 + j] the same with output channels 4..7.
var<workgroup> red: array<vec4<f32>, 512>;

@compute @workgroup_size(64)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let kk = p.k * p.k;
    let hw = p.h * p.w;
    let tap = wid.x % kk;
    let c0 = (wid.x / kk) * 4u;
    let o0 = wid.y * 8u;
    let pad = i32(p.k / 2u);
    let dy = i32(tap / p.k) - pad;
    let dx = i32(tap % p.k) - pad;
    // Clamped channels load valid data; their results are not stored.
    let ca = min(c0, p.cin - 1u) * hw;
    let cb = min(c0 + 1u, p.cin - 1u) * hw;
    let cc = min(c0 + 2u, p.cin - 1u) * hw;
    let cd = min(c0 + 3u, p.cin - 1u) * hw;
    let oa = min(o0, p.cout - 1u) * hw;
    let ob = min(o0 + 1u, p.cout - 1u) * hw;
    let oc = min(o0 + 2u, p.cout - 1u) * hw;
    let od = min(o0 + 3u, p.cout - 1u) * hw;
    let o4 = min(o0 + 4u, p.cout - 1u) * hw;
    let o5 = min(o0 + 5u, p.cout - 1u) * hw;
    let o6 = min(o0 + 6u, p.cout - 1u) * hw;
    let o7 = min(o0 + 7u, p.cout - 1u) * hw;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    if (o0 < p.cout && c0 < p.cin) {
        for (var n = 0u; n < p.n; n = n + 1u) {
            let xn = n * p.cin * hw;
            let gn = n * p.cout * hw;
            for (var q = t; q < hw; q = q + 64u) {
                let hh = i32(q / p.w) + dy;
                let ww = i32(q % p.w) + dx;
                if (hh >= 0 && hh < i32(p.h) && ww >= 0 && ww < i32(p.w)) {
                    let xi = xn + u32(hh) * p.w + u32(ww);
                    let gi = gn + q;
                    let g = vec4<f32>(gy[gi + oa], gy[gi + ob], gy[gi + oc], gy[gi + od]);
                    let h = vec4<f32>(gy[gi + o4], gy[gi + o5], gy[gi + o6], gy[gi + o7]);
                    let xa = x[xi + ca];
                    let xb = x[xi + cb];
                    let xc = x[xi + cc];
                    let xd = x[xi + cd];
                    a0 = a0 + g * xa;
                    a1 = a1 + g * xb;
                    a2 = a2 + g * xc;
                    a3 = a3 + g * xd;
                    b0 = b0 + h * xa;
                    b1 = b1 + h * xb;
                    b2 = b2 + h * xc;
                    b3 = b3 + h * xd;
                }
            }
        }
    }
    red[t * 8u] = a0;
    red[t * 8u + 1u] = a1;
    red[t * 8u + 2u] = a2;
    red[t * 8u + 3u] = a3;
    red[t * 8u + 4u] = b0;
    red[t * 8u + 5u] = b1;
    red[t * 8u + 6u] = b2;
    red[t * 8u + 7u] = b3;
    // Every thread reaches every barrier (no early return).
    for (var stride = 32u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            for (var j = 0u; j < 8u; j = j + 1u) {
                red[t * 8u + j] = red[t * 8u + j] + red[(t + stride) * 8u + j];
            }
        }
    }
    workgroupBarrier();
    // Threads 0..31 store the 8 x 4 block: input channel j = t / 8, output channel i = t % 8.
    let j = t / 8u;
    let i = t % 8u;
    if (t < 32u && o0 + i < p.cout && c0 + j < p.cin) {
        gw[((o0 + i) * p.cin + c0 + j) * kk + tap] = red[j + (i / 4u) * 4u][i % 4u];
    }
}
