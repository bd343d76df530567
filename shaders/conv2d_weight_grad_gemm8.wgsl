// Weight gradient of the 2-D convolution as a split-K GEMM, the variant of
// conv2d_weight_grad_gemm.wgsl with 8 x 8 sums per thread: a BM-output-channel x BN-column tile
// per workgroup of BM * BN / 64 threads (128 x 128 and 256 threads by default), stages of 4
// pixels double-buffered, 4 vec4 shared loads per 64 multiply-adds. Same maths, parameters,
// bindings and slices; the slices are added by conv2d_weight_grad_gemm.wgsl's `wgrad_finish`.
// Tiles are pipeline constants (override): BM, BN each 64 or 128, WG = BM * BN / 64 (the
// autotune's variants, `WgradKernel::Gemm8Tile`); the defaults are the 128 x 128 tile, and every
// tile sums in the same order (the slice's pixels ascending, 4 per stage).
// Shared rows of BM / 4 + 2 and BN / 4 + 2 vec4s (a store's 4 pixels x 8 channels or columns
// land in distinct banks). The arrays hold the largest tile (the default): workgroup memory
// 8,704 bytes for every tile.
// binding 0: params { n, cin, cout, h, w, k, chunk, slices }
// binding 1: x [N, cin, H, W]   binding 2: gy [N, cout, H, W]
// binding 3: part [slices, cout, cin * k * k] (write)
// Grid: x = ceil(cin * k * k / BN), y = ceil(cout / BM), z = slices.
// Params, p, the bindings x, gy, part and the loaders Pixel, pixel, x_at, gy_at:
// conv_wgrad_gemm_common.wgsl (appended by `shader!`).

// output channels and columns per workgroup (64 or 128 each), invocations (BM * BN / 64)
override BM: u32 = 128u;
override BN: u32 = 128u;
override WG: u32 = 256u;
const BK: u32 = 4u;
override GROW: u32 = BM / 4u + 2u;
override XROW: u32 = BN / 4u + 2u;
// per stage each thread loads GL gy values (output channels LSTEP apart) and XL x values
// (columns LSTEP apart) of one pixel: 2 or 4 each
override LSTEP: u32 = WG / BK;
override GL: u32 = BK * BM / WG;
override XL: u32 = BK * BN / WG;
// gs[(stage * 4 + kr) * GROW + g]: output channels 4g..4g+3 at pixel kr of the stage;
// xs[(stage * 4 + kr) * XROW + g]: columns 4g..4g+3.
var<workgroup> gs: array<vec4<f32>, 272>;
var<workgroup> xs: array<vec4<f32>, 272>;

// One thread's loads of a stage at pixel `px`: gy of its output channels (GL of them) and x of
// its columns (XL of them, each at its channel offset `c_off` and tap shift `dy`, `dx`).
fn gy_loads(px: Pixel, live: vec4<bool>, off: vec4<u32>) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    v.x = gy_at(px, live.x, off.x);
    v.y = gy_at(px, live.y, off.y);
    if (GL > 2u) {
        v.z = gy_at(px, live.z, off.z);
        v.w = gy_at(px, live.w, off.w);
    }
    return v;
}

fn x_loads(px: Pixel, live: vec4<bool>, c_off: vec4<u32>, dy: vec4<i32>, dx: vec4<i32>) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    v.x = x_at(px, live.x, c_off.x, dy.x, dx.x);
    v.y = x_at(px, live.y, c_off.y, dy.y, dx.y);
    if (XL > 2u) {
        v.z = x_at(px, live.z, c_off.z, dy.z, dx.z);
        v.w = x_at(px, live.w, c_off.w, dy.w, dx.w);
    }
    return v;
}

// Stores one thread's loads (pixel kr, channels and columns lo + LSTEP j) into stage `st`.
fn store_stage(st: u32, kr: u32, lo: u32, gv: vec4<f32>, xv: vec4<f32>) {
    let grow = (st * BK + kr) * GROW + lo / 4u;
    gs[grow][lo % 4u] = gv.x;
    gs[grow + LSTEP / 4u][lo % 4u] = gv.y;
    if (GL > 2u) {
        gs[grow + 2u * LSTEP / 4u][lo % 4u] = gv.z;
        gs[grow + 3u * LSTEP / 4u][lo % 4u] = gv.w;
    }
    let xrow = (st * BK + kr) * XROW + lo / 4u;
    xs[xrow][lo % 4u] = xv.x;
    xs[xrow + LSTEP / 4u][lo % 4u] = xv.y;
    if (XL > 2u) {
        xs[xrow + 2u * LSTEP / 4u][lo % 4u] = xv.z;
        xs[xrow + 3u * LSTEP / 4u][lo % 4u] = xv.w;
    }
}

@compute @workgroup_size(WG)
fn wgrad_gemm8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let kk = p.k * p.k;
    let ncol = p.cin * kk;
    let pad = i32(p.k / 2u);
    let col_tile = wid.x * BN;
    let o_tile = wid.y * BM;
    let begin = wid.z * p.chunk;
    let end = min(begin + p.chunk, p.n * hw);

    // Both loaders take pixel lid % 4 of the stage; gy: output channels lid / 4 + LSTEP j;
    // x: columns lid / 4 + LSTEP j.
    let kr = lid % BK;
    let lo = lid / BK;
    let step = LSTEP * vec4<u32>(0u, 1u, 2u, 3u);
    let och = vec4<u32>(o_tile + lo) + step;
    let o_live = och < vec4<u32>(p.cout);
    let o_off = min(och, vec4<u32>(p.cout - 1u)) * hw;
    let col = vec4<u32>(col_tile + lo) + step;
    let col_live = col < vec4<u32>(ncol);
    let cc = min(col, vec4<u32>(ncol - 1u));
    let c = cc / kk;
    let tap = cc - c * kk;
    let c_off = c * hw;
    let dy = vec4<i32>(tap / p.k) - pad;
    let dx = vec4<i32>(tap % p.k) - pad;

    // stage 0
    var px = pixel(begin + kr, end);
    var gv = gy_loads(px, o_live, o_off);
    var xv = x_loads(px, col_live, c_off, dy, dx);
    store_stage(0u, kr, lo, gv, xv);
    workgroupBarrier();

    let ty = lid / (BN / 8u); // output channels 4 ty .. and BM / 2 + 4 ty ..
    let tx = lid % (BN / 8u); // columns 4 tx .. and BN / 2 + 4 tx ..
    // c{i}{a,b}: output channel i of the thread's 8 (i < 4: 4 ty + i, else BM / 2 + 4 ty + i - 4),
    // columns of the first or second half
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
    let steps = (p.chunk + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s & 1u;
        let next = s + 1u < steps;
        if (next) {
            px = pixel(begin + (s + 1u) * BK + kr, end);
            gv = gy_loads(px, o_live, o_off);
            xv = x_loads(px, col_live, c_off, dy, dx);
        }
        let gbase = cur * BK * GROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var r = 0u; r < BK; r = r + 1u) {
            let a0 = gs[gbase + r * GROW];
            let a1 = gs[gbase + r * GROW + BM / 8u];
            let v0 = xs[xbase + r * XROW];
            let v1 = xs[xbase + r * XROW + BN / 8u];
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
            store_stage(1u - cur, kr, lo, gv, xv);
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 16>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b);
    let out = wid.z * p.cout * ncol;
    for (var i = 0u; i < 8u; i = i + 1u) {
        let o = o_tile + (BM / 2u) * (i / 4u) + 4u * ty + i % 4u;
        if (o >= p.cout) {
            continue;
        }
        for (var half = 0u; half < 2u; half = half + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                let col = col_tile + (BN / 2u) * half + 4u * tx + j;
                if (col < ncol) {
                    part[out + o * ncol + col] = acc[2u * i + half][j];
                }
            }
        }
    }
}
