// Weight gradient of the 2-D convolution (stride 1, zero padding k/2, odd k):
//   gw[o, c, ky, kx] = sum_{n, h, w} gy[n, o, h, w] * x[n, c, h + ky - k/2, w + kx - k/2]
// a GEMM with M = cout, N = cin * k * k and a long K = N * H * W, so K is split over the 64
// threads of a workgroup and summed by a tree reduction in shared memory.
// binding 0: params { n, cin, cout, h, w, k, _, _ }
// binding 1: x [N, cin, H, W] (read)   binding 2: gy [N, cout, H, W] (read)
// binding 3: gw [cout, cin, k, k] (write)
// Grid: x = k*k * ceil(cin / 4) (tap-major), y = ceil(cout / 4). Each workgroup owns a block of
// 4 output channels x 4 input channels at one tap, so one padding test serves all 16 products.
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;

// 64 threads x 4 accumulators (one per input channel; components = output channels)
var<workgroup> red: array<vec4<f32>, 256>;

@compute @workgroup_size(64)
fn conv2d_weight_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let kk = p.k * p.k;
    let hw = p.h * p.w;
    let tap = wid.x % kk;
    let c0 = (wid.x / kk) * 4u;
    let o0 = wid.y * 4u;
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
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
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
                    a0 = a0 + g * x[xi + ca];
                    a1 = a1 + g * x[xi + cb];
                    a2 = a2 + g * x[xi + cc];
                    a3 = a3 + g * x[xi + cd];
                }
            }
        }
    }
    red[t * 4u] = a0;
    red[t * 4u + 1u] = a1;
    red[t * 4u + 2u] = a2;
    red[t * 4u + 3u] = a3;
    // Every thread reaches every barrier (no early return).
    for (var stride = 32u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                red[t * 4u + j] = red[t * 4u + j] + red[(t + stride) * 4u + j];
            }
        }
    }
    workgroupBarrier();
    // Threads 0..15 store the 4 x 4 block: input channel j = t / 4, output channel i = t % 4.
    let j = t / 4u;
    let i = t % 4u;
    if (t < 16u && o0 + i < p.cout && c0 + j < p.cin) {
        gw[((o0 + i) * p.cin + c0 + j) * kk + tap] = red[j][i];
    }
}
