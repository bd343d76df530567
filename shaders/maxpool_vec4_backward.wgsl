// Backward of maxpool_vec4.wgsl (W a multiple of 4, CPU adapters) as a gather, like
// maxpool_backward.wgsl: each input pixel takes gy of its window when it was the max (windows do
// not overlap, no atomics). A thread owns two windows side by side: 2 vec2 loads (gy, idx) for 8
// input pixels (2 rows of a vec4), where the scalar kernel loads 2 values per pixel.
// binding 0: params { planes (N*C), h, w4: W/4, oh }
// binding 1: gy [planes, oh, w/2] (read)   binding 2: idx [planes, oh, w/2] (read, u32)
// binding 3: gx [planes, h, w] (write; 0 off the maxima and on the dropped row of an odd h)
// Grid: one thread per (plane, row pair, 4 columns) over ceil(h / 2) row pairs, 1-D folded
// into x/y; the last pair of an odd h is its dropped row alone.
struct Params { planes: u32, h: u32, w4: u32, oh: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> idx: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> gx: array<vec4<f32>>;

@compute @workgroup_size(256)
fn backward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let pairs = (p.h + 1u) / 2u;
    let per = pairs * p.w4;
    if (i >= p.planes * per) { return; }
    let plane = i / per;
    let r = i - plane * per;
    let oy = r / p.w4;
    let q = r - oy * p.w4;
    let row = (plane * p.h + 2u * oy) * p.w4 + q;
    if (oy >= p.oh) {
        gx[row] = vec4<f32>(0.0); // the dropped last row of an odd h
        return;
    }
    let o = (plane * p.oh + oy) * p.w4 + q;
    let g = gy[o];
    let k = idx[o];
    // window position k: dy = k / 2, dx = k % 2; the left window's columns are .x .y
    let top = vec4<f32>(select(0.0, g.x, k.x == 0u), select(0.0, g.x, k.x == 1u),
                        select(0.0, g.y, k.y == 0u), select(0.0, g.y, k.y == 1u));
    let bot = vec4<f32>(select(0.0, g.x, k.x == 2u), select(0.0, g.x, k.x == 3u),
                        select(0.0, g.y, k.y == 2u), select(0.0, g.y, k.y == 3u));
    gx[row] = top;
    gx[row + p.w4] = bot;
}
