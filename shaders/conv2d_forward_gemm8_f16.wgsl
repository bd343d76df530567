// 2-D convolution as an implicit GEMM with float16 shared tiles and float32 sums: the variant of
// conv2d_forward_gemm8.wgsl (same tile, parameters, bindings, ReLU epilogue) for adapters with
// SHADER_F16, used for inference only, where its check against the float32 reference kernel
// passes at the reduced-precision tolerance (1e-2 of the largest output) and it is faster.
// x and w are rounded to float16 as they enter shared memory (half the bytes per shared load);
// every multiply-add is float32. Workgroup memory: 4,224 bytes.
// Grid: x = ceil(N*H*W / 128), y = ceil(cout / 128).
enable f16;

// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 4u;
const WROW: u32 = 34u;
const XROW: u32 = 32u;
// float16: ws[(stage * 4 + kr) * 34 + g]: channels 4g..4g+3 at K row kr; xs[(stage * 4 + kr) * 32 + g]: pixels 4g..
var<workgroup> ws: array<vec4<f16>, 272>;
var<workgroup> xs: array<vec4<f16>, 256>;

// x_at, w_at (the implicit-im2col loaders): conv_forward_im2col.wgsl (appended by `shader!`).

@compute @workgroup_size(256)
fn conv2d_forward_gemm8_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let k_total = p.cin * p.k * p.k;
    let q_tile = wid.x * BN;
    let o_tile = wid.y * BM;

    // x loader: pixel lid % 128 of the tile (consecutive threads, consecutive addresses), K rows
    // lid / 128 + 2j for j < 2.
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
    // w loader: K row lid % 4 (consecutive K, consecutive addresses), channels lid / 4 and lid / 4 + 64.
    let wr = lid % BK;
    let wo = lid / BK;
    let wa_live = o_tile + wo < p.cout;
    let wb_live = o_tile + wo + 64u < p.cout;
    let wa_off = min(o_tile + wo, p.cout - 1u) * p.s_o;
    let wb_off = min(o_tile + wo + 64u, p.cout - 1u) * p.s_o;

    // stage 0
    var xv = vec2<f32>(x_at(xr, x_live, x_base, ph, pw), x_at(xr + 2u, x_live, x_base, ph, pw));
    var wv = vec2<f32>(w_at(wr, wa_live, wa_off), w_at(wr, wb_live, wb_off));
    xs[xr * XROW + xq / 4u][xq % 4u] = f16(xv.x);
    xs[(xr + 2u) * XROW + xq / 4u][xq % 4u] = f16(xv.y);
    ws[wr * WROW + wo / 4u][wo % 4u] = f16(wv.x);
    ws[wr * WROW + (wo + 64u) / 4u][wo % 4u] = f16(wv.y);
    workgroupBarrier();

    let ty = lid / 16u; // channels 4 ty .. and 64 + 4 ty ..
    let tx = lid % 16u; // pixels 4 tx .. and 64 + 4 tx ..
    // c{i}{a,b}: channel i of the thread's 8 (i < 4: 4 ty + i, else 64 + 4 ty + i - 4), pixels of
    // the first or second half
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    var c4a = vec4<f32>(0.0);
    var c4b = vec4<f32>(0.0);
    var c5a = vec4<f32>(0.0);
    var c5b = vec4<f32>(0.0);
    var c6a = vec4<f32>(0.0);
    var c6b = vec4<f32>(0.0);
    var c7a = vec4<f32>(0.0);
    var c7b = vec4<f32>(0.0);
    let steps = (k_total + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s & 1u;
        let next = s + 1u < steps;
        if (next) {
            let k1 = (s + 1u) * BK;
            xv = vec2<f32>(x_at(k1 + xr, x_live, x_base, ph, pw), x_at(k1 + xr + 2u, x_live, x_base, ph, pw));
            wv = vec2<f32>(w_at(k1 + wr, wa_live, wa_off), w_at(k1 + wr, wb_live, wb_off));
        }
        let wbase = cur * BK * WROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var kr = 0u; kr < BK; kr = kr + 1u) {
            let a0 = vec4<f32>(ws[wbase + kr * WROW]);
            let a1 = vec4<f32>(ws[wbase + kr * WROW + 16u]);
            let v0 = vec4<f32>(xs[xbase + kr * XROW]);
            let v1 = vec4<f32>(xs[xbase + kr * XROW + 16u]);
            c0a = fma(vec4<f32>(a0.x), v0, c0a);
            c0b = fma(vec4<f32>(a0.x), v1, c0b);
            c1a = fma(vec4<f32>(a0.y), v0, c1a);
            c1b = fma(vec4<f32>(a0.y), v1, c1b);
            c2a = fma(vec4<f32>(a0.z), v0, c2a);
            c2b = fma(vec4<f32>(a0.z), v1, c2b);
            c3a = fma(vec4<f32>(a0.w), v0, c3a);
            c3b = fma(vec4<f32>(a0.w), v1, c3b);
            c4a = fma(vec4<f32>(a1.x), v0, c4a);
            c4b = fma(vec4<f32>(a1.x), v1, c4b);
            c5a = fma(vec4<f32>(a1.y), v0, c5a);
            c5b = fma(vec4<f32>(a1.y), v1, c5b);
            c6a = fma(vec4<f32>(a1.z), v0, c6a);
            c6b = fma(vec4<f32>(a1.z), v1, c6b);
            c7a = fma(vec4<f32>(a1.w), v0, c7a);
            c7b = fma(vec4<f32>(a1.w), v1, c7b);
        }
        if (next) {
            let o = 1u - cur;
            xs[(o * BK + xr) * XROW + xq / 4u][xq % 4u] = f16(xv.x);
            xs[(o * BK + xr + 2u) * XROW + xq / 4u][xq % 4u] = f16(xv.y);
            ws[(o * BK + wr) * WROW + wo / 4u][wo % 4u] = f16(wv.x);
            ws[(o * BK + wr) * WROW + (wo + 64u) / 4u][wo % 4u] = f16(wv.y);
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 16>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b);
    for (var i = 0u; i < 8u; i = i + 1u) {
        let o = o_tile + 64u * (i / 4u) + 4u * ty + i % 4u;
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
