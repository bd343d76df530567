// Shared by conv2d_forward_gemm, conv2d_forward_gemm8 and conv2d_forward_gemm8_f16 (appended by
// `shader!`, src/ops/conv/mod.rs): the implicit-im2col loaders of the forward GEMM kernels, K
// index kidx = c * k * k + tap. Uses `p` (fields k, cin, h, w, s_c, flip), `x` and `wt`, which
// conv_forward_params.wgsl declares (appended with it); an including file declares no `x_at` or
// `w_at` of its own.

// x at K index `kidx` for a pixel at (ph, pw) of the image starting at `base` (0 for padding).
fn x_at(kidx: u32, live: bool, base: u32, ph: i32, pw: i32) -> f32 {
    let kk = p.k * p.k;
    if (!live || kidx >= p.cin * kk) {
        return 0.0;
    }
    let c = kidx / kk;
    let tap = kidx - c * kk;
    let pad = i32(p.k / 2u);
    let hh = ph + i32(tap / p.k) - pad;
    let ww = pw + i32(tap % p.k) - pad;
    if (hh < 0 || hh >= i32(p.h) || ww < 0 || ww >= i32(p.w)) {
        return 0.0;
    }
    return x[base + c * p.h * p.w + u32(hh) * p.w + u32(ww)];
}

// W(o, kidx) for an output channel offset `w_off` = o * s_o (0 past the ends).
fn w_at(kidx: u32, live: bool, w_off: u32) -> f32 {
    let kk = p.k * p.k;
    if (!live || kidx >= p.cin * kk) {
        return 0.0;
    }
    let c = kidx / kk;
    let tap = kidx - c * kk;
    return wt[w_off + c * p.s_c + select(tap, kk - 1u - tap, p.flip == 1u)];
}
