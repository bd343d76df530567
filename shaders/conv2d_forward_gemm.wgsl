// 2-D convolution as an implicit GEMM with larger register tiles than conv2d_forward_tiled.wgsl and
// double-buffered shared stages: a GPU variant. Same maths, parameters and bindings:
//   y[n, o, h, w] = b[o] + sum_{c, ky, kx} W(o, c, tap) * x[n, c, h + ky - k/2, w + kx - k/2]
//   W(o, c, tap) = wt[o * s_o + c * s_c + (flip ? k*k - 1 - tap : tap)], tap = ky * k + kx
// then max(y, 0) when relu == 1 (the inference epilogue of a conv followed by ReLU; the other
// forward kernels share the parameters and ignore it: the op sets it only for this one).
// GEMM view: M = cout, N = pixels (n * H * W), K = cin * k * k. A workgroup of 256 threads computes
// a 64-channel x 128-pixel tile of y in stages of 8 K rows; each thread holds 4 channels x 8
// pixels (32 sums) and reads 3 vec4s of shared memory per 32 multiply-adds (the tiled kernel: 2
// per 16). Each stage's global loads are issued before the previous stage's arithmetic and stored
// into the other shared buffer after it, so one barrier per stage suffices.
// Shared rows are padded (17 and 33 vec4s) so the 8 K rows of a store land in distinct banks.
// Workgroup memory: 12,800 bytes (under WebGPU's default 16 KiB).
// Grid: x = ceil(N*H*W / 128), y = ceil(cout / 64).
// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

const BM: u32 = 64u;
const BN: u32 = 128u;
const BK: u32 = 8u;
const WROW: u32 = 17u;
const XROW: u32 = 33u;
// ws[(stage * 8 + kr) * 17 + g]: channels 4g..4g+3 at K row kr; xs[(stage * 8 + kr) * 33 + g]: pixels 4g..
var<workgroup> ws: array<vec4<f32>, 272>;
var<workgroup> xs: array<vec4<f32>, 528>;

// x_at, w_at (the implicit-im2col loaders): conv_forward_im2col.wgsl (appended by `shader!`).

@compute @workgroup_size(256)
fn conv2d_forward_gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let k_total = p.cin * p.k * p.k;
    let q_tile = wid.x * BN;
    let o_tile = wid.y * BM;

    // x loader: pixel lid % 128 of the tile (consecutive threads, consecutive addresses), K rows
    // lid / 128 + 2j for j < 4.
    let xq = lid % BN;
    let xr = lid / BN;
    let q = q_tile + xq;
    let x_live = q < pixels;
    let qc = min(q, pixels - 1u);
    let xn = qc / hw;
    let xrem = qc - xn * hw;
    let x_base = xn * p.cin * hw;
    let ph = i32(xrem / p.w);
    let pw = i32(xrem % p.w);
    // w loader: K row lid % 8 (consecutive K, consecutive addresses), channels lid / 8 and lid / 8 + 32.
    let wr = lid % BK;
    let wo = lid / BK;
    let wa_live = o_tile + wo < p.cout;
    let wb_live = o_tile + wo + 32u < p.cout;
    let wa_off = min(o_tile + wo, p.cout - 1u) * p.s_o;
    let wb_off = min(o_tile + wo + 32u, p.cout - 1u) * p.s_o;

    // stage 0
    var xv = vec4<f32>(x_at(xr, x_live, x_base, ph, pw), x_at(xr + 2u, x_live, x_base, ph, pw),
                       x_at(xr + 4u, x_live, x_base, ph, pw), x_at(xr + 6u, x_live, x_base, ph, pw));
    var wv = vec2<f32>(w_at(wr, wa_live, wa_off), w_at(wr, wb_live, wb_off));
    for (var j = 0u; j < 4u; j = j + 1u) {
        xs[(xr + 2u * j) * XROW + xq / 4u][xq % 4u] = xv[j];
    }
    ws[wr * WROW + wo / 4u][wo % 4u] = wv.x;
    ws[wr * WROW + (wo + 32u) / 4u][wo % 4u] = wv.y;
    workgroupBarrier();

    let ty = lid / 16u; // channels 4 ty .. 4 ty + 3
    let tx = lid % 16u; // pixels 4 tx .. and 64 + 4 tx ..
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    let steps = (k_total + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s & 1u;
        let next = s + 1u < steps;
        if (next) {
            let k1 = (s + 1u) * BK;
            xv = vec4<f32>(x_at(k1 + xr, x_live, x_base, ph, pw), x_at(k1 + xr + 2u, x_live, x_base, ph, pw),
                           x_at(k1 + xr + 4u, x_live, x_base, ph, pw), x_at(k1 + xr + 6u, x_live, x_base, ph, pw));
            wv = vec2<f32>(w_at(k1 + wr, wa_live, wa_off), w_at(k1 + wr, wb_live, wb_off));
        }
        let wbase = cur * BK * WROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var kr = 0u; kr < BK; kr = kr + 1u) {
            let a = ws[wbase + kr * WROW];
            let v0 = xs[xbase + kr * XROW];
            let v1 = xs[xbase + kr * XROW + 16u];
            c0a = fma(vec4<f32>(a.x), v0, c0a);
            c0b = fma(vec4<f32>(a.x), v1, c0b);
            c1a = fma(vec4<f32>(a.y), v0, c1a);
            c1b = fma(vec4<f32>(a.y), v1, c1b);
            c2a = fma(vec4<f32>(a.z), v0, c2a);
            c2b = fma(vec4<f32>(a.z), v1, c2b);
            c3a = fma(vec4<f32>(a.w), v0, c3a);
            c3b = fma(vec4<f32>(a.w), v1, c3b);
        }
        if (next) {
            let o = 1u - cur;
            for (var j = 0u; j < 4u; j = j + 1u) {
                xs[(o * BK + xr + 2u * j) * XROW + xq / 4u][xq % 4u] = xv[j];
            }
            ws[(o * BK + wr) * WROW + wo / 4u][wo % 4u] = wv.x;
            ws[(o * BK + wr) * WROW + (wo + 32u) / 4u][wo % 4u] = wv.y;
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 8>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let o = o_tile + 4u * ty + i;
        if (o >= p.cout) {
            continue;
        }
        let bias = select(0.0, b[o], p.has_bias == 1u);
        for (var half = 0u; half < 2u; half = half + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                let qo = q_tile + 64u * half + 4u * tx + j;
                if (qo < pixels) {
                    let n = qo / hw;
                    var v = acc[2u * i + half][j] + bias;
                    if (p.relu == 1u) {
                        v = max(v, 0.0);
                    }
                    y[(n * p.cout + o) * hw + (qo - n * hw)] = v;
                }
            }
        }
    }
}
