// Bilinear resize, align_corners=False, half-pixel centres, no antialias (PyTorch F.interpolate):
// src = max((o + 0.5) * in / out - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1), l1 = src - i0.
// binding 0: params { planes (N*C), ih, iw, oh, ow }
// binding 1: x [planes, ih, iw] (read)   binding 2: y [planes, oh, ow] (write)
// Grid: one thread per output, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { planes: u32, ih: u32, iw: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// (i0, i1, l1) of output coordinate o along an axis of size n_in -> n_out.
fn taps(o: u32, n_in: u32, n_out: u32) -> vec3<f32> {
    let src = max((f32(o) + 0.5) * (f32(n_in) / f32(n_out)) - 0.5, 0.0);
    let i0 = min(u32(floor(src)), n_in - 1u);
    let i1 = min(i0 + 1u, n_in - 1u);
    return vec3<f32>(f32(i0), f32(i1), src - f32(i0));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.oh * p.ow;
    if (i < p.planes * per) {
        let plane = i / per;
        let r = i - plane * per;
        let oy = r / p.ow;
        let ox = r - oy * p.ow;
        let ty = taps(oy, p.ih, p.oh);
        let tx = taps(ox, p.iw, p.ow);
        let base = plane * p.ih * p.iw;
        let r0 = base + u32(ty.x) * p.iw;
        let r1 = base + u32(ty.y) * p.iw;
        let c0 = u32(tx.x);
        let c1 = u32(tx.y);
        let top = (1.0 - tx.z) * x[r0 + c0] + tx.z * x[r0 + c1];
        let bottom = (1.0 - tx.z) * x[r1 + c0] + tx.z * x[r1 + c1];
        y[i] = (1.0 - ty.z) * top + ty.z * bottom;
    }
}
