// Channel concat of up to 7 segments in one dispatch, each segment optionally a batch gather of
// its source (the model's "frames t of every clip"), and its backward in one dispatch, instead of
// one strided copy per input (plus one per gather) of concat.wgsl: on a CPU adapter each
// dispatch costs ~0.05 ms before any work, and the model's concats are small.
//
// Segment s reads source binding s (a tensor may be bound to several segments) as
// [items_src, c_s, inner] and fills output channels c0_s .. c0_s + c_s of y [items, c_out, inner];
// output item n reads source item (n / g) * per_group + start + n % g (identity: g = 1,
// per_group = 1, start = 0). Every c_s * inner is a multiple of 4: threads move vec4s.
// The backward is gather_concat_backward.wgsl (its bindings are written, these are read).
// binding 0: params   bindings 1-7: the sources of segments 0-6 (read)   binding 8: y (write)
// Grid: x = vec4 within an item's part (256 a workgroup), y = output item, z = segment: no
// division for the position, and the segment is the same for a whole workgroup.
struct Params {
    // vec4s of one output item
    out_block: u32,
    segs: u32,
    _p0: u32,
    _p1: u32,
    // per segment: (first vec4 in an output item, vec4s of one item of the segment, g, per_group)
    seg: array<vec4<u32>, 7>,
    // per segment: (start, 0, 0, 0)
    seg2: array<vec4<u32>, 7>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> s0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> s1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> s2: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> s3: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> s4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> s5: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> s6: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> y: array<vec4<f32>>;

// vec4 j of segment s's source
fn load_src(s: u32, j: u32) -> vec4<f32> {
    switch s {
        case 0u: { return s0[j]; }
        case 1u: { return s1[j]; }
        case 2u: { return s2[j]; }
        case 3u: { return s3[j]; }
        case 4u: { return s4[j]; }
        case 5u: { return s5[j]; }
        default: { return s6[j]; }
    }
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.z;
    if (s >= p.segs) {
        return;
    }
    let a = p.seg[s];
    let r = gid.x;
    if (r >= a.y) {
        return;
    }
    let n = gid.y;
    let src_item = (n / a.z) * a.w + p.seg2[s].x + n % a.z;
    y[n * p.out_block + a.x + r] = load_src(s, src_item * a.y + r);
}
