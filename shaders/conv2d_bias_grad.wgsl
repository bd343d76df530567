// Bias gradient of the 2-D convolution: gb[o] = sum_{n, h, w} gy[n, o, h, w].
// binding 0: params { n, cout, hw, _ }
// binding 1: gy [N, cout, H, W] (read)   binding 2: gb [cout] (write)
// Grid: one workgroup of 256 threads per output channel, then a tree reduction.
struct Params { n: u32, cout: u32, hw: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gb: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn conv2d_bias_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = wid.x;
    let t = lid.x;
    var s = 0.0;
    if (o < p.cout) {
        for (var n = 0u; n < p.n; n = n + 1u) {
            let base = (n * p.cout + o) * p.hw;
            for (var q = t; q < p.hw; q = q + 256u) { s = s + gy[base + q]; }
        }
    }
    red[t] = s;
    // Every thread reaches every barrier (no early return).
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if (t < stride) { red[t] = red[t] + red[t + stride]; }
    }
    workgroupBarrier();
    if (t == 0u && o < p.cout) { gb[o] = red[0]; }
}
