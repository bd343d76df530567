// 2-D convolution as an implicit GEMM with workgroup-shared tiles: the variant for GPUs, where
// reusing each loaded value 64 times from shared memory beats the barrier-free register-blocked
// conv2d_forward.wgsl (the variant for CPU adapters). Same maths, parameters and bindings:
//   y[n, o, h, w] = b[o] + sum_{c, ky, kx} W(o, c, tap) * x[n, c, h + ky - k/2, w + kx - k/2]
//   W(o, c, tap) = wt[o * s_o + c * s_c + (flip ? k*k - 1 - tap : tap)], tap = ky * k + kx
// GEMM view: M = cout, N = pixels (n * H * W), K = cin * k * k. A workgroup computes a 64-channel x
// 64-pixel tile of y in steps of 16 along K; each of its 256 threads holds a 4 x 4 block in
// registers and reads its operands from shared memory as vec4s (4 channels, 4 pixels).
// Grid: x = ceil(N*H*W / 64), y = ceil(cout / 64).
// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

const TILE: u32 = 64u;
const STEP_K: u32 = 16u;
// ws[kr * 16 + g]: channels 4g..4g+3 of the tile at K row kr; xs[kr * 16 + g]: pixels 4g..4g+3.
var<workgroup> ws: array<vec4<f32>, 256>;
var<workgroup> xs: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn conv2d_forward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let kk = p.k * p.k;
    let k_total = p.cin * kk;
    let pad = i32(p.k / 2u);
    let q_tile = wid.x * TILE;
    let o_tile = wid.y * TILE;

    // What this thread loads: x at K row lid / 16, pixels 4 (lid % 16) ..; wt at K row lid % 16,
    // channels 4 (lid / 16) .. (consecutive threads read consecutive weights).
    let x_row = lid / 16u;
    let x_group = lid % 16u;
    let w_row = lid % 16u;
    let w_group = lid / 16u;
    var base: array<u32, 4>; // n * cin * hw of each loaded pixel
    var ph: array<i32, 4>;
    var pw: array<i32, 4>;
    var live: array<bool, 4>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        let q = q_tile + 4u * x_group + j;
        live[j] = q < pixels;
        let qc = min(q, pixels - 1u);
        let n = qc / hw;
        let r = qc - n * hw;
        base[j] = n * p.cin * hw;
        ph[j] = i32(r / p.w);
        pw[j] = i32(r % p.w);
    }
    var w_off: array<u32, 4>; // o * s_o of each loaded channel (clamped; zeroed below)
    for (var i = 0u; i < 4u; i = i + 1u) {
        w_off[i] = min(o_tile + 4u * w_group + i, p.cout - 1u) * p.s_o;
    }

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let ty = lid / 16u; // channels 4 ty .. of the tile
    let tx = lid % 16u; // pixels 4 tx .. of the tile
    for (var k0 = 0u; k0 < k_total; k0 = k0 + STEP_K) {
        // x tile: im2col on the fly, zeros for padding and for K or pixels past the end.
        let kx_idx = k0 + x_row;
        var xv = vec4<f32>(0.0);
        if (kx_idx < k_total) {
            let c = kx_idx / kk;
            let tap = kx_idx - c * kk;
            let dy = i32(tap / p.k) - pad;
            let dx = i32(tap % p.k) - pad;
            for (var j = 0u; j < 4u; j = j + 1u) {
                let hh = ph[j] + dy;
                let ww = pw[j] + dx;
                if (live[j] && hh >= 0 && hh < i32(p.h) && ww >= 0 && ww < i32(p.w)) {
                    xv[j] = x[base[j] + c * hw + u32(hh) * p.w + u32(ww)];
                }
            }
        }
        xs[x_row * 16u + x_group] = xv;
        let kw_idx = k0 + w_row;
        var wv = vec4<f32>(0.0);
        if (kw_idx < k_total) {
            let c = kw_idx / kk;
            let tap = kw_idx - c * kk;
            let wi = c * p.s_c + select(tap, kk - 1u - tap, p.flip == 1u);
            for (var i = 0u; i < 4u; i = i + 1u) {
                if (o_tile + 4u * w_group + i < p.cout) {
                    wv[i] = wt[w_off[i] + wi];
                }
            }
        }
        ws[w_row * 16u + w_group] = wv;
        workgroupBarrier();
        for (var kr = 0u; kr < STEP_K; kr = kr + 1u) {
            let a = ws[kr * 16u + ty];
            let v = xs[kr * 16u + tx];
            acc0 = acc0 + a.x * v;
            acc1 = acc1 + a.y * v;
            acc2 = acc2 + a.z * v;
            acc3 = acc3 + a.w * v;
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let o = o_tile + 4u * ty + i;
        if (o >= p.cout) { continue; }
        let bias = select(0.0, b[o], p.has_bias == 1u);
        for (var j = 0u; j < 4u; j = j + 1u) {
            let q = q_tile + 4u * tx + j;
            if (q < pixels) {
                let n = q / hw;
                y[(n * p.cout + o) * hw + (q - n * hw)] = acc[i][j] + bias;
            }
        }
    }
}
