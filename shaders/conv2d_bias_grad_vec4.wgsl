// Bias gradient of the 2-D convolution for small gradients on CPU adapters: gb[o] = sum over n,
// h, w of gy[n, o, h, w], one thread per output channel summing vec4s in order. The general
// kernel (conv2d_bias_grad.wgsl) reduces in a 256-thread workgroup over 9 barriers, and each
// barrier on llvmpipe switches all 32 of a workgroup's 8-lane coroutines: for the ConvGRU's
// 8 x 8 maps that took longer than the sums.
// binding 0: params { n, cout, hw: H * W (a multiple of 4), _ }
// binding 1: gy [N, cout, H, W] (read)   binding 2: gb [cout] (write)
// Grid: one thread per output channel, 64 a workgroup.
struct Params { n: u32, cout: u32, hw: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> gb: array<f32>;

@compute @workgroup_size(64)
fn bias_grad4(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = gid.x;
    if (o >= p.cout) { return; }
    let hw4 = p.hw / 4u;
    var s = vec4<f32>(0.0);
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.cout + o) * hw4;
        for (var q = 0u; q < hw4; q = q + 1u) { s = s + gy[base + q]; }
    }
    gb[o] = (s.x + s.y) + (s.z + s.w);
}
