// Weight gradient of the 2-D convolution as a split-K GEMM, the variant of
// conv2d_weight_grad_gemm.wgsl with 8 x 8 sums per thread: a 128-output-channel x 128-column tile
// per 256-thread workgroup, stages of 4 pixels double-buffered, 4 vec4 shared loads per 64
// multiply-adds. Same maths, parameters, bindings and slices; the slices are added by
// conv2d_weight_grad_gemm.wgsl's `wgrad_finish`.
// Shared rows of 34 vec4s (a store's 4 pixels x 8 channels or columns land in distinct banks).
// Workgroup memory: 8,704 bytes.
// binding 0: params { n, cin, cout, h, w, k, chunk, slices }
// binding 1: x [N, cin, H, W]   binding 2: gy [N, cout, H, W]
// binding 3: part [slices, cout, cin * k * k] (write)
// Grid: x = ceil(cin * k * k / 128), y = ceil(cout / 128), z = slices.
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, chunk: u32, slices: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 4u;
const GROW: u32 = 34u;
const XROW: u32 = 34u;
// gs[(stage * 4 + kr) * 34 + g]: output channels 4g..4g+3 at pixel kr of the stage;
// xs[(stage * 4 + kr) * 34 + g]: columns 4g..4g+3.
var<workgroup> gs: array<vec4<f32>, 272>;
var<workgroup> xs: array<vec4<f32>, 272>;

// One loaded pixel: its image's offset into x (n * cin * hw) and gy (n * cout * hw), its row,
// column and offset in the image; `live` false past the slice.
struct Pixel { live: bool, xn: u32, gn: u32, h: i32, w: i32, r: u32 }

fn pixel(q: u32, end: u32) -> Pixel {
    let hw = p.h * p.w;
    let qc = min(q, p.n * hw - 1u);
    let n = qc / hw;
    let r = qc - n * hw;
    return Pixel(q < end, n * p.cin * hw, n * p.cout * hw, i32(r / p.w), i32(r % p.w), r);
}

// x for column `col` (offset c * hw, tap shift dy, dx) at pixel `px` (0 for padding).
fn x_at(px: Pixel, col_live: bool, c_off: u32, dy: i32, dx: i32) -> f32 {
    let hh = px.h + dy;
    let ww = px.w + dx;
    if (!px.live || !col_live || hh < 0 || hh >= i32(p.h) || ww < 0 || ww >= i32(p.w)) {
        return 0.0;
    }
    return x[px.xn + c_off + u32(hh) * p.w + u32(ww)];
}

fn gy_at(px: Pixel, o_live: bool, o_off: u32) -> f32 {
    if (!px.live || !o_live) {
        return 0.0;
    }
    return gy[px.gn + o_off + px.r];
}

@compute @workgroup_size(256)
fn wgrad_gemm8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let kk = p.k * p.k;
    let ncol = p.cin * kk;
    let pad = i32(p.k / 2u);
    let col_tile = wid.x * BN;
    let o_tile = wid.y * BM;
    let begin = wid.z * p.chunk;
    let end = min(begin + p.chunk, p.n * hw);

    // Both loaders take pixel lid % 4 of the stage; gy: output channels lid / 4 and lid / 4 + 64;
    // x: columns lid / 4 and lid / 4 + 64.
    let kr = lid % BK;
    let lo = lid / BK;
    let oa_live = o_tile + lo < p.cout;
    let ob_live = o_tile + lo + 64u < p.cout;
    let oa_off = min(o_tile + lo, p.cout - 1u) * hw;
    let ob_off = min(o_tile + lo + 64u, p.cout - 1u) * hw;
    var col_live: array<bool, 2>;
    var c_off: array<u32, 2>;
    var dy: array<i32, 2>;
    var dx: array<i32, 2>;
    for (var j = 0u; j < 2u; j = j + 1u) {
        let col = col_tile + lo + 64u * j;
        col_live[j] = col < ncol;
        let cc = min(col, ncol - 1u);
        let c = cc / kk;
        let tap = cc - c * kk;
        c_off[j] = c * hw;
        dy[j] = i32(tap / p.k) - pad;
        dx[j] = i32(tap % p.k) - pad;
    }

    // stage 0
    var px = pixel(begin + kr, end);
    var gv = vec2<f32>(gy_at(px, oa_live, oa_off), gy_at(px, ob_live, ob_off));
    var xv = vec2<f32>(x_at(px, col_live[0], c_off[0], dy[0], dx[0]), x_at(px, col_live[1], c_off[1], dy[1], dx[1]));
    gs[kr * GROW + lo / 4u][lo % 4u] = gv.x;
    gs[kr * GROW + (lo + 64u) / 4u][lo % 4u] = gv.y;
    xs[kr * XROW + lo / 4u][lo % 4u] = xv.x;
    xs[kr * XROW + (lo + 64u) / 4u][lo % 4u] = xv.y;
    workgroupBarrier();

    let ty = lid / 16u; // output channels 4 ty .. and 64 + 4 ty ..
    let tx = lid % 16u; // columns 4 tx .. and 64 + 4 tx ..
    // c{i}{a,b}: output channel i of the thread's 8 (i < 4: 4 ty + i, else 64 + 4 ty + i - 4),
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
            gv = vec2<f32>(gy_at(px, oa_live, oa_off), gy_at(px, ob_live, ob_off));
            xv = vec2<f32>(x_at(px, col_live[0], c_off[0], dy[0], dx[0]), x_at(px, col_live[1], c_off[1], dy[1], dx[1]));
        }
        let gbase = cur * BK * GROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var r = 0u; r < BK; r = r + 1u) {
            let a0 = gs[gbase + r * GROW];
            let a1 = gs[gbase + r * GROW + 16u];
            let v0 = xs[xbase + r * XROW];
            let v1 = xs[xbase + r * XROW + 16u];
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
            let o = (1u - cur) * BK + kr;
            gs[o * GROW + lo / 4u][lo % 4u] = gv.x;
            gs[o * GROW + (lo + 64u) / 4u][lo % 4u] = gv.y;
            xs[o * XROW + lo / 4u][lo % 4u] = xv.x;
            xs[o * XROW + (lo + 64u) / 4u][lo % 4u] = xv.y;
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 16>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b, c6a, c6b, c7a, c7b);
    let out = wid.z * p.cout * ncol;
    for (var i = 0u; i < 8u; i = i + 1u) {
        let o = o_tile + 64u * (i / 4u) + 4u * ty + i % 4u;
        if (o >= p.cout) {
            continue;
        }
        for (var half = 0u; half < 2u; half = half + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                let col = col_tile + 64u * half + 4u * tx + j;
                if (col < ncol) {
                    part[out + o * ncol + col] = acc[2u * i + half][j];
                }
            }
        }
    }
}

