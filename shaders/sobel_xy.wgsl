// Both Sobel filters of every channel in one dispatch (the OFF block reads both), and the
// gradient of the pair in one: shaped for CPU adapters, where every lane-varying load is 8
// bounds-checked scalar loads (sobel.wgsl: 6 loads per output). A thread owns 4 consecutive
// pixels of a row: 3 rows of 3 vec4 loads (the vec4 and its neighbours, for the halo) give 4
// outputs of each filter. Zero padding 1, cross-correlation, W a multiple of 4.
// sobel_x = [[-1,0,1],[-2,0,2],[-1,0,1]], sobel_y = [[-1,-2,-1],[0,0,0],[1,2,1]].
// binding 0: params { n: N*C*H*W/4 threads, h, w4: W/4, c: C }
// forward:  binding 1: x [N,C,H,W] (read)   binding 2: y [N,2C,H,W] (write; channels 0..C
//           sobel_x, C..2C sobel_y of each item)
// backward: binding 1: gy [N,2C,H,W] (read) binding 2: gx [N,C,H,W] (write):
//           gx = -(sobel_x(gy_x) + sobel_y(gy_y)) (the flipped filters are the negated ones)
// Grid: one thread per vec4 of x, 256 a workgroup, 1-D folded into x/y.
struct Params { n: u32, h: u32, w4: u32, c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

// One row's 6 values around a thread's 4 pixels: `l` = (c-1, c, c+1, c+2) and `r` =
// (c+1 .. c+4) for the pixels c .. c+3; `m` the 4 pixels (zero outside the map).
struct Row { l: vec4<f32>, m: vec4<f32>, r: vec4<f32> }

fn row(map: u32, r: i32, q: u32) -> Row {
    if (r < 0 || r >= i32(p.h)) {
        return Row(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    }
    let base = (map * p.h + u32(r)) * p.w4;
    let m = src[base + q];
    var left = 0.0;
    var right = 0.0;
    if (q > 0u) { left = src[base + q - 1u].w; }
    if (q + 1u < p.w4) { right = src[base + q + 1u].x; }
    return Row(vec4<f32>(left, m.xyz), m, vec4<f32>(m.yzw, right));
}

// the filters at 4 pixels, written as sobel.wgsl sums them (same rounding)
fn sx(t: Row, m: Row, b: Row) -> vec4<f32> {
    return (t.r - t.l) + 2.0 * (m.r - m.l) + (b.r - b.l);
}
fn sy(t: Row, b: Row) -> vec4<f32> {
    return (b.l - t.l) + 2.0 * (b.m - t.m) + (b.r - t.r);
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let per_map = p.h * p.w4;
    let map = i / per_map;
    let rem = i - map * per_map;
    let r = i32(rem / p.w4);
    let q = rem % p.w4;
    let t = row(map, r - 1, q);
    let m = row(map, r, q);
    let b = row(map, r + 1, q);
    // map = item * c + ch: y's sobel_x map is item * 2c + ch, its sobel_y map c further
    let item = map / p.c;
    let ymap = map + item * p.c;
    dst[ymap * per_map + rem] = sx(t, m, b);
    dst[(ymap + p.c) * per_map + rem] = sy(t, b);
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= p.n) { return; }
    let per_map = p.h * p.w4;
    let map = i / per_map;
    let rem = i - map * per_map;
    let r = i32(rem / p.w4);
    let q = rem % p.w4;
    let item = map / p.c;
    let gmap = map + item * p.c;
    let vx = sx(row(gmap, r - 1, q), row(gmap, r, q), row(gmap, r + 1, q));
    let gy = gmap + p.c;
    let vy = sy(row(gy, r - 1, q), row(gy, r + 1, q));
    dst[i] = -vx - vy;
}
