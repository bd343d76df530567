// Shared by conv2d_weight_grad_gemm and conv2d_weight_grad_gemm8 (appended by `shader!`,
// src/ops/conv/mod.rs): the split-K weight gradient's parameters, its bindings 0-3 and its
// loaders (a stage's pixel, x at a column's tap, gy at an output channel). Declares `Params`, `p`,
// `x`, `gy`, `part`, `Pixel`, `pixel`, `x_at` and `gy_at`, so an including file declares none of
// them (conv2d_weight_grad_gemm.wgsl adds binding 4, `gw`); the bindings are described in
// conv2d_weight_grad_gemm.wgsl's header.
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, chunk: u32, slices: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

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
