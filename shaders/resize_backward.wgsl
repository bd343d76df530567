// Bilinear resize backward as a gather: each input pixel sums gy times its weight over the output
// pixels whose taps touch it (no atomics). Weights are those of resize_forward.wgsl.
// binding 0: params { planes (N*C), ih, iw, oh, ow }
// binding 1: gy [planes, oh, ow] (read)   binding 2: gx [planes, ih, iw] (write)
// Grid: one thread per input pixel, 1-D folded into x/y; i = gid.x + gid.y * nwg.x * 256.
struct Params { planes: u32, ih: u32, iw: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;

// Weight of input index i in output coordinate o (0 when o's two taps miss i).
fn weight(o: u32, i: u32, n_in: u32, n_out: u32) -> f32 {
    let src = max((f32(o) + 0.5) * (f32(n_in) / f32(n_out)) - 0.5, 0.0);
    let i0 = min(u32(floor(src)), n_in - 1u);
    let i1 = min(i0 + 1u, n_in - 1u);
    let l1 = src - f32(i0);
    return select(0.0, 1.0 - l1, i0 == i) + select(0.0, l1, i1 == i);
}

// Output range [lo, hi] that can touch input index i: src in [i - 1, i + 1], one spare each side.
fn out_range(i: u32, n_in: u32, n_out: u32) -> vec2<u32> {
    let inv = f32(n_out) / f32(n_in);
    let lo = i32(floor((f32(i) - 0.5) * inv - 0.5)) - 1;
    let hi = i32(ceil((f32(i) + 1.5) * inv - 0.5)) + 1;
    return vec2<u32>(u32(max(lo, 0)), u32(clamp(hi, 0, i32(n_out) - 1)));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.ih * p.iw;
    if (i < p.planes * per) {
        let plane = i / per;
        let r = i - plane * per;
        let iy = r / p.iw;
        let ix = r - iy * p.iw;
        let ry = out_range(iy, p.ih, p.oh);
        let rx = out_range(ix, p.iw, p.ow);
        let base = plane * p.oh * p.ow;
        var s = 0.0;
        for (var oy = ry.x; oy <= ry.y; oy = oy + 1u) {
            let wy = weight(oy, iy, p.ih, p.oh);
            if (wy != 0.0) {
                var row = 0.0;
                for (var ox = rx.x; ox <= rx.y; ox = ox + 1u) {
                    row = row + weight(ox, ix, p.iw, p.ow) * gy[base + oy * p.ow + ox];
                }
                s = s + wy * row;
            }
        }
        gx[i] = s;
    }
}

// Downsampling by even integer factors fy = ih / oh, fx = iw / ow (the model's multi-scale
// concat: 2x and 4x): output o's two taps are input o * f + f / 2 - 1 and o * f + f / 2, each
// with weight 0.5 exactly, so an input pixel has at most one output per axis and the gather is
// one load, where `main` evaluates ~3 x 3 candidate weights. Same products as `main` (0.5 * (0.5
// * gy)), so the same values. Grid as `main`.
@compute @workgroup_size(256)
fn down_even(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    let per = p.ih * p.iw;
    if (i >= p.planes * per) { return; }
    let plane = i / per;
    let r = i - plane * per;
    let iy = r / p.iw;
    let ix = r - iy * p.iw;
    let fy = p.ih / p.oh;
    let fx = p.iw / p.ow;
    let ty = iy % fy;
    let tx = ix % fx;
    var s = 0.0;
    // the taps of an output are the two middle pixels of its window
    if ((ty == fy / 2u - 1u || ty == fy / 2u) && (tx == fx / 2u - 1u || tx == fx / 2u)) {
        s = 0.5 * (0.5 * gy[(plane * p.oh + iy / fy) * p.ow + ix / fx]);
    }
    gx[i] = s;
}
