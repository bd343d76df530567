// Depthwise 3x3 Sobel per channel, zero padding 1, cross-correlation (PyTorch conv2d semantics).
// sobel_x = [[-1,0,1],[-2,0,2],[-1,0,1]], sobel_y = [[-1,-2,-1],[0,0,0],[1,2,1]].
// The backward is the same kernel with s = -1: both filters flipped in both axes are their negatives.
// binding 0: params { n: N*C*H*W, h, w, dir: 0 = x / 1 = y, s: scale, _ }
// binding 1: x [N,C,H,W] (read)    binding 2: y [N,C,H,W] (write)
// Grid: one thread per element, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, h: u32, w: u32, dir: u32, s: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// x at (row, col) of the map starting at `base`, 0 outside (zero padding)
fn at(base: u32, row: i32, col: i32) -> f32 {
    if (row < 0 || col < 0 || row >= i32(p.h) || col >= i32(p.w)) { return 0.0; }
    return x[base + u32(row) * p.w + u32(col)];
}

@compute @workgroup_size(256)
fn sobel(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let hw = p.h * p.w;
    let base = (i / hw) * hw;
    let r = i32((i % hw) / p.w);
    let c = i32(i % p.w);
    var v = 0.0;
    if (p.dir == 0u) {
        v = (at(base, r - 1, c + 1) - at(base, r - 1, c - 1))
          + 2.0 * (at(base, r, c + 1) - at(base, r, c - 1))
          + (at(base, r + 1, c + 1) - at(base, r + 1, c - 1));
    } else {
        v = (at(base, r + 1, c - 1) - at(base, r - 1, c - 1))
          + 2.0 * (at(base, r + 1, c) - at(base, r - 1, c))
          + (at(base, r + 1, c + 1) - at(base, r - 1, c + 1));
    }
    y[i] = p.s * v;
}
