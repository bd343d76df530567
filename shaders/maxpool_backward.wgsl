// Max pool 2x2 backward as a gather: each input pixel takes gy of its window when it was the max.
// Windows do not overlap, so no atomics; pixels of a dropped odd row / column get 0.
// binding 0: params { planes (N*C), h, w, oh, ow }
// binding 1: gy [planes, oh, ow] (read)   binding 2: idx [planes, oh, ow] (read, u32 from the forward)
// binding 3: gx [planes, h, w] (write)
// Grid: one thread per input pixel, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { planes: u32, h: u32, w: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.h * p.w;
    if (i < p.planes * per) {
        let plane = i / per;
        let r = i - plane * per;
        let iy = r / p.w;
        let ix = r - iy * p.w;
        let oy = iy / 2u;
        let ox = ix / 2u;
        var g = 0.0;
        if (oy < p.oh && ox < p.ow) {
            let o = plane * p.oh * p.ow + oy * p.ow + ox;
            if (idx[o] == (iy % 2u) * 2u + ix % 2u) { g = gy[o]; }
        }
        gx[i] = g;
    }
}
