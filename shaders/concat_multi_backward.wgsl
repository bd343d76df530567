// Backward of concat_multi.wgsl (see there for the segments): the gradient of each distinct
// source in one dispatch, every element written (zeros where no segment reads it), summed over
// the segments that read it, so a source read twice needs no separate gradient add.
// binding 0: params (concat_multi.wgsl's)   binding 1: gy (read)
// bindings 2-8: gradients of sources 0-6 (write; unused ones get a scratch tensor)
// Grid: x folded 1-D over vec4s (i = gid.x + gid.y * nwg.x * 256), z = source.
struct Params {
    inner: u32,
    c_out: u32,
    segs: u32,
    _p0: u32,
    // per segment: (c0, c, g, per_group)
    seg: array<vec4<u32>, 7>,
    // per segment: (start, source index (backward), vec4s of the segment's output, of its source)
    seg2: array<vec4<u32>, 7>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gy: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> g0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> g1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> g2: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> g3: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> g4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> g5: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> g6: array<vec4<f32>>;

// writes vec4 j of source k's gradient
fn store_grad(k: u32, j: u32, v: vec4<f32>) {
    switch k {
        case 0u: { g0[j] = v; }
        case 1u: { g1[j] = v; }
        case 2u: { g2[j] = v; }
        case 3u: { g3[j] = v; }
        case 4u: { g4[j] = v; }
        case 5u: { g5[j] = v; }
        default: { g6[j] = v; }
    }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let k = gid.z;
    let i = gid.x + gid.y * nwg.x * 256u;
    var acc = vec4<f32>(0.0);
    var inside = false;
    for (var s = 0u; s < p.segs; s++) {
        let a = p.seg[s];
        let b = p.seg2[s];
        if (b.y != k || i >= b.w) {
            continue;
        }
        inside = true;
        let block = a.y * p.inner / 4u;
        let m = i / block;
        let r = i - m * block;
        // source item m = group * per_group + start + t is read by output item group * g + t
        let group = m / a.w;
        let within = m - group * a.w;
        if (within >= b.x && within - b.x < a.z) {
            let n = group * a.z + within - b.x;
            acc += gy[(n * p.c_out + a.x) * p.inner / 4u + r];
        }
    }
    if (inside) {
        store_grad(k, i, acc);
    }
}
