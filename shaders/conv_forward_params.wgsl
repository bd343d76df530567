// Shared by the forward / input-gradient conv kernels (appended by `shader!`, src/ops/conv/mod.rs):
// conv2d_forward, conv2d_forward_tiled, conv2d_forward_gemm, conv2d_forward_gemm8,
// conv2d_forward_gemm8_f16 and conv2d_forward_coop (conv2d_forward_rows binds vec4 views instead).
// Declares `Params`, `p`, `x`, `wt`, `b` and `y`, so an including file declares none of them; the
// fields and bindings are described in conv2d_forward.wgsl's header (relu: the GEMM kernels'
// epilogue, which the others ignore).
struct Params { n: u32, cin: u32, cout: u32, h: u32, w: u32, k: u32, s_o: u32, s_c: u32, flip: u32, has_bias: u32, relu: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
