// 2-D convolution as an implicit GEMM, the variant of conv2d_forward_gemm.wgsl with 8 x 8 outputs
// per thread: a BM-channel x BN-pixel tile per workgroup of BM * BN / 64 threads (128 x 128 and
// 256 threads by default), stages of 4 K rows double-buffered, 4 vec4 shared loads per 64
// multiply-adds (the 4 x 8 kernel: 3 per 32). More registers per thread (64 sums), so fewer
// workgroups per multiprocessor: the autotune decides.
// Same maths, parameters (relu: max(y, 0) in the epilogue) and bindings as conv2d_forward_gemm.wgsl.
// Tiles are pipeline constants (override): BM, BN each 64 or 128, WG = BM * BN / 64 (the
// autotune's variants, `ConvKernel::Gemm8Tile`); the defaults are the 128 x 128 tile, and every
// tile sums in the same order (K ascending, 4 rows per stage).
// Shared rows: BM / 4 + 2 vec4s of weights (a store's 4 K rows x 8 channels land in distinct
// banks), BN / 4 of pixels (stored contiguously). The arrays hold the largest tile (the
// default): workgroup memory 8,448 bytes for every tile.
// Grid: x = ceil(N*H*W / BN), y = ceil(cout / BM).
// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

// output channels and pixels per workgroup (64 or 128 each), invocations (BM * BN / 64)
override BM: u32 = 128u;
override BN: u32 = 128u;
override WG: u32 = 256u;
const BK: u32 = 4u;
override WROW: u32 = BM / 4u + 2u;
override XROW: u32 = BN / 4u;
// per stage each thread loads XL x values (K rows XSTEP apart) and WL weights (channels WSTEP
// apart): 2 or 4 each
override XSTEP: u32 = WG / BN;
override XL: u32 = BK * BN / WG;
override WSTEP: u32 = WG / BK;
override WL: u32 = BK * BM / WG;
// ws[(stage * 4 + kr) * WROW + g]: channels 4g..4g+3 at K row kr; xs[(stage * 4 + kr) * XROW + g]: pixels 4g..
var<workgroup> ws: array<vec4<f32>, 272>;
var<workgroup> xs: array<vec4<f32>, 256>;

// x_at, w_at (the implicit-im2col loaders): conv_forward_im2col.wgsl (appended by `shader!`).

// One thread's x loads of the stage at K index k0: rows xr + XSTEP j (j < XL) of its pixel.
fn x_loads(k0: u32, xr: u32, live: bool, base: u32, ph: i32, pw: i32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    v.x = x_at(k0 + xr, live, base, ph, pw);
    v.y = x_at(k0 + xr + XSTEP, live, base, ph, pw);
    if (XL > 2u) {
        v.z = x_at(k0 + xr + 2u * XSTEP, live, base, ph, pw);
        v.w = x_at(k0 + xr + 3u * XSTEP, live, base, ph, pw);
    }
    return v;
}

// One thread's weight loads of the stage at K index k0: K row k0 + wr of channels wo + WSTEP j.
fn w_loads(kidx: u32, live: vec4<bool>, off: vec4<u32>) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    v.x = w_at(kidx, live.x, off.x);
    v.y = w_at(kidx, live.y, off.y);
    if (WL > 2u) {
        v.z = w_at(kidx, live.z, off.z);
        v.w = w_at(kidx, live.w, off.w);
    }
    return v;
}

// Stores one thread's loads into stage `st` of the shared tiles.
fn store_stage(st: u32, xr: u32, xq: u32, wr: u32, wo: u32, xv: vec4<f32>, wv: vec4<f32>) {
    let xrow = (st * BK + xr) * XROW + xq / 4u;
    xs[xrow][xq % 4u] = xv.x;
    xs[xrow + XSTEP * XROW][xq % 4u] = xv.y;
    if (XL > 2u) {
        xs[xrow + 2u * XSTEP * XROW][xq % 4u] = xv.z;
        xs[xrow + 3u * XSTEP * XROW][xq % 4u] = xv.w;
    }
    let wrow = (st * BK + wr) * WROW + wo / 4u;
    ws[wrow][wo % 4u] = wv.x;
    ws[wrow + WSTEP / 4u][wo % 4u] = wv.y;
    if (WL > 2u) {
        ws[wrow + 2u * WSTEP / 4u][wo % 4u] = wv.z;
        ws[wrow + 3u * WSTEP / 4u][wo % 4u] = wv.w;
    }
}

@compute @workgroup_size(WG)
fn conv2d_forward_gemm8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let k_total = p.cin * p.k * p.k;
    let q_tile = wid.x * BN;
    let o_tile = wid.y * BM;

    // x loader: pixel lid % BN of the tile (consecutive threads, consecutive addresses), K rows
    // lid / BN + XSTEP j.
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
    // w loader: K row lid % 4 (consecutive K, consecutive addresses), channels lid / 4 + WSTEP j.
    let wr = lid % BK;
    let wo = lid / BK;
    let wch = vec4<u32>(o_tile + wo) + WSTEP * vec4<u32>(0u, 1u, 2u, 3u);
    let w_live = wch < vec4<u32>(p.cout);
    let w_off = min(wch, vec4<u32>(p.cout - 1u)) * p.s_o;

    // stage 0
    var xv = x_loads(0u, xr, x_live, x_base, ph, pw);
    var wv = w_loads(wr, w_live, w_off);
    store_stage(0u, xr, xq, wr, wo, xv, wv);
    workgroupBarrier();

    let ty = lid / (BN / 8u); // channels 4 ty .. and BM / 2 + 4 ty ..
    let tx = lid % (BN / 8u); // pixels 4 tx .. and BN / 2 + 4 tx ..
    // c{i}{a,b}: channel i of the thread's 8 (i < 4: 4 ty + i, else BM / 2 + 4 ty + i - 4), pixels
    // of the first or second half
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
            xv = x_loads(k1, xr, x_live, x_base, ph, pw);
            wv = w_loads(k1 + wr, w_live, w_off);
        }
        let wbase = cur * BK * WROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var kr = 0u; kr < BK; kr = kr + 1u) {
            let a0 = ws[wbase + kr * WROW];
            let a1 = ws[wbase + kr * WROW + BM / 8u];
            let v0 = xs[xbase + kr * XROW];
            let v1 = xs[xbase + kr * XROW + BN / 8u];
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
            store_stage(1u - cur, xr, xq, wr, wo, xv, wv);
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 16>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b);
    for (var i = 0u; i < 8u; i = i + 1u) {
        let o = o_tile + (BM / 2u) * (i / 4u) + 4u * ty + i % 4u;
        if (o >= p.cout) {
            continue;
        }
        let bias = select(0.0, b[o], p.has_bias == 1u);
        for (var half = 0u; half < 2u; half = half + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                let qo = q_tile + (BN / 2u) * half + 4u * tx + j;
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
