// 2-D convolution as an implicit GEMM on cooperative matrices (tensor cores): wgpu's
// EXPERIMENTAL_COOPERATIVE_MATRIX with 16 x 16 float16 operands and float32 sums (the Vulkan
// configuration NVIDIA offers), for inference only, where the autotune's check against the
// float32 reference kernel passes at the reduced-precision tolerance (1e-2 of the largest
// output) and it is faster. Same parameters and bindings as conv2d_forward_gemm8_f16.wgsl
// (bias, ReLU epilogue, the transposed and flipped weight of the input gradient).
//
// Tiles are pipeline constants (override), so one file gives several variants: a workgroup
// computes WM x WN warp tiles of 32 channels x 32 pixels, each warp tile by one subgroup as
// 2 x 2 cooperative 16 x 16 tiles. SG is the adapter's largest subgroup and WG = WM * WN * SG,
// so a workgroup has at least WM * WN subgroups whatever size the driver picks; subgroups past
// WM * WN (smaller subgroups) repeat the last warp tile into a spare slot. Per K step of 16,
// the workgroup stages W (BM x 16) and x (16 x BN, gathered as an implicit im2col, 0 for
// padding) as float16 in workgroup memory; after the K loop each 16 x 16 tile goes through
// workgroup memory to the bounds-checked NCHW store. Cooperative operations run in uniform
// control flow only (no branch around them; the spare slot instead of a skip).
// Workgroup memory: 4,096 + 4,096 + 5,120 bytes (within WebGPU's default 16 KiB).
// Grid: x = ceil(N*H*W / (32 WN)), y = ceil(cout / (32 WM)).
enable f16;
enable wgpu_cooperative_matrix;

// Params, p and the bindings x, wt, b, y: conv_forward_params.wgsl (appended by `shader!`).

// warp tiles per workgroup along channels (at most 4) and pixels (at most 4), WM * WN <= 4
override WM: u32 = 2u;
override WN: u32 = 2u;
// invocations per workgroup: WM * WN * the adapter's largest subgroup
override WG: u32 = 128u;
const BK: u32 = 16u;

// as_[o * 16 + kk]: W(o_tile + o, k0 + kk); xs[kk * BN + q]: x at K index k0 + kk for pixel q_tile + q
var<workgroup> as_: array<f16, 2048>;
var<workgroup> xs: array<f16, 2048>;
// one 16 x 16 float32 tile per warp tile, and the spare slot
var<workgroup> cs: array<f32, 1280>;

// x at K index `kidx` for output pixel `q` (0 past the ends and for padding).
fn x_at(kidx: u32, q: u32) -> f32 {
    let kk = p.k * p.k;
    let hw = p.h * p.w;
    if (kidx >= p.cin * kk || q >= p.n * hw) {
        return 0.0;
    }
    let n = q / hw;
    let rem = q - n * hw;
    let c = kidx / kk;
    let tap = kidx - c * kk;
    let pad = i32(p.k / 2u);
    let hh = i32(rem / p.w) + i32(tap / p.k) - pad;
    let ww = i32(rem % p.w) + i32(tap % p.k) - pad;
    if (hh < 0 || hh >= i32(p.h) || ww < 0 || ww >= i32(p.w)) {
        return 0.0;
    }
    return x[(n * p.cin + c) * hw + u32(hh) * p.w + u32(ww)];
}

// W(o, kidx) (0 past the ends).
fn w_at(kidx: u32, o: u32) -> f32 {
    let kk = p.k * p.k;
    if (kidx >= p.cin * kk || o >= p.cout) {
        return 0.0;
    }
    let c = kidx / kk;
    let tap = kidx - c * kk;
    return wt[o * p.s_o + c * p.s_c + select(tap, kk - 1u - tap, p.flip == 1u)];
}

@compute @workgroup_size(WG)
fn conv2d_forward_coop(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(subgroup_id) sg: u32,
) {
    let bm = 32u * WM;
    let bn = 32u * WN;
    let tiles = WM * WN;
    let o_tile = wid.y * bm;
    let q_tile = wid.x * bn;
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let k_total = p.cin * p.k * p.k;
    // this subgroup's warp tile; `slot` is where its results go (the spare one past the last)
    let slot = min(sg, tiles);
    let tile = min(sg, tiles - 1u);
    let wm = tile / WN;
    let wn = tile % WN;

    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    let steps = (k_total + BK - 1u) / BK;
    for (var s = 0u; s < steps; s = s + 1u) {
        let k0 = s * BK;
        // consecutive threads: consecutive K of a channel's weights, consecutive pixels of x
        for (var i = lid; i < bm * BK; i = i + WG) {
            as_[i] = f16(w_at(k0 + i % BK, o_tile + i / BK));
        }
        for (var i = lid; i < BK * bn; i = i + WG) {
            xs[i] = f16(x_at(k0 + i / bn, q_tile + i % bn));
        }
        workgroupBarrier();
        let a0 = coopLoadT<coop_mat16x16<f16, A>>(&as_[(32u * wm) * BK], BK);
        let a1 = coopLoadT<coop_mat16x16<f16, A>>(&as_[(32u * wm + 16u) * BK], BK);
        let b0 = coopLoadT<coop_mat16x16<f16, B>>(&xs[32u * wn], bn);
        let b1 = coopLoadT<coop_mat16x16<f16, B>>(&xs[32u * wn + 16u], bn);
        c00 = coopMultiplyAdd(a0, b0, c00);
        c01 = coopMultiplyAdd(a0, b1, c01);
        c10 = coopMultiplyAdd(a1, b0, c10);
        c11 = coopMultiplyAdd(a1, b1, c11);
        workgroupBarrier();
    }

    // each of the 2 x 2 tiles in turn: through workgroup memory to y, with bias and ReLU
    for (var t = 0u; t < 4u; t = t + 1u) {
        var acc = c11;
        if (t == 0u) {
            acc = c00;
        } else if (t == 1u) {
            acc = c01;
        } else if (t == 2u) {
            acc = c10;
        }
        coopStoreT(acc, &cs[slot * 256u], 16u);
        workgroupBarrier();
        for (var e = lid; e < tiles * 256u; e = e + WG) {
            let st = e / 256u;
            let r = (e % 256u) / 16u;
            let c = e % 16u;
            let o = o_tile + 32u * (st / WN) + 16u * (t / 2u) + r;
            let q = q_tile + 32u * (st % WN) + 16u * (t % 2u) + c;
            if (o < p.cout && q < pixels) {
                var v = cs[e] + select(0.0, b[o], p.has_bias == 1u);
                if (p.relu == 1u) {
                    v = max(v, 0.0);
                }
                let n = q / hw;
                y[(n * p.cout + o) * hw + (q - n * hw)] = v;
            }
        }
        workgroupBarrier();
    }
}
