// 2-D convolution as an implicit GEMM (M = output channels, N = pixels, K = in channels * k * k),
// stride 1, zero padding k/2, odd k, cross-correlation (PyTorch conv2d).
// The same kernel runs the input gradient: gy convolved with the transposed, flipped weight.
//   y[n, o, h, w] = b[o] + sum_{c, ky, kx} W(o, c, tap) * x[n, c, h + ky - k/2, w + kx - k/2]
//   W(o, c, tap) = wt[o * s_o + c * s_c + (flip ? k*k - 1 - tap : tap)], tap = ky * k + kx
// binding 0: params { n, cin, cout, h, w, k, s_o, s_c, flip, has_bias, _, _ }
// binding 1: x [N, cin, H, W] (read)     binding 2: wt (read; [cout, cin, k, k] forward,
// binding 3: b [cout] (read; any buffer when has_bias = 0)            [cin, cout, k, k] for dx)
// binding 4: y [N, cout, H, W] (write)
// Grid: x = ceil(N*H*W / 256), y = ceil(cout / 8); 64 threads, each an 8-channel x 4-pixel block of
// y held in registers (pixels lid + 64 j of the group's 256, so neighbouring threads read
// neighbouring pixels). No shared memory and no barriers: that ran fastest on lavapipe; 8 x 4
// ran 1.2-1.7x faster than 4 x 4 in back-to-back runs there (12 loads per 32 FMAs, not 8 per 16).
// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

// Writes the 4 output channels o0.. of pixel q (flattened n * H * W + h * W + w).
fn store(q: u32, o0: u32, acc: vec4<f32>) {
    let hw = p.h * p.w;
    if (q >= p.n * hw) { return; }
    let n = q / hw;
    let r = q - n * hw;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let o = o0 + i;
        if (o < p.cout) {
            let bias = select(0.0, b[o], p.has_bias == 1u);
            y[(n * p.cout + o) * hw + r] = acc[i] + bias;
        }
    }
}

// Offset of x[n, 0, h + dy, w + dx] for pixel q, and 1.0 / 0.0 for inside / padding.
// Outside pixels read offset 0 (always valid) and are multiplied by 0.
struct Tap { off: u32, m: f32 }
fn tap_offset(q: u32, dy: i32, dx: i32) -> Tap {
    let hw = p.h * p.w;
    let n = q / hw;
    let r = q - n * hw;
    let hh = i32(r / p.w) + dy;
    let ww = i32(r % p.w) + dx;
    let ok = hh >= 0 && hh < i32(p.h) && ww >= 0 && ww < i32(p.w);
    let off = select(0u, n * p.cin * hw + u32(hh) * p.w + u32(ww), ok);
    return Tap(off, select(0.0, 1.0, ok));
}

@compute @workgroup_size(64)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let hw = p.h * p.w;
    let last = p.n * hw - 1u;
    let q0 = wid.x * 256u + lid.x;
    // Out-of-range pixels and channels are clamped for loading; `store` skips them.
    let qa = min(q0, last);
    let qb = min(q0 + 64u, last);
    let qc = min(q0 + 128u, last);
    let qd = min(q0 + 192u, last);
    let o0 = wid.y * 8u;
    let w0 = min(o0, p.cout - 1u) * p.s_o;
    let w1 = min(o0 + 1u, p.cout - 1u) * p.s_o;
    let w2 = min(o0 + 2u, p.cout - 1u) * p.s_o;
    let w3 = min(o0 + 3u, p.cout - 1u) * p.s_o;
    let w4 = min(o0 + 4u, p.cout - 1u) * p.s_o;
    let w5 = min(o0 + 5u, p.cout - 1u) * p.s_o;
    let w6 = min(o0 + 6u, p.cout - 1u) * p.s_o;
    let w7 = min(o0 + 7u, p.cout - 1u) * p.s_o;
    let pad = i32(p.k / 2u);
    let kk = p.k * p.k;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    for (var tap = 0u; tap < kk; tap = tap + 1u) {
        let dy = i32(tap / p.k) - pad;
        let dx = i32(tap % p.k) - pad;
        let ta = tap_offset(qa, dy, dx);
        let tb = tap_offset(qb, dy, dx);
        let tc = tap_offset(qc, dy, dx);
        let td = tap_offset(qd, dy, dx);
        var xa = ta.off;
        var xb = tb.off;
        var xc = tc.off;
        var xd = td.off;
        var wi = select(tap, kk - 1u - tap, p.flip == 1u);
        for (var c = 0u; c < p.cin; c = c + 1u) {
            let wv = vec4<f32>(wt[w0 + wi], wt[w1 + wi], wt[w2 + wi], wt[w3 + wi]);
            let wu = vec4<f32>(wt[w4 + wi], wt[w5 + wi], wt[w6 + wi], wt[w7 + wi]);
            let va = x[xa] * ta.m;
            let vb = x[xb] * tb.m;
            let vc = x[xc] * tc.m;
            let vd = x[xd] * td.m;
            a0 = a0 + wv * va;
            a1 = a1 + wv * vb;
            a2 = a2 + wv * vc;
            a3 = a3 + wv * vd;
            b0 = b0 + wu * va;
            b1 = b1 + wu * vb;
            b2 = b2 + wu * vc;
            b3 = b3 + wu * vd;
            xa = xa + hw;
            xb = xb + hw;
            xc = xc + hw;
            xd = xd + hw;
            wi = wi + p.s_c;
        }
    }
    store(q0, o0, a0);
    store(q0 + 64u, o0, a1);
    store(q0 + 128u, o0, a2);
    store(q0 + 192u, o0, a3);
    store(q0, o0 + 4u, b0);
    store(q0 + 64u, o0 + 4u, b1);
    store(q0 + 128u, o0 + 4u, b2);
    store(q0 + 192u, o0 + 4u, b3);
}
