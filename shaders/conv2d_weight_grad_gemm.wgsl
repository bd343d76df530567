// Weight gradient of the 2-D convolution (stride 1, zero padding k/2, odd k) as a tiled GEMM with
// split K, a GPU variant of conv2d_weight_grad.wgsl:
//   gw[o, c, ky, kx] = sum_{n, h, w} gy[n, o, h, w] * x[n, c, h + ky - k/2, w + kx - k/2]
// GEMM view: M = cout, N = cin * k * k (a column is (c, tap)), K = N * H * W pixels. K is long and
// M x N small, so K is split into `slices` ranges of `chunk` pixels, one per workgroup z:
// `wgrad_gemm` writes each slice's sums to part[z], and `wgrad_finish` adds the slices in order
// (deterministic; with one slice part is gw and no finish runs).
// The tile is the forward's (conv2d_forward_gemm.wgsl): 64 output channels x 128 columns per
// 256-thread workgroup, 4 x 8 per thread, stages of 8 pixels double-buffered in padded shared rows.
// binding 0: params { n, cin, cout, h, w, k, chunk, slices }
// binding 1: x [N, cin, H, W]   binding 2: gy [N, cout, H, W]
// binding 3: part [slices, cout, cin * k * k] (wgrad_gemm writes, wgrad_finish reads)
// binding 4: gw [cout, cin, k, k] (wgrad_finish writes)
// Grid: wgrad_gemm x = ceil(cin * k * k / 128), y = ceil(cout / 64), z = slices; wgrad_finish 256
// threads a workgroup over cout * cin * k * k values, folded into x/y (i = gid.x + gid.y * nwg.x * 256).
// Params, p, the bindings x, gy, part and the loaders Pixel, pixel, x_at, gy_at:
// conv_wgrad_gemm_common.wgsl (appended by `shader!`).
@group(0) @binding(4) var<storage, read_write> gw: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 128u;
const BK: u32 = 8u;
const GROW: u32 = 17u;
const XROW: u32 = 33u;
// gs[(stage * 8 + kr) * 17 + g]: output channels 4g..4g+3 at pixel kr of the stage;
// xs[(stage * 8 + kr) * 33 + g]: columns 4g..4g+3.
var<workgroup> gs: array<vec4<f32>, 272>;
var<workgroup> xs: array<vec4<f32>, 528>;

@compute @workgroup_size(256)
fn wgrad_gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let hw = p.h * p.w;
    let kk = p.k * p.k;
    let ncol = p.cin * kk;
    let pad = i32(p.k / 2u);
    let col_tile = wid.x * BN;
    let o_tile = wid.y * BM;
    let begin = wid.z * p.chunk;
    let end = min(begin + p.chunk, p.n * hw);

    // Both loaders take pixel lid % 8 of the stage; gy: output channels lid / 8 and lid / 8 + 32;
    // x: columns lid / 8 + 32 j (j < 4).
    let kr = lid % BK;
    let lo = lid / BK;
    let oa_live = o_tile + lo < p.cout;
    let ob_live = o_tile + lo + 32u < p.cout;
    let oa_off = min(o_tile + lo, p.cout - 1u) * hw;
    let ob_off = min(o_tile + lo + 32u, p.cout - 1u) * hw;
    var col_live: array<bool, 4>;
    var c_off: array<u32, 4>;
    var dy: array<i32, 4>;
    var dx: array<i32, 4>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        let col = col_tile + lo + 32u * j;
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
    var xv: vec4<f32>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        xv[j] = x_at(px, col_live[j], c_off[j], dy[j], dx[j]);
    }
    gs[kr * GROW + lo / 4u][lo % 4u] = gv.x;
    gs[kr * GROW + (lo + 32u) / 4u][lo % 4u] = gv.y;
    for (var j = 0u; j < 4u; j = j + 1u) {
        xs[kr * XROW + (lo + 32u * j) / 4u][lo % 4u] = xv[j];
    }
    workgroupBarrier();

    let ty = lid / 16u; // output channels 4 ty ..
    let tx = lid % 16u; // columns 4 tx .. and 64 + 4 tx ..
    var c0a = vec4<f32>(0.0);
    var c0b = vec4<f32>(0.0);
    var c1a = vec4<f32>(0.0);
    var c1b = vec4<f32>(0.0);
    var c2a = vec4<f32>(0.0);
    var c2b = vec4<f32>(0.0);
    var c3a = vec4<f32>(0.0);
    var c3b = vec4<f32>(0.0);
    let steps = (p.chunk + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let cur = s & 1u;
        let next = s + 1u < steps;
        if (next) {
            px = pixel(begin + (s + 1u) * BK + kr, end);
            gv = vec2<f32>(gy_at(px, oa_live, oa_off), gy_at(px, ob_live, ob_off));
            for (var j = 0u; j < 4u; j = j + 1u) {
                xv[j] = x_at(px, col_live[j], c_off[j], dy[j], dx[j]);
            }
        }
        let gbase = cur * BK * GROW + ty;
        let xbase = cur * BK * XROW + tx;
        for (var r = 0u; r < BK; r = r + 1u) {
            let a = gs[gbase + r * GROW];
            let v0 = xs[xbase + r * XROW];
            let v1 = xs[xbase + r * XROW + 16u];
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
            let o = (1u - cur) * BK + kr;
            gs[o * GROW + lo / 4u][lo % 4u] = gv.x;
            gs[o * GROW + (lo + 32u) / 4u][lo % 4u] = gv.y;
            for (var j = 0u; j < 4u; j = j + 1u) {
                xs[o * XROW + (lo + 32u * j) / 4u][lo % 4u] = xv[j];
            }
        }
        workgroupBarrier();
    }

    var acc = array<vec4<f32>, 8>(c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b);
    let out = wid.z * p.cout * ncol;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let o = o_tile + 4u * ty + i;
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

@compute @workgroup_size(256)
fn wgrad_finish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let len = p.cout * p.cin * p.k * p.k;
    if (i >= len) {
        return;
    }
    var s = 0.0;
    for (var z = 0u; z < p.slices; z = z + 1u) {
        s = s + part[z * len + i];
    }
    gw[i] = s;
}
