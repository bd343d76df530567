// Max pool 2x2, stride 2, floor (an odd last row / column is dropped).
// Ties: the first maximum in row-major window order wins (strict >).
// binding 0: params { planes (N*C), h, w, oh, ow }
// binding 1: x [planes, h, w] (read)   binding 2: y [planes, oh, ow] (write)
// binding 3: idx [planes, oh, ow] (write, u32): window position of the max, dy * 2 + dx
// Grid: one thread per output, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.oh * p.ow;
    if (i < p.planes * per) {
        let plane = i / per;
        let r = i - plane * per;
        let oy = r / p.ow;
        let ox = r - oy * p.ow;
        let base = plane * p.h * p.w + 2u * oy * p.w + 2u * ox;
        let v = array<f32, 4>(x[base], x[base + 1u], x[base + p.w], x[base + p.w + 1u]);
        var best = v[0];
        var k = 0u;
        for (var j = 1u; j < 4u; j = j + 1u) {
            if (v[j] > best) { best = v[j]; k = j; }
        }
        y[i] = best;
        idx[i] = k;
    }
}
