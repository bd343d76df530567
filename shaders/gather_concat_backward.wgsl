// Backward of gather_concat.wgsl (see there for the segments): the gradient of each distinct
// source in one dispatch, every element written (zeros where no segment reads it), summed over
// the (at most 2) segments that read it, so a source read twice needs no separate gradient add.
// binding 0: params   binding 1: gy (read)
// bindings 2-8: gradients of sources 0-6 (write; unused ones get a scratch tensor)
// Grid: x = vec4 within a source item (256 a workgroup), y = source item, z = source: a thread
// reads only its source's two segments (a uniform load at a varying index is a per-lane load
// on llvmpipe) and finds its position without a division.
struct Params {
    // vec4s of one item of gy
    out_block: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
    // per source: (vec4s of one item, items, first vec4 of segment a in a gy item, of segment b)
    src: array<vec4<u32>, 7>,
    // per source, 16-bit pairs: (g_a | per_group_a << 16, start_a | g_b << 16,
    // per_group_b | start_b << 16, 0); g_b = 0 when one segment reads the source
    rd: array<vec4<u32>, 7>,
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

// gy's vec4 for source item m read by a segment (c0, g, per_group, start), or 0 if it does not
// read item m: source item group * per_group + start + t is output item group * g + t
fn part(m: u32, r: u32, c0: u32, g: u32, per_group: u32, start: u32) -> vec4<f32> {
    let group = m / per_group;
    let within = m - group * per_group;
    if (within < start || within - start >= g) {
        return vec4<f32>(0.0);
    }
    return gy[(group * g + within - start) * p.out_block + c0 + r];
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.z;
    if (k >= 7u) {
        return;
    }
    let a = p.src[k];
    let r = gid.x;
    let m = gid.y;
    if (r >= a.x || m >= a.y) {
        return;
    }
    let d = p.rd[k];
    var acc = part(m, r, a.z, d.x & 0xffffu, d.x >> 16u, d.y & 0xffffu);
    let g_b = d.y >> 16u;
    if (g_b > 0u) {
        acc += part(m, r, a.w, g_b, d.z & 0xffffu, d.z >> 16u);
    }
    store_grad(k, m * a.x + r, acc);
}
